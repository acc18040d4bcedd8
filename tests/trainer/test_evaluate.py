"""trainer.evaluate end to end on a tiny trained model and the tiny build."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest
from sklearn import metrics as sk_metrics
import tensorflow_datasets as tfds

from tests.trainer import evaluation_helpers
from tests.trainer import helpers
from trainer import calibration
from trainer import evaluate
from trainer import metrics
from trainer import report
from trainer import run_dir
from trainer import split_scores
from trainer import thresholds

N_BOOTSTRAP = 100
FIGURES = ("roc", "pr", "threshold_curves", "confusion", "reliability",
           "training_curves", "examples")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory, tiny_data_dir):
  model_dir = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir)
  output_dir = tmp_path_factory.mktemp("evaluation_binary")
  result = evaluate.evaluate(
      model_dir, os.fspath(tiny_data_dir), "test", os.fspath(output_dir),
      threshold_method="sensitivity", target_sensitivity=0.95,
      n_bootstrap=N_BOOTSTRAP)
  return model_dir, output_dir, result


@pytest.fixture(scope="module")
def multiclass_run(tmp_path_factory, tiny_data_dir):
  model_dir = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir,
                                             "pneumonia_type")
  output_dir = tmp_path_factory.mktemp("evaluation_types")
  result = evaluate.evaluate(
      model_dir, os.fspath(tiny_data_dir), "test", os.fspath(output_dir),
      threshold_method="youden", n_bootstrap=20)
  return model_dir, output_dir, result


def _predictions(output_dir) -> list[dict[str, str]]:
  with open(output_dir / split_scores.PREDICTIONS_FILENAME,
            encoding="utf-8") as f:
    return list(csv.DictReader(f))


def test_writes_metrics_report_predictions_and_figures(binary_run,
                                                       tiny_data_dir):
  _, output_dir, result = binary_run
  test_size = tfds.builder("pneumonia_xray/gray_96", data_dir=os.fspath(
      tiny_data_dir)).info.splits["test"].num_examples
  assert json.loads((output_dir / "metrics.json").read_text()) == result
  assert (output_dir / "report.md").exists()
  for name in FIGURES:
    with Image.open(output_dir / f"{name}.png") as image:
      assert image.format == "PNG" and min(image.size) > 100
  rows = _predictions(output_dir)
  assert len(rows) == result["n_examples"] == test_size


def test_report_numbers_equal_metrics_json(binary_run):
  _, output_dir, result = binary_run
  text = (output_dir / "report.md").read_text()
  assert evaluation_helpers.assert_report_matches(text, result) > 40
  for name in FIGURES:
    assert f"]({name}.png)" in text


def test_metrics_equal_sklearn_on_the_predictions(binary_run):
  _, output_dir, result = binary_run
  rows = _predictions(output_dir)
  y = np.array([r["label"] == "pneumonia" for r in rows], int)
  s = np.array([float(r["p_pneumonia"]) for r in rows])
  t = result["threshold"]["threshold"]
  overall = result["overall"]
  assert overall["roc_auc"]["value"] == pytest.approx(
      sk_metrics.roc_auc_score(y, s), abs=5e-5)
  assert overall["pr_auc"]["value"] == pytest.approx(
      sk_metrics.average_precision_score(y, s), abs=5e-5)
  assert overall["sensitivity"]["value"] == pytest.approx(
      sk_metrics.recall_score(y, s >= t), abs=5e-5)
  assert overall["specificity"]["value"] == pytest.approx(
      sk_metrics.recall_score(y, s >= t, pos_label=0), abs=5e-5)
  assert result["calibration"]["brier"] == pytest.approx(
      sk_metrics.brier_score_loss(y, s), abs=5e-5)
  assert [r["called_pneumonia"] for r in rows] == [
      str(int(v >= t)) for v in s]


def test_intervals_resample_patients_and_contain_the_estimate(binary_run):
  _, _, result = binary_run
  assert result["bootstrap"] == {"unit": "patient_group",
                                 "n_resamples": N_BOOTSTRAP,
                                 "confidence": 0.95, "seed": 0}
  assert set(result["overall"]) == set(metrics.BINARY_METRICS)
  for name, entry in result["overall"].items():
    if entry["ci_low"] is not None:
      assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], name


def test_confusion_matrices_at_fixed_and_chosen_thresholds(binary_run):
  _, _, result = binary_run
  entries = result["confusion_matrices"]
  assert [e["name"] for e in entries] == ["0.2", "0.5", "0.6", "0.65",
                                          "chosen"]
  assert entries[-1]["threshold"] == result["threshold"]["threshold"]
  for entry in entries:
    assert np.asarray(entry["matrix"]).sum() == result["n_examples"]


def test_per_source_and_per_view_metrics(binary_run):
  _, _, result = binary_run
  # The tiny test split holds Kermany and ieee8023 images.
  assert set(result["by_source"]) == {"kermany", "ieee8023"}
  for groups in (result["by_source"], result["by_view"]):
    assert sum(g["n"] for g in groups.values()) == result["n_examples"]
    for group in groups.values():
      assert set(group["metrics"]) == set(metrics.BINARY_METRICS)
  # All ieee8023 test images have pneumonia: no specificity there.
  ieee = result["by_source"]["ieee8023"]
  assert ieee["n_positive"] == ieee["n"]
  assert ieee["metrics"]["specificity"]["value"] is None
  assert sum(e["n"] for e in result["by_pneumonia_type"].values()) == (
      result["n_examples"])


def test_threshold_is_chosen_on_validation_and_saved(binary_run,
                                                     tiny_data_dir):
  model_dir, _, result = binary_run
  saved = run_dir.read_threshold(model_dir)
  assert saved is not None
  assert report.json_ready(saved.to_dict()) == result["threshold"]
  assert saved.split == "validation" and saved.method == "sensitivity"
  # What it was chosen on, and for which model file.
  assert saved.dataset == "pneumonia_xray/gray_96"
  assert saved.dataset_version == str(tfds.builder(
      "pneumonia_xray/gray_96", data_dir=os.fspath(tiny_data_dir)).version)
  assert saved.model_sha256 == run_dir.model_sha256(model_dir)
  # The target is reached on the (calibrated) validation predictions.
  validation = _split_predictions(model_dir, tiny_data_dir, "validation",
                                  calibrated=True)
  reached = metrics.rates(metrics.confusion_counts(
      validation.label, validation.scores, saved.threshold))
  assert reached["sensitivity"] >= 0.95
  assert reached["sensitivity"] == pytest.approx(saved.sensitivity)


def _split_predictions(model_dir, tiny_data_dir, split, calibrated=False):
  trained = run_dir.load(model_dir)
  config = split_scores.eval_input_config(trained, None,
                                          os.fspath(tiny_data_dir), 32)
  return split_scores.predict_split(
      trained, config, split, trained.calibration if calibrated else None)


def test_calibration_is_fitted_on_validation_only_and_changes_no_ranking(
    binary_run, tiny_data_dir):
  model_dir, output_dir, result = binary_run
  saved = run_dir.read_calibration(model_dir)
  assert saved.split == "validation" and saved.method == "temperature"
  assert saved.model_sha256 == run_dir.model_sha256(model_dir)
  # Refitted from the validation outputs alone, it is the same temperature.
  validation = _split_predictions(model_dir, tiny_data_dir, "validation")
  assert saved.n == validation.label.size
  refit = calibration.fit(validation.label, validation.raw_probabilities)
  assert saved.temperature == pytest.approx(refit.temperature, rel=1e-9)
  assert saved.temperature != pytest.approx(1.0, abs=1e-3)
  # The threshold is on the calibrated scale, and calls the validation
  # images a threshold on the raw scores would call.
  choice = run_dir.read_threshold(model_dir)
  assert choice.temperature == saved.temperature
  raw_choice = thresholds.for_sensitivity(validation.label, validation.scores,
                                          0.95)
  assert (choice.sensitivity, choice.specificity) == (
      raw_choice.sensitivity, raw_choice.specificity)
  # The reported scores are the raw ones, monotonically remapped.
  test = _split_predictions(model_dir, tiny_data_dir, "test")
  rows = _predictions(output_dir)
  reported = np.array([float(r["p_pneumonia"]) for r in rows])
  order = np.argsort(test.raw_scores, kind="stable")
  assert np.all(np.diff(reported[order]) >= 0)
  assert not np.allclose(reported, test.raw_scores, atol=1e-3)
  assert result["overall"]["roc_auc"]["value"] == pytest.approx(
      sk_metrics.roc_auc_score(test.label, test.raw_scores), abs=5e-5)
  called = np.array([r["called_pneumonia"] == "1" for r in rows])
  raw_threshold = np.min(test.raw_scores[called]) if called.any() else None
  if raw_threshold is not None:
    np.testing.assert_array_equal(called, test.raw_scores >= raw_threshold)


def test_report_shows_calibration_before_and_after(binary_run, tiny_data_dir):
  model_dir, _, result = binary_run
  c = result["calibration"]
  test = _split_predictions(model_dir, tiny_data_dir, "test")
  raw = metrics.calibration_summary(test.label, test.raw_scores)
  assert c["raw"]["ece"] == pytest.approx(raw["ece"], abs=5e-5)
  assert c["temperature"] == c["fitted"]["temperature"]
  calibrated = test.calibrated(run_dir.read_calibration(model_dir))
  assert c["brier"] == pytest.approx(sk_metrics.brier_score_loss(
      test.label, calibrated.scores), abs=5e-5)


def test_uncalibrated_evaluation_leaves_the_raw_scores(binary_run,
                                                      tiny_data_dir, tmp_path):
  model_dir, _, _ = binary_run
  result = evaluate.evaluate(model_dir, os.fspath(tiny_data_dir), "test",
                             os.fspath(tmp_path), calibrate=False,
                             save_threshold=False, n_bootstrap=0,
                             examples_per_kind=0)
  assert result["calibration"]["fitted"] is None
  assert result["threshold"]["temperature"] is None
  test = _split_predictions(model_dir, tiny_data_dir, "test")
  assert result["calibration"]["ece"] == pytest.approx(
      metrics.calibration_summary(test.label, test.raw_scores)["ece"],
      abs=5e-5)
  assert "Raw model outputs (no calibration fitted)" in (
      tmp_path / "report.md").read_text()


def test_refuses_to_choose_the_threshold_on_the_reported_split(
    binary_run, tiny_data_dir, tmp_path):
  model_dir, _, _ = binary_run
  with pytest.raises(ValueError, match="another split"):
    evaluate.evaluate(model_dir, os.fspath(tiny_data_dir), "validation",
                      os.fspath(tmp_path), n_bootstrap=0)
  with pytest.raises(ValueError, match="another split"):
    evaluate.evaluate(model_dir, os.fspath(tiny_data_dir), "test[:50%]",
                      os.fspath(tmp_path), threshold_split="test[50%:]",
                      n_bootstrap=0)
  # A saved threshold chosen on validation cannot report on validation.
  with pytest.raises(ValueError, match="split being reported"):
    evaluate.evaluate(model_dir, os.fspath(tiny_data_dir), "validation",
                      os.fspath(tmp_path), threshold_method="saved",
                      n_bootstrap=0)


def test_saved_threshold_is_reused(binary_run, tiny_data_dir, tmp_path):
  model_dir, _, result = binary_run
  again = evaluate.evaluate(model_dir, os.fspath(tiny_data_dir), "test",
                            os.fspath(tmp_path), threshold_method="saved",
                            n_bootstrap=0, examples_per_kind=0)
  assert again["threshold"] == result["threshold"]
  assert again["overall"]["sensitivity"]["value"] == (
      result["overall"]["sensitivity"]["value"])
  assert again["overall"]["sensitivity"]["ci_low"] is None  # no bootstrap
  assert not (tmp_path / "examples.png").exists()


def test_bad_options_and_model_dirs(tmp_path, tiny_data_dir):
  with pytest.raises(ValueError, match="threshold_method"):
    evaluate.evaluate(os.fspath(tmp_path), threshold_method="f1")
  with pytest.raises(ValueError, match="not a finished training run"):
    evaluate.evaluate(os.fspath(tmp_path), os.fspath(tiny_data_dir))


def test_multiclass_model(multiclass_run):
  _, output_dir, result = multiclass_run
  mc = result["multiclass"]
  assert result["class_names"] == ["normal", "bacterial", "viral", "covid19",
                                   "fungal", "other"]
  matrix = np.asarray(mc["confusion_matrix"])
  assert matrix.shape == (6, 6) and matrix.sum() == result["n_examples"]
  assert set(mc["per_class"]) == set(result["class_names"])
  present = [e["roc_auc_ovr"] for e in mc["per_class"].values()
             if e["roc_auc_ovr"] is not None]
  assert mc["macro_roc_auc_ovr"] == pytest.approx(np.mean(present), abs=1e-3)
  rows = _predictions(output_dir)
  assert "p_covid19" in rows[0]
  for row in rows[:3]:
    p_normal = float(row["p_normal"])
    assert float(row["p_pneumonia"]) == pytest.approx(1 - p_normal)
  assert (output_dir / "confusion_types.png").exists()
  text = (output_dir / "report.md").read_text()
  evaluation_helpers.assert_report_matches(text, result)
  # The types with patient-bootstrap intervals, bacterial vs viral by folder.
  types = result["types"]
  assert set(types["per_class"]) <= set(result["class_names"])
  assert types["bootstrap"]["n_resamples"] == 20
  by_folder = types["bacterial_vs_viral"]["by_kermany_folder"]
  assert sum(e["n"] for e in by_folder.values()) == (
      types["bacterial_vs_viral"]["overall"]["n"])
  assert "## Pneumonia types with intervals" in text


def test_command_line(binary_run, tiny_data_dir, tmp_path):
  model_dir, _, _ = binary_run
  command = [sys.executable, "-m", "trainer.evaluate",
             f"--model_dir={model_dir}", f"--data_dir={tiny_data_dir}",
             f"--output_dir={tmp_path}", "--threshold_method=cost",
             "--cost_fn=10", "--cost_fp=1", "--bootstrap=5",
             "--examples_per_kind=1", "--nosave_threshold"]
  saved = run_dir.read_threshold(model_dir)
  done = subprocess.run(command, cwd=helpers.REPO, capture_output=True,
                        text=True, env=helpers.subprocess_env(), timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "report in" in done.stdout
  result = json.loads((tmp_path / "metrics.json").read_text())
  assert result["threshold"]["method"] == "cost"
  assert result["threshold"]["cost_fn"] == 10
  assert run_dir.read_threshold(model_dir) == saved  # --nosave_threshold
  bad = subprocess.run(command[:6] + ["--split=validation"],
                       cwd=helpers.REPO, capture_output=True, text=True,
                       env=helpers.subprocess_env(), timeout=300)
  assert bad.returncode != 0
  assert "another split" in bad.stderr
