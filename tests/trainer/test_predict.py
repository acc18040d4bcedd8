"""trainer.predict on the real files of ../shared/data and on broken ones."""

import csv
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.trainer import evaluation_helpers
from tests.trainer import helpers
from trainer import calibration
from trainer import evaluate
from trainer import predict
from trainer import prediction
from trainer import run_dir
from trainer import thresholds

# Scores of one image in different batches (float32 CPU kernels).
SCORE_TOLERANCE = 1e-5

# ieee8023 files whose name lies about their format or has an upper-case
# extension (see ../shared/data/README.md).
PNG_NAMED_JPG = ("000001.jpg", "000001-12.jpg", "000001-17.jpg",
                 "000001-27.jpg", "000002-16.jpg", "000008-8.jpg",
                 "000009-5.jpg", "000016.jpg", "000017-1.jpg", "000024-1.jpg",
                 "000025-1.jpg")
ODD_NAMES = PNG_NAMED_JPG + ("16745_2_1.PNG", "covid-19-pneumonia-mild.JPG")
BROKEN = ("broken.jpg", "truncated.png", "empty.jpeg", "nested/deeper/bad.PNG")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_data_dir) -> str:
  return evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory, shared_data) -> pathlib.Path:
  """A user's folder: real images (one nested), broken files, and files a
  folder search must skip (hidden, not an image by name)."""
  folder = tmp_path_factory.mktemp("user_images")
  images = shared_data / "covid-chestxray-dataset" / "images"
  (folder / "nested" / "deeper").mkdir(parents=True)
  shutil.copyfile(images / "000001.jpg", folder / "png_named.jpg")
  shutil.copyfile(images / "16745_2_1.PNG", folder / "nested" / "rgba.PNG")
  (folder / "broken.jpg").write_bytes(b"this is not an image")
  png = (images / "16745_2_1.PNG").read_bytes()
  (folder / "truncated.png").write_bytes(png[:len(png) // 3])
  (folder / "empty.jpeg").write_bytes(b"")
  (folder / "nested" / "deeper" / "bad.PNG").write_bytes(png[:40])
  (folder / "notes.txt").write_text("not scored by a folder search")
  shutil.copyfile(images / "000016.jpg", folder / ".hidden.jpg")
  return folder


@pytest.fixture(scope="module")
def folder_rows(model_dir, user_folder, shared_data, tmp_path_factory):
  paths = [os.fspath(shared_data / "covid-chestxray-dataset" / "images"),
           os.fspath(shared_data / "chest_xray" / "val"),
           os.fspath(user_folder)]
  output = tmp_path_factory.mktemp("predict") / "scores.csv"
  rows = predict.predict(paths, model_dir, os.fspath(output), threshold=0.3,
                         batch_size=16)
  return paths, output, rows


def _read_csv(path) -> list[dict[str, str]]:
  with open(path, encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f))


def _image_files(folder: str) -> set[str]:
  return {os.path.join(root, name) for root, _, names in os.walk(folder)
          for name in names if not name.startswith(".")
          and name.lower().endswith(prediction.IMAGE_EXTENSIONS)}


def test_one_row_per_file_of_the_folders(folder_rows):
  paths, output, rows = folder_rows
  assert _read_csv(output) == rows
  expected = set().union(*(_image_files(p) for p in paths))
  got = [row["path"] for row in rows]
  assert len(got) == len(set(got)) == len(expected)
  assert set(got) == expected
  # All of ieee8023's 146 and Kermany's 16 val images are in there.
  assert len(expected) == 146 + 16 + 2 + len(BROKEN)
  assert not any(p.endswith((".hidden.jpg", "notes.txt")) for p in got)


def test_broken_files_get_error_rows_and_the_rest_are_scored(
    folder_rows, user_folder):
  _, _, rows = folder_rows
  by_path = {row["path"]: row for row in rows}
  for name in BROKEN:
    row = by_path[os.fspath(user_folder / name)]
    assert row["error"], name
    assert row["p_pneumonia"] == "" and row["predicted_label"] == ""
  assert "empty file" in by_path[os.fspath(user_folder / "empty.jpeg")][
      "error"]
  assert "0x" not in by_path[os.fspath(user_folder / "broken.jpg")]["error"]
  scored = [row for row in rows if not row["error"]]
  assert len(scored) == len(rows) - len(BROKEN)
  for row in scored:
    p = float(row["p_pneumonia"])
    assert 0.0 <= p <= 1.0
    assert row["threshold"] == "0.3"
    assert row["predicted_label"] == ("pneumonia" if p >= 0.3 else "normal")


def test_png_named_jpg_rgba_and_upper_case_files_are_scored(
    folder_rows, shared_data, user_folder):
  _, _, rows = folder_rows
  by_path = {row["path"]: row for row in rows}
  images = shared_data / "covid-chestxray-dataset" / "images"
  for name in ODD_NAMES:
    assert not by_path[os.fspath(images / name)]["error"], name
  # A copy scores as its original, whatever its name. Within a tolerance:
  # the two sit in other batches, and CPU kernels (oneDNN, with or without
  # AVX-512) may sum in another order for another batch.
  for copy, original in (("png_named.jpg", "000001.jpg"),
                         ("nested/rgba.PNG", "16745_2_1.PNG")):
    assert float(by_path[os.fspath(user_folder / copy)]["p_pneumonia"]) == (
        pytest.approx(float(by_path[os.fspath(images / original)][
            "p_pneumonia"]), abs=SCORE_TOLERANCE)), copy


def test_same_score_as_evaluate_for_files_in_the_dataset(
    model_dir, tiny_data_dir, tiny_manual_dir, tmp_path):
  # A copy: evaluate saves its calibration and threshold into the run.
  run = tmp_path / "run"
  shutil.copytree(model_dir, run)
  result = evaluate.evaluate(os.fspath(run), os.fspath(tiny_data_dir), "test",
                             os.fspath(tmp_path / "eval"), n_bootstrap=0,
                             examples_per_kind=0)
  assert result["calibration"]["temperature"] is not None
  evaluated = _read_csv(tmp_path / "eval" / "predictions.csv")
  assert len(evaluated) == result["n_examples"]
  files = [os.fspath(tiny_manual_dir / row["file_name"]) for row in evaluated]
  # The saved calibration and threshold, in other batches than evaluate's.
  rows = predict.predict(files, os.fspath(run), os.fspath(tmp_path / "p.csv"),
                         batch_size=4)
  assert [row["path"] for row in rows] == files
  for row, expected in zip(rows, evaluated):
    assert not row["error"]
    assert float(row["p_pneumonia"]) == pytest.approx(
        float(expected["p_pneumonia"]), abs=SCORE_TOLERANCE), row["path"]
    assert (row["predicted_label"] == "pneumonia") == (
        expected["called_pneumonia"] == "1")


def test_paths_that_are_not_files_or_folders_are_refused(model_dir, tmp_path,
                                                         user_folder):
  fifo = tmp_path / "pipe.jpg"
  os.mkfifo(fifo)
  output = tmp_path / "out.csv"
  for bad, message in ((fifo, "not a regular file or a directory"),
                       ("/dev/null", "not a regular file or a directory"),
                       (tmp_path / "missing.png", "no such file")):
    with pytest.raises(ValueError, match=message):
      predict.predict([os.fspath(user_folder), os.fspath(bad)], model_dir,
                      os.fspath(output))
    assert not output.exists()  # refused before anything is scored
  with pytest.raises(ValueError, match="no paths"):
    predict.predict([], model_dir, os.fspath(output))


def test_one_file_several_files_and_a_named_non_image(model_dir, tmp_path,
                                                      user_folder):
  one = predict.predict([os.fspath(user_folder / "png_named.jpg")], model_dir,
                        os.fspath(tmp_path / "one.csv"), threshold=0.5)
  assert len(one) == 1 and not one[0]["error"]
  named = [os.fspath(user_folder / n) for n in ("notes.txt", "png_named.jpg",
                                                "broken.jpg", "png_named.jpg")]
  rows = predict.predict(named, model_dir, os.fspath(tmp_path / "some.csv"),
                         threshold=0.5)
  # Named files are scored whatever their extension; repeats once.
  assert [row["path"] for row in rows] == named[:3]
  assert rows[0]["error"] and rows[2]["error"] and not rows[1]["error"]


def test_threshold_saved_default_and_override(model_dir, tmp_path,
                                              user_folder):
  copy = tmp_path / "run"
  shutil.copytree(model_dir, copy)
  (copy / run_dir.THRESHOLD).unlink(missing_ok=True)
  (copy / run_dir.CALIBRATION).unlink(missing_ok=True)
  image = [os.fspath(user_folder / "png_named.jpg")]
  default = predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "a"))
  assert default[0]["threshold"] == repr(thresholds.DEFAULT_THRESHOLD)
  # The exact score (the CSV prints four significant digits).
  scored = next(prediction.score_files(run_dir.load(os.fspath(copy)), image))
  p = float(scored.scores[0])
  assert default[0]["p_pneumonia"] == f"{p:.4g}"
  choice = thresholds.Choice(
      threshold=p, method="youden", split="validation", sensitivity=1.0,
      specificity=0.5, n=10, n_positive=5,
      model_sha256=run_dir.model_sha256(os.fspath(copy)))
  run_dir.write_threshold(choice, os.fspath(copy))
  saved = predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "b"))
  assert saved[0]["threshold"] == f"{p:.4g}"
  assert saved[0]["predicted_label"] == "pneumonia"  # p >= p
  above = np.nextafter(p, 1.0)
  override = predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "c"),
                             threshold=float(above))
  assert override[0]["predicted_label"] == "normal"
  with pytest.raises(ValueError, match="threshold"):
    predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "d"),
                    threshold=1.5)
  # A threshold chosen for another model file is refused, not applied.
  run_dir.write_threshold(
      dataclasses.replace(choice, model_sha256="f" * 64), os.fspath(copy))
  with pytest.raises(ValueError, match="chosen for another model file"):
    predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "e"))
  assert predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "f"),
                         threshold=0.5)[0]["threshold"] == "0.5"


def test_calibration_is_applied_and_must_match_the_threshold(
    model_dir, tmp_path, user_folder):
  copy = tmp_path / "run"
  shutil.copytree(model_dir, copy)
  image = [os.fspath(user_folder / "png_named.jpg")]
  sha256 = run_dir.model_sha256(os.fspath(copy))
  (copy / run_dir.CALIBRATION).unlink(missing_ok=True)
  (copy / run_dir.THRESHOLD).unlink(missing_ok=True)
  raw = next(prediction.score_files(run_dir.load(os.fspath(copy)), image))
  fitted = calibration.Calibration(temperature=3.0, split="validation", n=10,
                                   nll_before=1.0, nll_after=0.5,
                                   model_sha256=sha256)
  run_dir.write_calibration(fitted, os.fspath(copy))
  choice = thresholds.Choice(
      threshold=0.5, method="youden", split="validation", sensitivity=1.0,
      specificity=0.5, n=10, n_positive=5, model_sha256=sha256,
      temperature=3.0)
  run_dir.write_threshold(choice, os.fspath(copy))
  rows = predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "a"))
  expected = fitted.apply(raw.probabilities)[0, 1]
  assert float(rows[0]["p_pneumonia"]) == pytest.approx(expected, rel=1e-3)
  assert abs(expected - 0.5) < abs(raw.scores[0] - 0.5)  # T > 1 softens
  # A threshold chosen on scores calibrated otherwise is refused.
  run_dir.write_threshold(dataclasses.replace(choice, temperature=None),
                          os.fspath(copy))
  with pytest.raises(ValueError, match="calibrated with temperature None"):
    predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "b"))
  # So is a calibration fitted for another model file.
  run_dir.write_threshold(choice, os.fspath(copy))
  run_dir.write_calibration(
      dataclasses.replace(fitted, model_sha256="f" * 64), os.fspath(copy))
  with pytest.raises(ValueError, match="fitted for another model file"):
    predict.predict(image, os.fspath(copy), os.fspath(tmp_path / "c"))


def test_multiclass_columns(tmp_path_factory, tiny_data_dir, user_folder,
                            tmp_path):
  types_dir = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir,
                                             "pneumonia_type")
  rows = predict.predict([os.fspath(user_folder)], types_dir,
                         os.fspath(tmp_path / "types.csv"), threshold=0.5)
  names = ("normal", "bacterial", "viral", "covid19", "fungal", "other")
  assert list(rows[0]) == (["path", "p_pneumonia", "predicted_label",
                            "threshold"] + [f"p_{n}" for n in names]
                           + ["predicted_type", "warning", "error"])
  for row in rows:
    if row["error"]:
      assert row["p_covid19"] == ""
      continue
    # Printed to four significant digits each.
    probabilities = np.array([float(row[f"p_{n}"]) for n in names])
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-3)
    assert float(row["p_pneumonia"]) == pytest.approx(1 - probabilities[0],
                                                      abs=1e-4)
    assert row["predicted_type"] == names[int(probabilities.argmax())]


def test_gradcam_overlays(model_dir, user_folder, tmp_path):
  files = [os.fspath(user_folder / n) for n in ("png_named.jpg", "broken.jpg",
                                                "nested/rgba.PNG")]
  rows = predict.predict(files, model_dir, os.fspath(tmp_path / "g.csv"),
                         threshold=0.5, gradcam_dir=os.fspath(tmp_path / "cam"))
  written = sorted(os.listdir(tmp_path / "cam"))
  assert written == ["00000_png_named.png", "00002_rgba.png"]
  assert rows[0]["gradcam"] == os.fspath(tmp_path / "cam" / written[0])
  assert rows[1]["gradcam"] == "" and rows[1]["error"]


def test_command_line(model_dir, user_folder, tmp_path):
  output = tmp_path / "cli.csv"
  base = [sys.executable, "-m", "trainer.predict", f"--model_dir={model_dir}",
          f"--output_csv={output}", "--threshold=0.4"]
  done = subprocess.run(base + [os.fspath(user_folder)], cwd=helpers.REPO,
                        capture_output=True, text=True,
                        env=helpers.subprocess_env(), timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert f"2 of {2 + len(BROKEN)} files scored" in done.stdout
  assert len(_read_csv(output)) == 2 + len(BROKEN)
  refused = subprocess.run(base + ["/dev/null"], cwd=helpers.REPO,
                           capture_output=True, text=True,
                           env=helpers.subprocess_env(), timeout=300)
  assert refused.returncode != 0
  assert "/dev/null: not a regular file or a directory" in refused.stderr
