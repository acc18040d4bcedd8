"""A source may hold DICOM files: the builder reads them by content, stores
the film, and skips the ones whose tags say they are not chest radiographs,
with the reason in the build report."""

import csv
import io
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from pneumonia_tfds import dicom
from pneumonia_tfds import images
from pneumonia_tfds import report
from tests import conftest
from tests import dicom_files

NIH_DX = "1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"
SIIM_CR = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"


@pytest.fixture(scope="module")
def dicom_build(tmp_path_factory, shared_data):
  manual_dir = conftest.make_tiny_manual_dir(
      tmp_path_factory.mktemp("dicom_manual"))
  kermany = manual_dir / "chest_xray"
  real = shared_data / "dicom"
  pixels = dicom_files.film_pixels(shared_data)
  made = dicom_files.make(dicom_files.twelve_bit(pixels), bits_stored=12,
                          photometric="MONOCHROME2")
  files = {
      "train/NORMAL/nih_dx.dcm": (real / NIH_DX).read_bytes(),
      "train/PNEUMONIA/siim_cr.dcm": (real / SIIM_CR).read_bytes(),
      # A DICOM under a .jpeg name, as some exports name them.
      "train/NORMAL/IM-9001-0001.jpeg": made,
      "test/NORMAL/scout.dcm": (real / "sample.dcm").read_bytes(),
      "test/PNEUMONIA/broken.dcm": (real / NIH_DX).read_bytes()[:4000],
  }
  for relative, data in files.items():
    (kermany / relative).write_bytes(data)
  builder = conftest.build(manual_dir, tmp_path_factory.mktemp("dicom_data"),
                           "gray_96")
  text = (pathlib.Path(builder.data_dir) / report.REPORT_CSV).read_text()
  rows = {row["path"]: row for row in csv.DictReader(io.StringIO(text))}
  return builder, files, rows


def test_chest_dicoms_become_examples(dicom_build):
  builder, files, rows = dicom_build
  written = [f"chest_xray/{name}" for name in ("train/NORMAL/nih_dx.dcm",
                                               "train/PNEUMONIA/siim_cr.dcm",
                                               "train/NORMAL/IM-9001-0001.jpeg")]
  for path in written:
    assert rows[path]["status"] == report.WRITTEN, rows[path]
  stored = {}
  for split in builder.info.splits:
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
      stored[example["file_name"].decode()] = example["image"]
  for path in written:
    # The stored image is the film's, fitted and encoded as any source's.
    encoded = images.process(files[path[len("chest_xray/"):]], 96, 1,
                             "resize", "jpeg")
    np.testing.assert_array_equal(stored[path],
                                  tf.io.decode_jpeg(encoded).numpy())


def test_the_scout_is_skipped_as_not_a_chest_radiograph(dicom_build):
  _, _, rows = dicom_build
  row = rows["chest_xray/test/NORMAL/scout.dcm"]
  assert row["status"] == report.SKIPPED
  assert row["reason"] == dicom.NOT_CHEST_RADIOGRAPH
  assert "Modality is OT" in row["detail"] and "scout.dcm" in row["detail"]


def test_a_broken_dicom_is_skipped_with_the_problem(dicom_build):
  _, _, rows = dicom_build
  row = rows["chest_xray/test/PNEUMONIA/broken.dcm"]
  assert row["status"] == report.SKIPPED
  assert row["reason"] == images.UNDECODABLE
  assert "undecodable DICOM" in row["detail"]
