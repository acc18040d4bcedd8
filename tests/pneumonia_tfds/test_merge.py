"""merge: content dedupe over the real sources, and its rules on tmp files."""

import collections
import os
import random

import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds.sources import records
from tests.pneumonia_tfds import conftest as local_conftest

SOURCE_ORDER = local_conftest.SOURCE_ORDER


def _sources(image):
  return [copy.source for copy in image.copies]


def test_real_coronahack_copies_are_found(real_merged):
  # README, Part D: every CoronaHack file is a byte copy of a Kermany (270)
  # or ieee8023 (14) file.
  with_coronahack = [image for image in real_merged
                     if "coronahack" in _sources(image)]
  copies_per_canonical_source = collections.Counter(
      image.canonical.source for image in with_coronahack
      for copy in image.copies if copy.source == "coronahack")
  assert copies_per_canonical_source == {"kermany": 270, "ieee8023": 14}
  for image in with_coronahack:
    # CoronaHack kept the file names, so a content match is also a name match.
    names = {os.path.basename(copy.path) for copy in image.copies
             if copy.source != "coronahack"}
    for copy in image.copies:
      if copy.source == "coronahack":
        assert os.path.basename(copy.path) in names, copy.path


def test_real_distinct_image_count(real_merged, kermany_records,
                                   ieee8023_records):
  # Every readable Kermany and ieee8023 file is one image, except the pair
  # person128_bacteria_606 = _607 the README lists as identical.
  readable_files = {record.path for record in kermany_records + ieee8023_records
                    if merge.is_readable(record)}
  assert len(readable_files) == 286 + 146
  assert len(real_merged) == len(readable_files) - 1
  pair = [image for image in real_merged if len(
      [c for c in image.copies if c.source == "kermany"]) == 2]
  assert len(pair) == 1
  kermany_names = sorted(os.path.basename(c.path) for c in pair[0].copies
                         if c.source == "kermany")
  assert kermany_names == ["person128_bacteria_606.jpeg",
                           "person128_bacteria_607.jpeg"]
  # Same source, so the lower key names it.
  assert pair[0].key == "kermany/test/PNEUMONIA/person128_bacteria_606.jpeg"


def test_real_keys_come_from_the_highest_priority_labelled_copy(real_merged):
  for image in real_merged:
    labelled = [c for c in image.copies
                if c.finding is not None and not c.skip_reason]
    if not labelled:
      continue
    best = min(SOURCE_ORDER.index(c.source) for c in labelled)
    assert SOURCE_ORDER.index(image.canonical.source) == best, image.key
    assert image.key == image.canonical.key


def test_real_merged_images_are_sorted_by_unique_key(real_merged):
  keys = [image.key for image in real_merged]
  assert keys == sorted(keys)
  assert len(set(keys)) == len(keys)


def test_real_copies_agree_and_collect_patient_keys(real_merged):
  for image in real_merged:
    if image.skip_reason is None:
      assert image.finding is not None
    # Every copy's patient key is kept, so a split keeps them together.
    assert set(image.patient_ids) == {c.patient_id for c in image.copies
                                      if c.patient_id}
  labels_conflicts = [image for image in real_merged
                      if image.skip_reason == merge.LABEL_CONFLICT]
  assert not labels_conflicts


# Synthetic records over tmp files.


@pytest.fixture
def manual_dir(tmp_path):
  """Three distinct small files; bytes, not pixels, are what merge compares."""
  for name, content in (("a.bin", b"image a"), ("b.bin", b"image b"),
                        ("c.bin", b"image c")):
    for folder in ("kermany", "ieee8023", "coronahack"):
      (tmp_path / folder).mkdir(exist_ok=True)
      (tmp_path / folder / name).write_bytes(content)
  return tmp_path


def _record(source, name, finding=labels.BACTERIAL, patient="", **kwargs):
  return records.SourceRecord(
      source=source, path=f"{source}/{name}", key_path=name, finding=finding,
      finding_text=str(finding), patient_id=patient or f"{source}:{name}",
      **kwargs)


def _merge(found, directory):
  return merge.merge(found, SOURCE_ORDER, os.fspath(directory))


def test_copies_of_one_file_merge_and_the_priority_source_names_it(manual_dir):
  found = [_record("coronahack", "a.bin", source_split="train"),
           _record("ieee8023", "a.bin"),
           _record("kermany", "a.bin", labels.OTHER, source_split="test")]
  (image,) = _merge(found, manual_dir)
  assert image.key == "kermany/a.bin"
  assert _sources(image) == ["kermany", "ieee8023", "coronahack"]
  # "other" gives way to the specific type the other copies agree on.
  assert image.finding == labels.BACTERIAL
  assert image.skip_reason is None
  assert image.patient_ids == ("coronahack:a.bin", "ieee8023:a.bin",
                               "kermany:a.bin")
  # The most leak-averse source split wins.
  assert image.source_split == "test"


def test_different_binary_labels_are_a_label_conflict(manual_dir):
  found = [_record("kermany", "a.bin", labels.NORMAL),
           _record("coronahack", "a.bin", labels.BACTERIAL),
           _record("kermany", "b.bin", labels.NORMAL)]
  conflict, fine = _merge(found, manual_dir)
  assert conflict.key == "kermany/a.bin"
  assert conflict.skip_reason == merge.LABEL_CONFLICT
  assert conflict.finding is None
  assert "kermany/a.bin" in conflict.skip_detail
  assert "coronahack/a.bin" in conflict.skip_detail
  assert fine.skip_reason is None and fine.finding == labels.NORMAL


def test_two_specific_types_are_a_label_conflict(manual_dir):
  found = [_record("kermany", "a.bin", labels.BACTERIAL),
           _record("ieee8023", "a.bin", labels.VIRAL)]
  (image,) = _merge(found, manual_dir)
  assert image.skip_reason == merge.LABEL_CONFLICT


@pytest.mark.parametrize("reason", sorted(records.CONTENT_REASONS))
def test_a_content_reason_vetoes_the_whole_group(manual_dir, reason):
  # A lateral view stays lateral whichever collection redistributes it.
  found = [_record("ieee8023", "a.bin", labels.COVID19, skip_reason=reason,
                   skip_detail="L"),
           _record("coronahack", "a.bin", labels.COVID19, source_split="train")]
  (image,) = _merge(found, manual_dir)
  assert image.skip_reason == reason
  assert image.finding is None
  assert "ieee8023/a.bin" in image.skip_detail
  assert len(image.copies) == 2


def test_label_reasons_only_keep_a_copy_from_voting(manual_dir):
  found = [_record("ieee8023", "a.bin", None,
                   skip_reason=records.UNKNOWN_FINDING),
           _record("coronahack", "a.bin", labels.COVID19)]
  (image,) = _merge(found, manual_dir)
  assert image.skip_reason is None
  assert image.finding == labels.COVID19
  # An unlabelled copy never names the example.
  assert image.key == "coronahack/a.bin"


def test_no_labelled_copy_keeps_the_first_reason(manual_dir):
  found = [_record("ieee8023", "a.bin", None,
                   skip_reason=records.NO_METADATA_ROW)]
  (image,) = _merge(found, manual_dir)
  assert image.skip_reason == records.NO_METADATA_ROW
  assert image.finding is None


def test_unreadable_records_are_left_out_unread(manual_dir):
  found = [_record("kermany", "a.bin"),
           records.SourceRecord(source="coronahack", path=None,
                                key_path="train/x.bin",
                                skip_reason=records.MISSING_FILE),
           _record("ieee8023", "does-not-exist.bin",
                   skip_reason=records.UNSAFE_PATH),
           _record("ieee8023", "also-not-there.bin",
                   skip_reason=records.HIDDEN_FILE)]
  assert [image.key for image in _merge(found, manual_dir)] == ["kermany/a.bin"]


def test_result_does_not_depend_on_record_order(manual_dir):
  found = [
      _record("kermany", "a.bin", labels.OTHER, source_split="train"),
      _record("coronahack", "a.bin", labels.VIRAL, source_split="test"),
      _record("ieee8023", "a.bin", labels.VIRAL, patient="ieee8023:7"),
      _record("kermany", "b.bin", labels.NORMAL),
      _record("coronahack", "b.bin", labels.BACTERIAL),
      _record("ieee8023", "c.bin", labels.COVID19,
              skip_reason=records.EXCLUDED_VIEW, skip_detail="L"),
      _record("coronahack", "c.bin", labels.COVID19),
      _record("ieee8023", "b.bin", None, skip_reason=records.UNKNOWN_FINDING),
      # Two metadata rows naming one file.
      _record("ieee8023", "c.bin", labels.COVID19, metadata="m.csv#9"),
  ]
  expected = _merge(found, manual_dir)
  assert [image.key for image in expected] == [
      "ieee8023/c.bin", "kermany/a.bin", "kermany/b.bin"]
  shuffled = list(found)
  for seed in range(5):
    random.Random(seed).shuffle(shuffled)
    assert _merge(shuffled, manual_dir) == expected
