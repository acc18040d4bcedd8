"""sources.coronahack on the real coronahack/ layout and on tmp copies."""

import collections
import os
import re
import shutil

import pandas as pd
import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import records

REAL_ROWS = 5910
REAL_FILES = 284
IMAGE_FOLDER = ("coronahack/Coronahack-Chest-XRay-Dataset/"
                "Coronahack-Chest-XRay-Dataset")


@pytest.fixture(scope="module")
def metadata(shared_data):
  return pd.read_csv(shared_data / "coronahack" / coronahack.METADATA,
                     dtype=str, keep_default_na=False)


def test_real_counts(coronahack_records, shared_data):
  assert len(coronahack_records) == REAL_ROWS
  present = [r for r in coronahack_records if r.path]
  assert len(present) == REAL_FILES
  assert all(r.skip_reason is None for r in present)
  missing = [r for r in coronahack_records if not r.path]
  assert len(missing) == REAL_ROWS - REAL_FILES
  assert all(r.skip_reason == records.MISSING_FILE for r in missing)
  # Every file on disk is named by its row: no stray "no metadata row" record.
  on_disk = {f"{IMAGE_FOLDER}/{split}/{name}" for split in ("train", "test")
             for name in os.listdir(shared_data / IMAGE_FOLDER / split)}
  assert {r.path for r in present} == on_disk
  # README, Part D: 270 Kermany files (140 train, 130 test) + 14 ieee8023
  # files, all train.
  assert collections.Counter(r.source_split for r in present) == {
      "train": 154, "test": 130}


def test_metadata_references_and_splits_follow_rows(coronahack_records,
                                                    metadata):
  assert [r.metadata for r in coronahack_records] == [
      f"coronahack/{coronahack.METADATA}#{i}" for i in range(1, REAL_ROWS + 1)]
  for record, (_, row) in zip(coronahack_records, metadata.iterrows()):
    split = row["Dataset_type"].lower()
    assert record.source_split == split
    assert record.key == f"coronahack/{split}/{row['X_ray_image_name']}"
    if record.path:
      assert record.path == f"{IMAGE_FOLDER}/{split}/{row['X_ray_image_name']}"


def test_every_real_row_has_a_finding_from_the_label_column(coronahack_records,
                                                            metadata):
  for record, (_, row) in zip(coronahack_records, metadata.iterrows()):
    assert record.finding is not None, record.metadata
    assert record.finding.label == (
        "normal" if row["Label"] == "Normal" else "pneumonia")


def test_kermany_bacteria_rows_are_bacterial_pneumonia(coronahack_records):
  # The blog post read Label_2_Virus_category (empty for these rows) as the
  # label and so called them normal.
  bacteria = [r for r in coronahack_records
              if re.match(r"person\d+_bacteria_", r.key_path.split("/")[1])]
  assert len(bacteria) == 2772
  assert all(r.finding == labels.BACTERIAL for r in bacteria)
  assert sum(1 for r in bacteria if r.path) == 77


def test_kermany_names_get_kermany_patient_keys(coronahack_records):
  for record in coronahack_records:
    name = record.key_path.split("/", 1)[1]
    match = re.match(r"(person\d+)_(bacteria|virus)_", name)
    normal = re.match(r"((?:NORMAL2-)?IM-\d+)-", name)
    if match:
      assert record.patient_id == f"kermany:{match.group(1)}", name
      assert record.view == "AP"
    elif normal:
      assert record.patient_id == f"kermany:{normal.group(1)}", name
    else:
      # Other collections' images: one patient per file, since CoronaHack
      # does not say which of them share a patient.
      assert record.patient_id == (
          f"coronahack:{os.path.splitext(name)[0]}"), name


def _make_root(shared_data, tmp_path, rows):
  """A tmp CoronaHack layout with one real train image and the given rows."""
  manual_dir = tmp_path / "manual"
  root = manual_dir / "coronahack"
  train = root / coronahack.IMAGE_FOLDER / coronahack.IMAGE_FOLDER / "train"
  train.mkdir(parents=True)
  shutil.copyfile(shared_data / IMAGE_FOLDER / "train" / "IM-0128-0001.jpeg",
                  train / "IM-0128-0001.jpeg")
  columns = ["", "X_ray_image_name", "Label", "Dataset_type",
             "Label_2_Virus_category", "Label_1_Virus_category"]
  frame = pd.DataFrame([[str(i), *row] for i, row in enumerate(rows)],
                       columns=columns)
  frame.to_csv(root / coronahack.METADATA, index=False)
  return manual_dir, root, train


def _hash_spy(monkeypatch):
  hashed = []
  original_sha256 = merge.file_sha256
  monkeypatch.setattr(merge, "file_sha256",
                      lambda path: hashed.append(path) or original_sha256(path))
  return hashed


def test_missing_required_column_names_the_csv(shared_data, tmp_path, metadata):
  root = tmp_path / "coronahack"
  root.mkdir()
  metadata.drop(columns=["Label"]).to_csv(root / coronahack.METADATA,
                                          index=False)
  with pytest.raises(ValueError, match=coronahack.METADATA) as error:
    list(coronahack.read_records(os.fspath(root), os.fspath(tmp_path)))
  assert os.fspath(root / coronahack.METADATA) in str(error.value)
  assert "Label" in str(error.value)


@pytest.mark.parametrize("file_name", [
    "../../etc/passwd", "../../../secret.jpeg", "..", "..\\secret.jpeg"])
def test_traversing_file_name_is_unsafe_and_never_read(shared_data, tmp_path,
                                                       monkeypatch, file_name):
  manual_dir, root, train = _make_root(shared_data, tmp_path, [
      (file_name, "Normal", "TRAIN", "", ""),
      ("IM-0128-0001.jpeg", "Normal", "TRAIN", "", ""),
  ])
  # Real bytes where "../../../secret.jpeg" lands from the train folder.
  shutil.copyfile(train / "IM-0128-0001.jpeg", root / "secret.jpeg")

  found = list(coronahack.read_records(os.fspath(root), os.fspath(manual_dir)))
  assert len(found) == 2
  assert found[0].skip_reason == records.UNSAFE_PATH
  assert found[0].path is None
  assert found[1].skip_reason is None
  hashed = _hash_spy(monkeypatch)
  merged = merge.merge(found, (coronahack.NAME,), os.fspath(manual_dir))
  assert [image.key for image in merged] == [
      "coronahack/train/IM-0128-0001.jpeg"]
  assert all("secret" not in path and "passwd" not in path for path in hashed)


def test_absolute_file_name_is_unsafe_and_never_read(shared_data, tmp_path,
                                                     monkeypatch):
  secret = tmp_path / "secret.jpeg"
  manual_dir, root, train = _make_root(shared_data, tmp_path, [
      (os.fspath(secret), "Normal", "TRAIN", "", ""),
  ])
  shutil.copyfile(train / "IM-0128-0001.jpeg", secret)

  found = list(coronahack.read_records(os.fspath(root), os.fspath(manual_dir)))
  assert found[0].skip_reason == records.UNSAFE_PATH
  assert found[0].path is None
  hashed = _hash_spy(monkeypatch)
  merge.merge(found, (coronahack.NAME,), os.fspath(manual_dir))
  assert os.fspath(secret) not in hashed


def test_symlink_out_of_the_root_is_unsafe_and_never_read(shared_data, tmp_path,
                                                         monkeypatch):
  manual_dir, root, train = _make_root(shared_data, tmp_path, [
      ("IM-0127-0001.jpeg", "Normal", "TRAIN", "", ""),
      ("IM-0128-0001.jpeg", "Normal", "TRAIN", "", ""),
  ])
  secret = tmp_path / "secret.jpeg"
  shutil.copyfile(train / "IM-0128-0001.jpeg", secret)
  (train / "IM-0127-0001.jpeg").symlink_to(secret)

  found = list(coronahack.read_records(os.fspath(root), os.fspath(manual_dir)))
  linked = [r for r in found if r.key == "coronahack/train/IM-0127-0001.jpeg"]
  assert linked
  assert all(r.skip_reason == records.UNSAFE_PATH for r in linked)
  assert not any(merge.is_readable(r) for r in linked)
  hashed = _hash_spy(monkeypatch)
  merged = merge.merge(found, (coronahack.NAME,), os.fspath(manual_dir))
  assert [image.key for image in merged] == [
      "coronahack/train/IM-0128-0001.jpeg"]
  assert all("IM-0127" not in path for path in hashed), hashed


@pytest.mark.parametrize("dataset_type", ["VAL", "", "../TRAIN"])
def test_unknown_dataset_type_is_reported_and_never_read(shared_data, tmp_path,
                                                         monkeypatch,
                                                         dataset_type):
  manual_dir, root, train = _make_root(shared_data, tmp_path, [
      ("IM-0128-0001.jpeg", "Normal", dataset_type, "", ""),
  ])
  # The file also sits right in the image folder, where a reader that
  # ignored the split would look.
  shutil.copyfile(train / "IM-0128-0001.jpeg",
                  train.parent / "IM-0128-0001.jpeg")

  found = list(coronahack.read_records(os.fspath(root), os.fspath(manual_dir)))
  row_record = found[0]
  assert row_record.skip_reason == records.UNKNOWN_SPLIT
  assert row_record.skip_detail == dataset_type
  assert row_record.path is None
  assert not merge.is_readable(row_record)
  # The train/ file is then a file no row names.
  assert [r.skip_reason for r in found[1:]] == [records.NO_METADATA_ROW]
  hashed = _hash_spy(monkeypatch)
  merged = merge.merge(found, (coronahack.NAME,), os.fspath(manual_dir))
  assert all(image.skip_reason for image in merged)
  assert os.fspath(train.parent / "IM-0128-0001.jpeg") not in hashed


def test_find_root_accepts_the_unzipped_download_itself(shared_data, tmp_path):
  assert coronahack.find_root(os.fspath(shared_data)) == os.fspath(
      shared_data / "coronahack")
  # The Kaggle zip unpacked straight into manual_dir puts the CSV at its top.
  shutil.copyfile(shared_data / "coronahack" / coronahack.METADATA,
                  tmp_path / coronahack.METADATA)
  assert coronahack.find_root(os.fspath(tmp_path)) == os.fspath(tmp_path)
