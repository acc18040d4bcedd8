"""sources.ieee8023 on the real covid-chestxray-dataset/ and on tmp copies."""

import collections
import os
import shutil

import pandas as pd
import pytest

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import records

REAL_ROWS = 758
REAL_IMAGES = 146
REAL_LATERAL_IMAGES = 20  # README, Part B: "View: PA 95, L 20, AP 18, ..."


@pytest.fixture(scope="module")
def metadata(shared_data):
  return pd.read_csv(shared_data / "covid-chestxray-dataset" / "metadata.csv",
                     dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def lateral_records(shared_data):
  manual_dir = os.fspath(shared_data)
  return list(ieee8023.read_records(ieee8023.find_root(manual_dir), manual_dir,
                                    include_lateral=True))


def _row_records(found):
  """Records of metadata rows, in row order (the reader keeps CSV order)."""
  return [record for record in found if record.metadata]


def test_real_counts(ieee8023_records, lateral_records, shared_data):
  image_files = os.listdir(shared_data / "covid-chestxray-dataset" / "images")
  assert len(image_files) == REAL_IMAGES
  # Every image of the subset is named by a row, so there is no stray record.
  assert len(ieee8023_records) == REAL_ROWS
  assert len(_row_records(ieee8023_records)) == REAL_ROWS
  readable = [r for r in ieee8023_records if r.skip_reason is None]
  readable_lateral = [r for r in lateral_records if r.skip_reason is None]
  assert len(readable) == REAL_IMAGES - REAL_LATERAL_IMAGES
  assert len(readable_lateral) == REAL_IMAGES
  assert {r.path for r in readable_lateral} == {
      f"covid-chestxray-dataset/images/{name}" for name in image_files}


def test_metadata_references_count_data_rows(ieee8023_records):
  # Quoted fields in metadata.csv hold newlines: rows, not lines, are counted.
  references = [record.metadata for record in ieee8023_records]
  assert references == [f"covid-chestxray-dataset/metadata.csv#{i}"
                        for i in range(1, REAL_ROWS + 1)]


def test_real_reasons_per_row(ieee8023_records, metadata, shared_data):
  images = shared_data / "covid-chestxray-dataset" / "images"
  rows = list(metadata.iterrows())
  assert len(_row_records(ieee8023_records)) == len(rows)
  for record, (_, row) in zip(_row_records(ieee8023_records), rows):
    assert record.patient_id == f"ieee8023:{row['patientid']}"
    assert record.finding_text == row["finding"]
    if row["modality"] == "CT":
      assert record.skip_reason == records.EXCLUDED_MODALITY, row["filename"]
    elif row["view"] not in labels.FRONTAL_VIEWS:
      # L, but also the empty and "?" views of the real CSV.
      assert record.skip_reason == records.EXCLUDED_VIEW, row["filename"]
    elif labels.ieee8023_finding(row["finding"]) is None:
      assert row["finding"] in ("todo", "Unknown")
      assert record.skip_reason == records.UNKNOWN_FINDING, row["filename"]
    elif not (images / row["filename"]).is_file():
      assert record.skip_reason == records.MISSING_FILE, row["filename"]
      assert record.path is None
    else:
      assert record.skip_reason is None, row["filename"]
      assert record.finding == labels.ieee8023_finding(row["finding"])
      assert record.path == f"covid-chestxray-dataset/images/{row['filename']}"


def test_real_reason_counts(ieee8023_records, metadata):
  reasons = collections.Counter(r.skip_reason for r in ieee8023_records)
  computed_tomography = metadata["modality"] == "CT"
  not_frontal = ~metadata["view"].isin(labels.FRONTAL_VIEWS)
  assert reasons[records.EXCLUDED_MODALITY] == computed_tomography.sum() == 84
  assert reasons[records.EXCLUDED_VIEW] == (
      ~computed_tomography & not_frontal).sum()
  assert reasons[records.UNKNOWN_FINDING] > 0
  assert reasons[None] == REAL_IMAGES - REAL_LATERAL_IMAGES


def test_excluded_modality_detail_names_the_modality(ieee8023_records,
                                                     metadata):
  # skip_detail is "the specific value behind the reason (e.g. "CT", "L")";
  # the report shows it next to the reason.
  for record, (_, row) in zip(_row_records(ieee8023_records),
                              metadata.iterrows()):
    if record.skip_reason == records.EXCLUDED_MODALITY:
      assert record.skip_detail == row["modality"], (
          record.metadata, record.skip_detail, row["folder"])


def test_lateral_views_only_with_include_lateral(ieee8023_records,
                                                 lateral_records):
  default = [r for r in ieee8023_records if r.view == "L" and r.path]
  with_lateral = [r for r in lateral_records if r.view == "L" and r.path]
  assert len(default) == len(with_lateral) == REAL_LATERAL_IMAGES
  assert all(r.skip_reason == records.EXCLUDED_VIEW for r in default)
  assert all(r.skip_reason is None for r in with_lateral)
  # CT rows stay excluded whatever the view switch says.
  assert all(r.skip_reason == records.EXCLUDED_MODALITY
             for r in lateral_records if r.view in ("Axial", "Coronal"))


def test_todo_findings_are_unknown(ieee8023_records, lateral_records):
  for found in (ieee8023_records, lateral_records):
    todo = [r for r in found if r.finding_text == "todo"]
    assert todo
    assert all(r.finding is None for r in todo)
    assert all(r.skip_reason is not None for r in todo)
    frontal_x_ray_todo = [r for r in todo if r.view in labels.FRONTAL_VIEWS
                          and r.skip_reason != records.EXCLUDED_MODALITY]
    assert frontal_x_ray_todo
    assert all(r.skip_reason == records.UNKNOWN_FINDING
               for r in frontal_x_ray_todo)


def test_keys(ieee8023_records):
  for record in ieee8023_records:
    assert record.key.startswith("ieee8023/images/")
    if record.path:
      assert record.path == "covid-chestxray-dataset/" + record.key_path


# A small tmp copy of the layout, for inputs the real data does not hold.
_COLUMNS = ("patientid", "finding", "view", "modality", "folder", "filename")
_GOOD_IMAGE = "000001-9-b.jpg"  # A small frontal image of the real subset.


def _make_root(shared_data, tmp_path, rows):
  manual_dir = tmp_path / "manual"
  root = manual_dir / "covid-chestxray-dataset"
  (root / "images").mkdir(parents=True)
  shutil.copyfile(
      shared_data / "covid-chestxray-dataset" / "images" / _GOOD_IMAGE,
      root / "images" / _GOOD_IMAGE)
  frame = pd.DataFrame([dict(zip(_COLUMNS, row)) for row in rows],
                       columns=list(_COLUMNS))
  frame.to_csv(root / "metadata.csv", index=False)
  return manual_dir, root


def _hash_spy(monkeypatch):
  hashed = []
  original_sha256 = merge.file_sha256
  monkeypatch.setattr(merge, "file_sha256",
                      lambda path: hashed.append(path) or original_sha256(path))
  return hashed


def test_missing_required_column_names_the_csv(metadata, tmp_path):
  root = tmp_path / "covid-chestxray-dataset"
  root.mkdir()
  metadata.drop(columns=["view"]).to_csv(root / "metadata.csv", index=False)
  with pytest.raises(ValueError, match="metadata.csv") as error:
    list(ieee8023.read_records(os.fspath(root), os.fspath(tmp_path)))
  assert os.fspath(root / "metadata.csv") in str(error.value)
  assert "view" in str(error.value)


@pytest.mark.parametrize("file_name", [
    "../../secret.jpg", "../images/../../secret.jpg", "..",
    "..\\..\\secret.jpg"])
def test_traversing_file_name_is_unsafe_and_never_read(shared_data, tmp_path,
                                                       monkeypatch, file_name):
  manual_dir, root = _make_root(shared_data, tmp_path, [
      ("1", "COVID-19", "PA", "X-ray", "images", file_name),
      ("2", "COVID-19", "PA", "X-ray", "images", _GOOD_IMAGE),
  ])
  # Real bytes where the traversal would land, so following it would "work".
  shutil.copyfile(root / "images" / _GOOD_IMAGE, tmp_path / "secret.jpg")
  shutil.copyfile(root / "images" / _GOOD_IMAGE, manual_dir / "secret.jpg")

  found = list(ieee8023.read_records(os.fspath(root), os.fspath(manual_dir)))
  unsafe, good = found[0], found[1]
  assert unsafe.skip_reason == records.UNSAFE_PATH
  assert unsafe.path is None
  assert good.skip_reason is None
  hashed = _hash_spy(monkeypatch)
  merged = merge.merge(found, (ieee8023.NAME,), os.fspath(manual_dir))
  assert [image.key for image in merged] == [f"ieee8023/images/{_GOOD_IMAGE}"]
  assert all("secret" not in path for path in hashed), hashed


def test_absolute_file_name_is_unsafe_and_never_read(shared_data, tmp_path,
                                                     monkeypatch):
  secret = tmp_path / "secret.jpg"
  manual_dir, root = _make_root(shared_data, tmp_path, [
      ("1", "COVID-19", "PA", "X-ray", "images", os.fspath(secret)),
  ])
  shutil.copyfile(root / "images" / _GOOD_IMAGE, secret)

  found = list(ieee8023.read_records(os.fspath(root), os.fspath(manual_dir)))
  row_record = _row_records(found)[0]
  assert row_record.skip_reason == records.UNSAFE_PATH
  assert row_record.path is None
  hashed = _hash_spy(monkeypatch)
  merge.merge(found, (ieee8023.NAME,), os.fspath(manual_dir))
  assert os.fspath(secret) not in hashed


def test_symlink_out_of_the_root_is_unsafe_and_never_read(shared_data, tmp_path,
                                                         monkeypatch):
  manual_dir, root = _make_root(shared_data, tmp_path, [
      ("1", "COVID-19", "PA", "X-ray", "images", "linked.jpg"),
      ("2", "COVID-19", "PA", "X-ray", "images", _GOOD_IMAGE),
  ])
  secret = tmp_path / "secret.jpg"
  shutil.copyfile(root / "images" / _GOOD_IMAGE, secret)
  (root / "images" / "linked.jpg").symlink_to(secret)

  found = list(ieee8023.read_records(os.fspath(root), os.fspath(manual_dir)))
  linked = [r for r in found if r.key == "ieee8023/images/linked.jpg"]
  assert linked
  assert all(r.skip_reason == records.UNSAFE_PATH for r in linked)
  assert not any(merge.is_readable(r) for r in linked)
  hashed = _hash_spy(monkeypatch)
  merged = merge.merge(found, (ieee8023.NAME,), os.fspath(manual_dir))
  assert [image.key for image in merged] == [f"ieee8023/images/{_GOOD_IMAGE}"]
  assert all("linked" not in path for path in hashed), hashed


def test_image_without_a_row_is_reported(shared_data, tmp_path):
  manual_dir, root = _make_root(shared_data, tmp_path, [
      ("1", "COVID-19", "PA", "X-ray", "images", "not-there.jpg"),
  ])
  found = list(ieee8023.read_records(os.fspath(root), os.fspath(manual_dir)))
  reasons = {r.key: r.skip_reason for r in found}
  assert reasons == {
      "ieee8023/images/not-there.jpg": records.MISSING_FILE,
      f"ieee8023/images/{_GOOD_IMAGE}": records.NO_METADATA_ROW,
  }


def test_find_root(shared_data, tmp_path):
  assert ieee8023.find_root(os.fspath(shared_data)) == os.fspath(
      shared_data / "covid-chestxray-dataset")
  assert ieee8023.find_root(os.fspath(tmp_path)) is None
