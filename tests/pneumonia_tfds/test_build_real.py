"""End-to-end builds of pneumonia_xray over the real shared data.

Each config is built at most once per session (gray_204 twice, to check that
a rebuild is identical); the tests read the build report and the examples.
"""

import collections
import csv
import dataclasses
import io
import json
import os
import pathlib
import re
import subprocess

import numpy as np
import pandas as pd
import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import report
from tests import conftest

IEEE8023_CSV = "covid-chestxray-dataset/metadata.csv"
CORONAHACK_CSV = "coronahack/Chest_xray_Corona_Metadata.csv"
CORONAHACK_IMAGES = ("coronahack/Coronahack-Chest-XRay-Dataset/"
                     "Coronahack-Chest-XRay-Dataset")
# Folders whose every file the report must account for.
SOURCE_FOLDERS = ("chest_xray", "covid-chestxray-dataset/images",
                  f"{CORONAHACK_IMAGES}/train", f"{CORONAHACK_IMAGES}/test")
# 286 Kermany + 146 ieee8023 files, less the identical person128_bacteria
# 606/607 pair; the CoronaHack files are all copies of these.
DISTINCT_IMAGES = 286 + 146 - 1
LATERAL_IMAGES = 20


@dataclasses.dataclass
class Build:
  builder: object
  directory: pathlib.Path
  report_text: str
  report_rows: list
  summary: dict
  examples: dict  # split -> list of example dicts (image left encoded).


def _read_examples(builder):
  import tensorflow_datasets as tfds  # Deferred: heavy, and only needed here.

  examples = {}
  for split in builder.info.splits:
    dataset = builder.as_dataset(
        split=split, shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()})
    examples[split] = [
        {name: value if name == "image" else _to_text(value)
         for name, value in example.items()}
        for example in tfds.as_numpy(dataset)]
  return examples


def _to_text(value):
  """Text features come back as bytes or arrays of bytes; ints stay ints."""
  if isinstance(value, bytes):
    return value.decode()
  if isinstance(value, np.ndarray) and value.dtype == object:
    return [item.decode() for item in value]
  return value


def _build(shared_data, tmp_path_factory, config):
  name = config if isinstance(config, str) else config.name
  data_dir = tmp_path_factory.mktemp(f"build_{name}")
  if isinstance(config, str):
    builder = conftest.build(shared_data, data_dir, config)
  else:
    import tensorflow_datasets as tfds
    from pneumonia_tfds.datasets.pneumonia_xray import (
        pneumonia_xray_dataset_builder as builder_lib)

    builder = builder_lib.Builder(config=config, data_dir=os.fspath(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(shared_data)))
  return _build_result(builder, data_dir)


def _build_result(builder, data_dir):
  directory = pathlib.Path(builder.data_dir)
  assert directory.is_relative_to(data_dir)
  report_text = (directory / report.REPORT_CSV).read_text()
  return Build(
      builder=builder, directory=directory, report_text=report_text,
      report_rows=list(csv.DictReader(io.StringIO(report_text))),
      summary=json.loads((directory / report.SUMMARY_JSON).read_text()),
      examples=_read_examples(builder))


@pytest.fixture(scope="session")
def gray_204(shared_data, tmp_path_factory):
  return _build(shared_data, tmp_path_factory, "gray_204")


@pytest.fixture(scope="session")
def gray_204_again(shared_data, tmp_path_factory):
  return _build(shared_data, tmp_path_factory, "gray_204")


@pytest.fixture(scope="session")
def gray_204_lateral(shared_data, tmp_path_factory):
  return _build(shared_data, tmp_path_factory, "gray_204_lateral")


@pytest.fixture(scope="session")
def gray_204_source_splits(shared_data, tmp_path_factory):
  return _build(shared_data, tmp_path_factory, "gray_204_source_splits")


@pytest.fixture(scope="session")
def gray_204_without_coronahack(shared_data, tmp_path_factory):
  from pneumonia_tfds import PneumoniaXrayConfig

  config = PneumoniaXrayConfig(name="gray_204_no_coronahack",
                               sources=("kermany", "ieee8023"))
  return _build(shared_data, tmp_path_factory, config)


@pytest.fixture(scope="session")
def gray_204_beam(shared_data, tmp_path_factory):
  """gray_204 built by `tfds build` through Beam's DirectRunner, 2 processes."""
  import tensorflow_datasets as tfds

  data_dir = tmp_path_factory.mktemp("build_gray_204_beam")
  command = conftest.tfds_command(
      "build", "pneumonia_xray", "--imports", "pneumonia_tfds", "--config",
      "gray_204", "--manual_dir", os.fspath(shared_data), "--data_dir",
      os.fspath(data_dir), "--beam_pipeline_options=runner=DirectRunner,"
      "direct_num_workers=2,direct_running_mode=multi_processing")
  result = subprocess.run(command, cwd=conftest.REPO, capture_output=True,
                          text=True, env=conftest.offline_environment(),
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-5000:]
  # Beam ran it, in worker processes of its own (multi_processing mode).
  assert "Python sdk harness exiting" in result.stderr
  builder = tfds.builder("pneumonia_xray/gray_204", data_dir=os.fspath(data_dir))
  return _build_result(builder, data_dir)


@pytest.fixture(scope="module")
def ieee8023_metadata(shared_data):
  """metadata.csv rows by their report reference ("<csv>#<row>")."""
  frame = pd.read_csv(shared_data / IEEE8023_CSV, dtype=str,
                      keep_default_na=False)
  return {f"{IEEE8023_CSV}#{i + 1}": row for i, (_, row)
          in enumerate(frame.iterrows())}


def _written(build):
  return [row for row in build.report_rows if row["status"] == report.WRITTEN]


def _image_rows(build):
  """Rows of every copy of a written image, grouped by the example key, the
  written row first."""
  by_key = collections.defaultdict(list)
  for row in build.report_rows:
    if row["status"] == report.WRITTEN:
      by_key[row["key"]].insert(0, row)
    elif row["status"] == report.DUPLICATE:
      by_key[row["duplicate_of"]].append(row)
  for key, rows in by_key.items():
    assert rows[0]["status"] == report.WRITTEN, key
  return by_key


def _example_split_by_file(build):
  return {example["file_name"]: split
          for split, examples in build.examples.items() for example in examples}


# The default config.


def test_report_finds_the_coronahack_copies(gray_204):
  duplicates = collections.Counter(
      (row["source"], row["duplicate_of"].split("/")[0])
      for row in gray_204.report_rows if row["status"] == report.DUPLICATE)
  assert duplicates[("coronahack", "kermany")] == 270
  assert duplicates[("coronahack", "ieee8023")] == 14
  summary_duplicates = gray_204.summary["duplicates_per_source"]
  assert summary_duplicates["coronahack -> kermany"] == 270
  assert summary_duplicates["coronahack -> ieee8023"] == 14
  # No CoronaHack file names an example: each is a copy of a file of the
  # collection it came from.
  assert not [row for row in _written(gray_204)
              if row["source"] == "coronahack"]


def test_every_source_file_is_one_report_path(gray_204, shared_data):
  on_disk = collections.Counter()
  for folder in ("chest_xray", "covid-chestxray-dataset", "coronahack"):
    for directory, _, names in os.walk(shared_data / folder):
      for name in names:
        on_disk[(pathlib.Path(directory) / name).relative_to(
            shared_data).as_posix()] += 1
  # The metadata CSVs are accounted for by one row per data row instead.
  for csv_path in (IEEE8023_CSV, CORONAHACK_CSV):
    del on_disk[csv_path]
  assert sum(on_disk.values()) == 286 + 146 + 284 + 1
  paths = collections.Counter(row["path"] for row in gray_204.report_rows
                              if row["path"])
  assert paths == on_disk
  # CoronaHack's second CSV is outside its layout, and says so.
  [summary_row] = [row for row in gray_204.report_rows if row["path"] ==
                   "coronahack/Chest_xray_Corona_dataset_Summary.csv"]
  assert summary_row["status"] == report.SKIPPED
  assert summary_row["reason"] == "not in the source's layout"


def test_every_metadata_row_is_one_report_reference(gray_204, shared_data):
  expected = collections.Counter()
  for csv_name in (IEEE8023_CSV, CORONAHACK_CSV):
    row_count = len(pd.read_csv(shared_data / csv_name, dtype=str,
                                keep_default_na=False))
    expected.update(f"{csv_name}#{i}" for i in range(1, row_count + 1))
  assert sum(expected.values()) == 758 + 5910
  references = collections.Counter(row["metadata"]
                                   for row in gray_204.report_rows
                                   if row["metadata"])
  assert references == expected


def test_report_and_split_info_agree_on_counts(gray_204):
  written = _written(gray_204)
  assert len(written) == DISTINCT_IMAGES - LATERAL_IMAGES
  per_split = collections.Counter(row["split"] for row in written)
  assert set(per_split) == {"train", "validation", "test"}
  for split, count in per_split.items():
    assert gray_204.builder.info.splits[split].num_examples == count
    assert len(gray_204.examples[split]) == count
    assert gray_204.summary["per_split"][split] == count
  # The report and the stored examples name the same images in each split.
  assert _example_split_by_file(gray_204) == {
      row["path"]: row["split"] for row in written}


def test_no_patient_key_in_two_splits(gray_204):
  split_of_patient = collections.defaultdict(set)
  split_of_image = collections.defaultdict(set)
  for split, examples in gray_204.examples.items():
    for example in examples:
      split_of_patient[example["patient_id"]].add(split)
      split_of_image[example["sha256"]].add(split)
  assert all(example["patient_id"] for examples in gray_204.examples.values()
             for example in examples)
  leaks = {patient: found for patient, found in split_of_patient.items()
           if len(found) > 1}
  assert not leaks
  assert all(len(found) == 1 for found in split_of_image.values())


SOURCE_RANK = {"kermany": 0, "ieee8023": 1, "coronahack": 2}


def _report_patient_groups(build):
  """Example key -> its group's anchor, computed from the report alone: every
  copy's patient key counts (a CoronaHack copy names its own key for an
  ieee8023 image), keys sharing an image or a near-duplicate pair are one
  group, and the anchor is the key of the highest-priority source, then the
  smallest."""
  parent = {}

  def find(node):
    while parent.setdefault(node, node) != node:
      node = parent[node]
    return node

  def union(a, b):
    parent[find(a)] = find(b)

  for key, rows in _image_rows(build).items():
    find(key)
    for row in rows:
      if row["patient_id"]:
        union(row["patient_id"], key)
      for near in filter(None, row["near_duplicate_of"].split("; ")):
        union(near.split(" (")[0], key)
  members = collections.defaultdict(list)
  for node in list(parent):
    if ":" in node:
      members[find(node)].append(node)
  anchor = {root: min(nodes, key=lambda n: (SOURCE_RANK[n.split(":")[0]], n))
            for root, nodes in members.items()}
  return {key: anchor[find(key)] for key in _image_rows(build)}


def test_patient_groups_through_copies_stay_in_one_split(gray_204):
  split_of_key = {row["key"]: row["split"] for row in _written(gray_204)}
  splits_of_group = collections.defaultdict(set)
  for key, group in _report_patient_groups(gray_204).items():
    splits_of_group[group].add(split_of_key[key])
  assert not {group: found for group, found in splits_of_group.items()
              if len(found) > 1}
  # Copies are reported in the split of the image they copy.
  for rows in _image_rows(gray_204).values():
    assert len({row["split"] for row in rows}) == 1


def test_patient_group_feature_is_the_connected_patient_keys(gray_204):
  key_of_file = {row["path"]: row["key"] for row in _written(gray_204)}
  expected = _report_patient_groups(gray_204)
  split_of_group = collections.defaultdict(set)
  for split, examples in gray_204.examples.items():
    for example in examples:
      key = key_of_file[example["file_name"]]
      assert example["patient_group"] == expected[key], key
      split_of_group[example["patient_group"]].add(split)
  assert all(len(found) == 1 for found in split_of_group.values())
  # Real links exist, so the check above is not about singletons only: the
  # ieee8023 images CoronaHack copied join its per-file keys to ieee8023's,
  # whose key stays the anchor.
  linked = [rows for rows in _image_rows(gray_204).values()
            if len({row["patient_id"] for row in rows}) > 1]
  assert linked
  assert all(expected[rows[0]["key"]].startswith("ieee8023:")
             for rows in linked if rows[0]["source"] == "ieee8023")


def test_no_computed_tomography_and_no_lateral_example(gray_204,
                                                       ieee8023_metadata):
  views = collections.Counter(example["view"]
                              for examples in gray_204.examples.values()
                              for example in examples)
  assert set(views) <= labels.FRONTAL_VIEWS, views
  for rows in _image_rows(gray_204).values():
    for row in rows:
      if row["metadata"].startswith(IEEE8023_CSV):
        metadata_row = ieee8023_metadata[row["metadata"]]
        assert metadata_row["modality"] == "X-ray", row
        assert metadata_row["view"] in labels.FRONTAL_VIEWS, row
  excluded = [row for row in gray_204.report_rows
              if row["reason"] == "excluded view" and row["path"]]
  assert len(excluded) == LATERAL_IMAGES
  assert all(row["status"] == report.SKIPPED for row in excluded)


def test_coronahack_bacteria_files_are_labelled_pneumonia(gray_204):
  bacteria = [row for row in gray_204.report_rows
              if row["source"] == "coronahack" and
              re.match(r"person\d+_bacteria_", os.path.basename(row["path"]))]
  assert len(bacteria) == 77  # 38 train + 39 test Kermany bacteria copies.
  for row in bacteria:
    assert row["status"] == report.DUPLICATE, row
    assert (row["label"], row["pneumonia_type"]) == ("pneumonia", "bacterial")


def test_example_images_decode_to_the_stored_shape(gray_204):
  import tensorflow as tf  # Deferred: heavy, and only needed here.

  for split, examples in gray_204.examples.items():
    for example in examples[:5] + examples[-5:]:
      image = tf.io.decode_image(example["image"], expand_animations=False)
      assert image.shape == (204, 204, 1), (split, example["file_name"])
      assert image.dtype == tf.uint8
      assert int(tf.reduce_max(image)) > int(tf.reduce_min(image))
  features = gray_204.builder.info.features
  assert features["image"].shape == (204, 204, 1)
  assert features["image"].dtype == np.uint8


def test_examples_carry_every_copy(gray_204):
  rows_by_file = {rows[0]["path"]: rows
                  for rows in _image_rows(gray_204).values()}
  for examples in gray_204.examples.values():
    for example in examples:
      rows = rows_by_file[example["file_name"]]
      assert sorted(example["file_names"]) == sorted(
          row["path"] for row in rows)
      assert sorted(example["sources"]) == sorted(
          {row["source"] for row in rows})
      assert example["sha256"] == rows[0]["sha256"]
      assert labels.LABELS[example["label"]] == rows[0]["label"]


def test_a_rebuild_is_identical(gray_204, gray_204_again):
  assert gray_204.directory != gray_204_again.directory

  def membership(build):
    return {row["key"]: row["split"] for row in _written(build)}

  assert membership(gray_204) == membership(gray_204_again)
  assert gray_204.report_text == gray_204_again.report_text
  for split in ("train", "validation", "test"):
    first, second = (
        sorted((example["file_name"], example["sha256"], example["image"])
               for example in build.examples[split])
        for build in (gray_204, gray_204_again))
    assert [item[:2] for item in first] == [item[:2] for item in second]
    # The stored image bytes too, not just which file they came from.
    assert first == second


# Other configs.


def test_lateral_config_keeps_lateral_views(gray_204_lateral,
                                           ieee8023_metadata):
  views = collections.Counter(example["view"]
                              for examples in gray_204_lateral.examples.values()
                              for example in examples)
  assert views["L"] == LATERAL_IMAGES
  assert len(_written(gray_204_lateral)) == DISTINCT_IMAGES
  for rows in _image_rows(gray_204_lateral).values():
    for row in rows:
      if row["metadata"].startswith(IEEE8023_CSV):
        assert ieee8023_metadata[row["metadata"]]["modality"] == "X-ray"


def test_source_splits_config_keeps_kermany_test_in_test(
    gray_204_source_splits):
  build = gray_204_source_splits
  kermany_rows = [row for row in build.report_rows
                  if row["source"] == "kermany"]
  assert len(kermany_rows) == 286
  expected_split = {"test": "test", "val": "validation"}
  for row in kermany_rows:
    assert row["status"] in (report.WRITTEN, report.DUPLICATE), row
    source_folder = row["path"].split("/")[1]
    if source_folder in expected_split:
      assert row["split"] == expected_split[source_folder], row
    else:
      assert row["split"] in ("train", "validation"), row
  # CoronaHack's TEST folder holds Kermany test files only.
  for row in build.report_rows:
    if row["path"].startswith(f"{CORONAHACK_IMAGES}/test/"):
      assert row["split"] == "test", row
  by_file = _example_split_by_file(build)
  assert all(by_file[row["path"]] == "test" for row in kermany_rows
             if row["status"] == report.WRITTEN and
             row["path"].startswith("chest_xray/test/"))


def test_source_splits_config_carves_validation_by_patient(
    gray_204_source_splits):
  build = gray_204_source_splits
  carved = [row for row in _written(build)
            if row["path"].startswith("chest_xray/train/") and
            row["split"] == "validation"]
  assert carved  # Validation is more than Kermany's own 16 val images.
  splits_of_group = collections.defaultdict(set)
  for examples_split in ("train", "validation"):
    for example in build.examples[examples_split]:
      splits_of_group[example["patient_group"]].add(examples_split)
  assert not {group: found for group, found in splits_of_group.items()
              if len(found) > 1}


def test_source_splits_config_mixes_splits_only_where_kermany_does(
    gray_204_source_splits):
  # Documented: source mode keeps Kermany's own split, in which the same
  # personN occurs with the other type in train and test. That is the only way
  # a patient group may end up in two splits.
  members = collections.defaultdict(list)
  for split, examples in gray_204_source_splits.examples.items():
    for example in examples:
      members[example["patient_group"]].append((split, example["file_name"]))
  mixed = {group: found for group, found in members.items()
           if len({split for split, _ in found}) > 1}
  assert mixed  # The real subset has such persons (person1, person3, ...).
  for group, found in mixed.items():
    assert re.fullmatch(r"kermany:person\d+", group), group
    test_types = {re.search(r"_(bacteria|virus)_", name).group(1)
                  for split, name in found if split == "test"}
    other_types = {re.search(r"_(bacteria|virus)_", name).group(1)
                   for split, name in found if split != "test"}
    assert all(name.startswith("chest_xray/") for _, name in found), found
    assert test_types and other_types and not test_types & other_types, found


# The same build through Beam, and splits that stay put.


def _by_sha256(build):
  return {example["sha256"]: (split, example)
          for split, examples in build.examples.items() for example in examples}


def test_beam_build_equals_the_default_build(gray_204, gray_204_beam):
  assert gray_204_beam.report_text == gray_204.report_text
  assert gray_204_beam.summary == gray_204.summary
  local, beam = _by_sha256(gray_204), _by_sha256(gray_204_beam)
  assert len(local) == DISTINCT_IMAGES - 20  # Less the excluded views.
  assert beam.keys() == local.keys()
  for sha256, (split, example) in local.items():
    beam_split, beam_example = beam[sha256]
    assert beam_split == split, example["file_name"]
    # Every feature, the stored image bytes included.
    assert beam_example.keys() == example.keys()
    for name, value in example.items():
      assert np.array_equal(beam_example[name], value), (name, sha256)


def test_an_unknown_beam_runner_fails_with_beams_error(tmp_path):
  dummy = conftest.REPO / "pneumonia_tfds/datasets/pneumonia_xray/dummy_data"
  command = conftest.tfds_command(
      "build", "pneumonia_xray", "--imports", "pneumonia_tfds", "--config",
      "gray_96", "--manual_dir", os.fspath(dummy), "--data_dir",
      os.fspath(tmp_path), "--beam_pipeline_options=runner=NoSuchRunner")
  result = subprocess.run(command, cwd=conftest.REPO, capture_output=True,
                          text=True, env=conftest.offline_environment(),
                          timeout=300, check=False)
  assert result.returncode != 0
  assert "Unexpected pipeline runner: NoSuchRunner" in result.stderr
  assert not list(tmp_path.rglob("dataset_info.json"))


def _assert_common_images_keep_their_split(one, other):
  first, second = _by_sha256(one), _by_sha256(other)
  common = first.keys() & second.keys()
  assert common
  moved = {first[sha][1]["file_name"]: (first[sha][0], second[sha][0])
           for sha in common if first[sha][0] != second[sha][0]}
  assert not moved
  return common


def test_adding_coronahack_moves_no_common_image(gray_204,
                                                 gray_204_without_coronahack):
  common = _assert_common_images_keep_their_split(
      gray_204_without_coronahack, gray_204)
  # CoronaHack brings copies only, so every image is common.
  assert len(common) == len(_by_sha256(gray_204))
  assert gray_204_without_coronahack.summary["per_split"] == (
      gray_204.summary["per_split"])


def test_adding_lateral_views_moves_no_common_image(gray_204,
                                                    gray_204_lateral):
  common = _assert_common_images_keep_their_split(gray_204, gray_204_lateral)
  assert len(_by_sha256(gray_204_lateral)) == len(common) + LATERAL_IMAGES


def test_split_ratios_hold_roughly_on_the_real_build(gray_204):
  counts = gray_204.summary["per_split"]
  total = sum(counts.values())
  for split, ratio in zip(("train", "validation", "test"), (0.7, 0.15, 0.15)):
    assert abs(counts[split] / total - ratio) < 0.06, counts
