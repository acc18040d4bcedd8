"""trainer.choose_threshold on real labelled images (the shared originals)."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests import conftest
from tests.trainer import evaluation_helpers
from tests.trainer import helpers
from trainer import evaluate
from trainer import labelled_images
from trainer import metrics
from trainer import predict
from trainer import rechoose
from trainer import run_dir
from trainer import serving
from trainer import thresholds

KERMANY_TEST = conftest.SHARED_DATA / "chest_xray" / "test"


@pytest.fixture(scope="module", autouse=True)
def _needs_shared_data(shared_data):
  del shared_data  # the fixture fails clearly when the real data is missing


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory, tiny_data_dir):
  """A copy of the tiny run, calibrated and thresholded by trainer.evaluate
  (a copy: this module changes its threshold)."""
  source = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir)
  model_dir = tmp_path_factory.mktemp("rechoose") / "run"
  shutil.copytree(source, model_dir)
  evaluate.evaluate(os.fspath(model_dir), os.fspath(tiny_data_dir), "test",
                    n_bootstrap=0, examples_per_kind=0)
  return os.fspath(model_dir)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
  """Every third real film of Kermany's test folder, in its layout."""
  root = tmp_path_factory.mktemp("labelled") / "test"
  for folder in ("NORMAL", "PNEUMONIA"):
    (root / folder).mkdir(parents=True)
    for path in sorted((KERMANY_TEST / folder).glob("*.jpeg"))[::3]:
      shutil.copy(path, root / folder)
  return root


@pytest.fixture(scope="module")
def rechosen(calibrated_run, images, tmp_path_factory):
  before = run_dir.read_threshold(calibrated_run)
  output_dir = tmp_path_factory.mktemp("rechosen")
  result = rechoose.run(calibrated_run, os.fspath(images),
                        output_dir=os.fspath(output_dir),
                        options=rechoose.evaluation.Options(n_bootstrap=200))
  return before, output_dir, result


def _scores(output_dir) -> list[dict[str, str]]:
  with open(output_dir / rechoose.SCORES_FILENAME, encoding="utf-8") as f:
    return list(csv.DictReader(f))


def test_a_kermany_folder_is_labelled_by_its_class_folders():
  listing = labelled_images.read(os.fspath(KERMANY_TEST))
  on_disk = sorted(KERMANY_TEST.rglob("*.jpeg"))
  assert sorted(image.path for image in listing.images) == [
      os.fspath(p) for p in on_disk]
  for image in listing.images:
    assert image.label == (1 if "/PNEUMONIA/" in image.path else 0)
  # Kermany's file-name rule groups a child's films.
  groups = {image.group for image in listing.images}
  assert len(groups) < len(listing.images)
  assert all(group.startswith("kermany:") for group in groups)


def test_threshold_is_chosen_on_the_images_and_saved_with_its_source(
    rechosen, calibrated_run, images):
  before, output_dir, result = rechosen
  saved = run_dir.read_threshold(calibrated_run)
  assert saved.chosen_by == "trainer.choose_threshold"
  assert saved.dataset == os.path.abspath(images)
  assert saved.split == "labelled images" and saved.method == "sensitivity"
  listing = labelled_images.read(os.fspath(images))
  assert saved.images_sha256 == listing.digest()
  assert saved.n == result["n_images"] == len(listing.images)
  assert saved.model_sha256 == run_dir.model_sha256(calibrated_run)
  # Scores keep the validation calibration.
  assert saved.temperature == before.temperature is not None
  assert saved.threshold != before.threshold
  # The target holds on the images' own scores, and the interval has it.
  rows = _scores(output_dir)
  y = np.array([r["label"] == "pneumonia" for r in rows], int)
  called = np.array([r["called_pneumonia"] == "1" for r in rows])
  rates = metrics.rates({"tp": int((called & (y == 1)).sum()),
                         "fn": int((~called & (y == 1)).sum()),
                         "tn": int((~called & (y == 0)).sum()),
                         "fp": int((called & (y == 0)).sum())})
  assert rates["sensitivity"] >= 0.95
  assert rates["sensitivity"] == pytest.approx(saved.sensitivity)
  assert rates["specificity"] == pytest.approx(saved.specificity)
  low, high = saved.sensitivity_ci
  assert low <= saved.sensitivity <= high
  # The previous threshold's figures on the same images are reported.
  assert result["previous"]["threshold"] == before.threshold
  assert json.loads((output_dir / rechoose.SUMMARY_FILENAME).read_text())[
      "threshold"]["threshold"] == saved.threshold


def test_predict_and_serving_use_the_new_threshold(rechosen, calibrated_run,
                                                   images, tmp_path):
  _, output_dir, _ = rechosen
  saved = run_dir.read_threshold(calibrated_run)
  rows = predict.predict([os.fspath(images)], calibrated_run,
                         os.fspath(tmp_path / "scores.csv"))
  chosen = {r["path"]: r for r in _scores(output_dir)}
  assert len(rows) == len(chosen)
  for row in rows:
    assert float(row["threshold"]) == float(f"{saved.threshold:.4g}")
    assert row["p_pneumonia"] == chosen[row["path"]]["p_pneumonia"]
    assert row["predicted_label"] == ("pneumonia" if chosen[row["path"]][
        "called_pneumonia"] == "1" else "normal")
  info = serving.read_info(run_dir.path(calibrated_run, run_dir.SAVED_MODEL))
  assert info["threshold"] == saved.threshold
  assert info["temperature"] == saved.temperature
  assert "trainer.choose_threshold" in info["threshold_source"]


def test_a_csv_of_paths_and_labels(calibrated_run, tmp_path):
  files = sorted(KERMANY_TEST.rglob("*.jpeg"))[::6]
  local = tmp_path / "images"
  local.mkdir()
  lines = ["path,label,patient"]
  for i, path in enumerate(files):
    shutil.copy(path, local / path.name)
    label = "pneumonia" if path.parent.name == "PNEUMONIA" else "normal"
    lines.append(f"images/{path.name},{label},p{i // 2}")
  (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
  (local / "broken.jpeg").write_bytes(b"not an image")
  with open(tmp_path / "labels.csv", "a", encoding="utf-8") as f:
    f.write("images/broken.jpeg,normal,p99\n")
  result = rechoose.run(calibrated_run, os.fspath(tmp_path / "labels.csv"),
                        output_dir=os.fspath(tmp_path / "out"), save=False)
  assert result["n_images"] == len(files)
  assert result["n_unreadable"] == 1
  assert result["n_patient_groups"] == (len(files) + 1) // 2
  broken = [r for r in _scores(tmp_path / "out")
            if r["path"].endswith("broken.jpeg")]
  assert broken[0]["error"] and not broken[0]["p_pneumonia"]


def test_bad_sources_are_refused_with_the_reason(calibrated_run, images,
                                                tmp_path):
  (tmp_path / "flat").mkdir()
  shutil.copy(sorted(KERMANY_TEST.rglob("*.jpeg"))[0], tmp_path / "flat")
  with pytest.raises(ValueError, match="NORMAL/ or PNEUMONIA/"):
    rechoose.run(calibrated_run, os.fspath(tmp_path / "flat"))
  (tmp_path / "bad.csv").write_text("file,label\nx.jpeg,normal\n")
  with pytest.raises(ValueError, match="missing path"):
    rechoose.run(calibrated_run, os.fspath(tmp_path / "bad.csv"))
  (tmp_path / "label.csv").write_text("path,label\nx.jpeg,maybe\n")
  with pytest.raises(ValueError, match="line 2: label 'maybe'"):
    rechoose.run(calibrated_run, os.fspath(tmp_path / "label.csv"))
  normal_only = tmp_path / "one" / "NORMAL"
  normal_only.mkdir(parents=True)
  shutil.copy(sorted((KERMANY_TEST / "NORMAL").glob("*.jpeg"))[0],
              normal_only)
  with pytest.raises(ValueError, match="both classes"):
    rechoose.run(calibrated_run, os.fspath(tmp_path / "one"))
  with pytest.raises(ValueError, match="threshold_method"):
    rechoose.run(calibrated_run, os.fspath(images),
                 options=rechoose.evaluation.Options(
                     threshold_method="saved"))


def test_command_line_without_saving(calibrated_run, images, tmp_path):
  saved = run_dir.read_threshold(calibrated_run)
  done = subprocess.run(
      [sys.executable, "-m", "trainer.choose_threshold",
       f"--model_dir={calibrated_run}", f"--images={images}",
       f"--output_dir={tmp_path}", "--threshold_method=youden",
       "--bootstrap=20", "--nosave"],
      cwd=helpers.REPO, capture_output=True, text=True,
      env=helpers.subprocess_env(), timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  n_images = len(list(images.rglob("*.jpeg")))
  assert f"(youden) on {n_images} images" in done.stdout
  assert "not saved" in done.stdout
  assert run_dir.read_threshold(calibrated_run) == saved
  assert thresholds.Choice.from_dict(json.loads(
      (tmp_path / rechoose.SUMMARY_FILENAME).read_text())["threshold"]
  ).method == "youden"
