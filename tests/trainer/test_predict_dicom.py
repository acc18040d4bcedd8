"""trainer.predict on DICOM files: the real ones of ../shared/data/dicom and
files made from a real film, which must score like the film's JPEG."""

import os
import shutil

import numpy as np
import pytest

from pneumonia_tfds import dicom
from tests import dicom_files
from tests.trainer import evaluation_helpers
from trainer import predict

# How far a DICOM film made from a JPEG may score from the JPEG itself. The
# JPEG is decoded at a reduced scale (libjpeg's DCT scaling, as the build
# does) and the DICOM's pixels at full size, so their fitted pixels differ by
# a few levels; measured on the tiny test model: see the printed figures.
JPEG_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_data_dir, shared_data):
  model_dir = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir)
  folder = tmp_path_factory.mktemp("dicom_folder")
  shutil.copytree(shared_data / "dicom", folder / "real")
  jpeg = (shared_data / dicom_files.FILM).read_bytes()
  pixels = dicom_files.film_pixels(shared_data)
  twelve = dicom_files.twelve_bit(pixels)
  made = {
      "8bit.dcm": dicom_files.make(pixels),
      "12bit_window.dcm": dicom_files.make(
          twelve, bits_stored=12, rescale=(0.5, -1024), window=(0.25, 2048.5)),
      "12bit_monochrome1.dcm": dicom_files.make(
          4095 - twelve, bits_stored=12, photometric="MONOCHROME1"),
      "jpeg_baseline.dcm": dicom_files.with_jpeg(jpeg, *pixels.shape),
      "lateral.dcm": dicom_files.make(pixels, view="LL"),
  }
  (folder / "made").mkdir()
  for name, data in made.items():
    (folder / "made" / name).write_bytes(data)
  real = next((folder / "real").glob("1.3.6.1.4.1.*.dcm")).read_bytes()
  (folder / "made" / "broken.dcm").write_bytes(real[:len(real) // 3])
  # PACS exports often have no extension: named on the command line, it is
  # read by its content.
  no_extension = folder / "1.2.840.113619.2.55"
  no_extension.write_bytes(made["8bit.dcm"])
  (folder / "film.jpeg").write_bytes(jpeg)
  rows = predict.predict([os.fspath(folder), os.fspath(no_extension)],
                         model_dir, os.fspath(folder / "scores.csv"))
  return folder, {os.path.relpath(row["path"], folder): row for row in rows}


def test_every_dicom_is_found_and_has_a_row(scored):
  folder, rows = scored
  assert set(rows) == {
      "film.jpeg", "1.2.840.113619.2.55", "made/8bit.dcm",
      "made/12bit_window.dcm", "made/12bit_monochrome1.dcm",
      "made/jpeg_baseline.dcm", "made/lateral.dcm", "made/broken.dcm",
      *(f"real/{name}" for name in os.listdir(folder / "real"))}


def test_the_real_chest_films_are_scored(scored):
  _, rows = scored
  real = {name: row for name, row in rows.items() if name.startswith("real/")}
  assert len(real) == 4
  chest = [row for name, row in real.items() if name != "real/sample.dcm"]
  for row in chest:
    assert not row["error"] and 0 <= float(row["p_pneumonia"]) <= 1
    assert row["predicted_label"] in ("normal", "pneumonia")


def test_the_scout_gets_an_error_row_not_a_score(scored):
  _, rows = scored
  row = rows["real/sample.dcm"]
  assert row["error"].startswith(dicom.NOT_CHEST_RADIOGRAPH)
  assert "Modality is OT" in row["error"]
  assert row["p_pneumonia"] == "" and row["predicted_label"] == ""


def test_a_broken_dicom_names_its_problem_and_the_rest_are_scored(scored):
  _, rows = scored
  assert "undecodable DICOM" in rows["made/broken.dcm"]["error"]
  assert sum(1 for row in rows.values() if not row["error"]) == len(rows) - 2


def test_a_lateral_film_is_scored_with_a_warning(scored):
  _, rows = scored
  row = rows["made/lateral.dcm"]
  assert row["p_pneumonia"] and "lateral" in row["warning"]
  assert all(not r["warning"] for name, r in rows.items()
             if name != "made/lateral.dcm")


def test_films_made_from_a_jpeg_score_like_the_jpeg(scored):
  _, rows = scored
  jpeg = float(rows["film.jpeg"]["p_pneumonia"])
  same_pixels = ("made/8bit.dcm", "made/12bit_window.dcm",
                 "made/12bit_monochrome1.dcm", "1.2.840.113619.2.55")
  scores = {name: float(rows[name]["p_pneumonia"])
            for name in same_pixels + ("made/jpeg_baseline.dcm",)}
  print("P(pneumonia): JPEG", jpeg, {k: round(v - jpeg, 6)
                                     for k, v in scores.items()})
  # 8, 12 and 16 bits, windowed or MONOCHROME1: the same film, the same score.
  first = scores[same_pixels[0]]
  for name in same_pixels:
    assert scores[name] == pytest.approx(first, abs=1e-6), name
  for name, value in scores.items():
    assert abs(value - jpeg) <= JPEG_TOLERANCE, name
  assert np.isfinite(list(scores.values())).all()
