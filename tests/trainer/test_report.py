"""metrics.json and report.md agree number for number."""

import copy
import dataclasses
import functools
import json
import math

import numpy as np
import pytest

from tests.trainer import evaluation_helpers
from trainer import bootstrap
from trainer import metrics
from trainer import calibration
from trainer import report
from trainer import shift
from trainer import thresholds

TYPES = ("normal", "bacterial", "viral", "covid19", "fungal", "other")


def _metrics_dict(multiclass: bool) -> dict:
  return copy.deepcopy(_cached_metrics_dict(multiclass))


@functools.cache
def _cached_metrics_dict(multiclass: bool) -> dict:
  """A metrics dict as evaluation makes it, from synthetic predictions."""
  rng = np.random.default_rng(0)
  n = 90
  types = rng.integers(0, 4, n)
  y = (types > 0).astype(int)
  raw = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
  s = raw
  groups = np.arange(n) // 2
  source = np.where(np.arange(n) % 3 == 0, "ieee8023", "kermany")
  view = np.where(np.arange(n) % 5 == 0, "PA", "AP")
  fitted = calibration.fit(y[:40], np.stack([1 - s[:40], s[:40]], axis=1))
  s = fitted.apply(np.stack([1 - s, s], axis=1))[:, 1]
  choice = thresholds.with_intervals(
      thresholds.for_sensitivity(y[:40], s[:40], 0.9), y[:40], s[:40],
      groups[:40], n_resamples=50)
  t = choice.threshold

  def with_ci(mask):
    return {"n": int(mask.sum()), "n_positive": int(y[mask].sum()),
            "n_patient_groups": int(np.unique(groups[mask]).size),
            "metrics": bootstrap.confidence_intervals(
                lambda i: metrics.binary_metrics(y[mask][i], s[mask][i], t),
                groups[mask], n_resamples=50)}

  overall = with_ci(np.ones(n, bool))
  choice = dataclasses.replace(choice, temperature=fitted.temperature)
  result = {
      "model_dir": "/tmp/run", "dataset": "pneumonia_xray/gray_96",
      "data_dir": None, "split": "test", "output_dir": "/tmp/out",
      "model": "small_resnet", "target": "pneumonia_type" if multiclass
      else "label", "image_size": 64, "channels": 1,
      "class_names": list(TYPES if multiclass else ("normal", "pneumonia")),
      "n_examples": n, "n_positive": int(y.sum()),
      "n_negative": int(n - y.sum()), "n_patient_groups": n // 2,
      "threshold": choice.to_dict(),
      "bootstrap": {"unit": "patient_group", "n_resamples": 50,
                    "confidence": 0.95, "seed": 0},
      "overall": overall["metrics"],
      "confusion_matrices": [
          {"name": str(x), **metrics.confusion_at(y, s, x)}
          for x in metrics.FIXED_THRESHOLDS]
      + [{"name": "chosen", **metrics.confusion_at(y, s, t)}],
      "calibration": {**metrics.calibration_summary(y, s),
                      "temperature": fitted.temperature,
                      "fitted": fitted.to_dict(),
                      "raw": metrics.calibration_summary(y, raw)},
      "shift": shift.check(choice.to_dict(), overall["metrics"]),
      "by_source": {v: with_ci(source == v) for v in ("ieee8023", "kermany")},
      "by_view": {v: with_ci(view == v) for v in ("AP", "PA")},
      "by_pneumonia_type": metrics.positive_rate_by_group(
          np.asarray(TYPES)[types], s >= t, order=TYPES),
  }
  if multiclass:
    p = rng.dirichlet(np.ones(6), n)
    result["multiclass"] = metrics.multiclass_metrics(types, p, TYPES)
  return result


def test_json_ready_rounds_metrics_but_not_thresholds():
  got = report.json_ready({
      "auc": np.float32(0.123456789), "threshold": 0.123456789,
      "nested": [{"threshold": np.float64(0.98765432101)}, math.nan],
      "count": np.int64(3), "inf": float("inf"), "flag": np.bool_(True),
      "matrix": np.array([[1, 2], [3, 4]])})
  assert got == {"auc": 0.1235, "threshold": 0.123456789,
                 "nested": [{"threshold": 0.98765432101}, None],
                 "count": 3, "inf": None, "flag": True,
                 "matrix": [[1, 2], [3, 4]]}
  json.dumps(got, allow_nan=False)
  with pytest.raises(TypeError):
    report.json_ready({"x": object()})


@pytest.mark.parametrize("multiclass", [False, True])
def test_report_numbers_equal_metrics_json(tmp_path, multiclass):
  written = report.write_metrics(_metrics_dict(multiclass), str(tmp_path))
  from_file = json.loads((tmp_path / "metrics.json").read_text())
  assert from_file == written
  path = report.write_markdown(from_file, {"roc": "roc.png"}, str(tmp_path))
  text = open(path, encoding="utf-8").read()
  checked = evaluation_helpers.assert_report_matches(text, from_file)
  assert checked > 40
  assert f"**{from_file['threshold']['threshold']:.4g}**" in text
  assert ("## Pneumonia type (multi-class)" in text) == multiclass


def test_figures_are_linked_when_given_only():
  m = report.json_ready(_metrics_dict(False))
  text = report.markdown(m, {"roc": "roc.png", "examples": "examples.png"})
  assert "![roc](roc.png)" in text and "![examples](examples.png)" in text
  assert "reliability.png" not in text
  # Page order follows FIGURES, whatever the dict order.
  assert text.index("roc.png") < text.index("examples.png")


def test_missing_values_print_as_na():
  m = report.json_ready(_metrics_dict(False))
  m["overall"]["roc_auc"] = {"value": None, "ci_low": None, "ci_high": None,
                             "n_resamples": 0}
  text = report.markdown(m, {})
  assert "| roc_auc | ROC AUC | n/a | n/a |" in text


def _with_reference(m: dict, sensitivity_ci, specificity_ci) -> dict:
  m = copy.deepcopy(m)
  m["threshold"]["sensitivity_ci"] = sensitivity_ci
  m["threshold"]["specificity_ci"] = specificity_ci
  m["shift"] = shift.check(m["threshold"], m["overall"])
  return m


def test_shift_paragraph_appears_only_outside_the_choosing_interval():
  m = report.json_ready(_metrics_dict(False))
  sensitivity = m["overall"]["sensitivity"]["value"]
  specificity = m["overall"]["specificity"]["value"]
  inside = _with_reference(m, [sensitivity - 0.01, sensitivity + 0.01],
                           [specificity - 0.01, specificity + 0.01])
  assert not inside["shift"]["shifted"]
  assert "did not carry over" not in report.markdown(inside, {})
  below = _with_reference(m, [sensitivity - 0.01, sensitivity + 0.01],
                          [specificity + 0.1, specificity + 0.2])
  assert below["shift"]["rates"]["specificity"]["side"] == "below"
  assert below["shift"]["rates"]["sensitivity"]["side"] is None
  text = report.markdown(report.json_ready(below), {})
  assert "**The operating point did not carry over.**" in text
  assert (f"specificity {specificity:.4f} is below the interval "
          f"{specificity + 0.1:.4f} to {specificity + 0.2:.4f} that "
          f"{m['threshold']['split']} gave") in text
  assert "pixel path" in text and "trainer.choose_threshold" in text
  # The paragraph stands beside the numbers: after the metrics table.
  assert text.index("## Metrics") < text.index("did not carry over") < (
      text.index("## Calibration"))
  above = _with_reference(m, [sensitivity - 0.2, sensitivity - 0.1], None)
  assert above["shift"]["rates"]["sensitivity"]["side"] == "above"
  # No interval recorded (an older threshold.json): nothing can be said.
  unknown = _with_reference(m, None, None)
  assert not unknown["shift"]["compared"] and not unknown["shift"]["shifted"]


def test_calibration_section_shows_raw_and_calibrated_figures():
  m = report.json_ready(_metrics_dict(False))
  text = report.markdown(m, {})
  c = m["calibration"]
  assert (f"| raw model output | {c['raw']['ece']:.4f} | "
          f"{c['raw']['brier']:.4f} |") in text
  assert (f"| calibrated (reported) | {c['ece']:.4f} | {c['brier']:.4f} |"
          in text)
  assert f"T = {c['fitted']['temperature']:.4g}" in text
