"""sources.kermany on the real chest_xray/ folder and on small tmp layouts."""

import collections
import os
import shutil

import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds.sources import kermany
from pneumonia_tfds.sources import records

# Counts from shared/data/README.md, Part A.
EXPECTED_COUNTS = {
    ("train", labels.NORMAL): 56,
    ("train", labels.BACTERIAL): 38,
    ("train", labels.VIRAL): 46,
    ("validation", labels.NORMAL): 8,
    ("validation", labels.BACTERIAL): 8,
    ("test", labels.NORMAL): 65,
    ("test", labels.BACTERIAL): 39,
    ("test", labels.VIRAL): 26,
}


def test_real_counts_per_split_and_type(kermany_records):
  assert len(kermany_records) == 286
  counts = collections.Counter(
      (record.source_split, record.finding) for record in kermany_records)
  assert counts == EXPECTED_COUNTS


def test_real_records_are_readable_and_named_by_their_place(kermany_records,
                                                             shared_data):
  for record in kermany_records:
    assert record.skip_reason is None, record
    assert record.path.startswith("chest_xray/"), record.path
    assert (shared_data / record.path).is_file()
    # The key is relative to the source root, so it does not depend on where
    # the user put the folder.
    assert record.key == "kermany/" + record.path[len("chest_xray/"):]
    assert record.view == kermany.VIEW
  keys = [record.key for record in kermany_records]
  assert len(set(keys)) == len(keys)


def test_real_class_folder_gives_label_and_name_gives_type(kermany_records):
  for record in kermany_records:
    class_folder = record.path.split("/")[2]
    name = os.path.basename(record.path)
    assert record.finding_text == class_folder
    if class_folder == "NORMAL":
      assert record.finding == labels.NORMAL
      assert name.startswith(("IM-", "NORMAL2-IM-")), name
    else:
      expected = labels.BACTERIAL if "_bacteria_" in name else labels.VIRAL
      assert record.finding == expected, name


@pytest.mark.parametrize("file_name, expected", [
    ("IM-0117-0001.jpeg", "kermany:IM-0117"),
    ("NORMAL2-IM-0374-0001-0001.jpeg", "kermany:NORMAL2-IM-0374"),
    ("NORMAL2-IM-1128-0001-0002.jpeg", "kermany:NORMAL2-IM-1128"),
    ("NORMAL2-IM-0095-0001.jpeg", "kermany:NORMAL2-IM-0095"),
    # personN numbers run per type, so the conservative key drops the type:
    # person1_bacteria and person1_virus may be one child.
    ("person1_bacteria_1.jpeg", "kermany:person1"),
    ("person1_virus_6.jpeg", "kermany:person1"),
    ("person1369_virus_2356.jpeg", "kermany:person1369"),
    ("person128_bacteria_607.jpeg", "kermany:person128"),
])
def test_patient_id(file_name, expected):
  assert kermany.patient_id(file_name) == expected


def test_patient_id_never_mixes_normal_stems():
  # IM-0001 and NORMAL2-IM-0001 are numbered in different series.
  assert (kermany.patient_id("IM-0001-0001.jpeg") !=
          kermany.patient_id("NORMAL2-IM-0001-0001.jpeg"))


def test_real_patient_ids(kermany_records):
  for record in kermany_records:
    name = os.path.basename(record.path)
    assert record.patient_id == kermany.patient_id(name)
    # Every real name fits one of the two patterns; none falls back to the
    # file stem (which would make each image its own patient).
    stem = os.path.splitext(os.path.basename(record.path))[0]
    assert record.patient_id != f"kermany:{stem}", record.path


def _copy_real(shared_data, relative_path, destination):
  destination.parent.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(shared_data / relative_path, destination)


def test_symlink_out_of_the_source_root_is_unsafe_and_never_read(
    shared_data, tmp_path, monkeypatch):
  manual_dir = tmp_path / "manual"
  root = manual_dir / "chest_xray"
  inside_file = root / "train" / "NORMAL" / "IM-0117-0001.jpeg"
  _copy_real(shared_data, "chest_xray/train/NORMAL/IM-0117-0001.jpeg",
             inside_file)
  # A real image outside the root: a reader that followed the link would
  # find perfectly good bytes there.
  outside_file = tmp_path / "elsewhere" / "IM-0119-0001.jpeg"
  _copy_real(shared_data, "chest_xray/train/NORMAL/IM-0119-0001.jpeg",
             outside_file)
  link = root / "train" / "NORMAL" / "IM-0119-0001.jpeg"
  link.symlink_to(outside_file)

  found = list(kermany.read_records(os.fspath(root), os.fspath(manual_dir)))
  by_name = {os.path.basename(record.path): record for record in found}
  assert by_name["IM-0119-0001.jpeg"].skip_reason == records.UNSAFE_PATH
  assert by_name["IM-0117-0001.jpeg"].skip_reason is None

  hashed = []
  original_sha256 = merge.file_sha256
  monkeypatch.setattr(merge, "file_sha256",
                      lambda path: hashed.append(path) or original_sha256(path))
  merged = merge.merge(found, (kermany.NAME,), os.fspath(manual_dir))
  assert [image.key for image in merged] == [
      "kermany/train/NORMAL/IM-0117-0001.jpeg"]
  assert all("IM-0119" not in path for path in hashed), hashed


def test_symlinked_class_folder_out_of_the_root_is_unsafe(shared_data,
                                                          tmp_path):
  manual_dir = tmp_path / "manual"
  root = manual_dir / "chest_xray"
  outside_folder = tmp_path / "elsewhere" / "NORMAL"
  _copy_real(shared_data, "chest_xray/test/NORMAL/IM-0001-0001.jpeg",
             outside_folder / "IM-0001-0001.jpeg")
  (root / "test").mkdir(parents=True)
  (root / "test" / "NORMAL").symlink_to(outside_folder,
                                        target_is_directory=True)

  found = list(kermany.read_records(os.fspath(root), os.fspath(manual_dir)))
  assert [record.skip_reason for record in found] == [records.UNSAFE_PATH]


def test_symlink_inside_the_root_is_accepted(shared_data, tmp_path):
  # Links are only refused when they leave the root, not as such.
  manual_dir = tmp_path / "manual"
  root = manual_dir / "chest_xray"
  target = root / "test" / "NORMAL" / "IM-0001-0001.jpeg"
  _copy_real(shared_data, "chest_xray/test/NORMAL/IM-0001-0001.jpeg", target)
  (root / "train" / "NORMAL").mkdir(parents=True)
  (root / "train" / "NORMAL" / "IM-0002-0001.jpeg").symlink_to(target)

  found = list(kermany.read_records(os.fspath(root), os.fspath(manual_dir)))
  assert [record.skip_reason for record in found] == [None, None]


def test_hidden_files_and_folders_are_reported_not_read(shared_data, tmp_path):
  manual_dir = tmp_path / "manual"
  root = manual_dir / "chest_xray"
  _copy_real(shared_data, "chest_xray/test/NORMAL/IM-0001-0001.jpeg",
             root / "test" / "NORMAL" / ".IM-0001-0001.jpeg")
  (root / "test" / "NORMAL" / "subfolder").mkdir()

  found = list(kermany.read_records(os.fspath(root), os.fspath(manual_dir)))
  reasons = {os.path.basename(record.path): record.skip_reason
             for record in found}
  assert reasons == {".IM-0001-0001.jpeg": records.HIDDEN_FILE,
                     "subfolder": records.NOT_A_FILE}
  assert not any(merge.is_readable(record) for record in found)


def test_find_root(shared_data, tmp_path):
  assert kermany.find_root(os.fspath(shared_data)) == os.fspath(
      shared_data / "chest_xray")
  assert kermany.find_root(os.fspath(tmp_path)) is None
