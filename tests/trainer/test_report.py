"""metrics.json and report.md agree number for number."""

import copy
import functools
import json
import math

import numpy as np
import pytest

from tests.trainer import evaluation_helpers
from trainer import bootstrap
from trainer import metrics
from trainer import report
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
  s = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
  groups = np.arange(n) // 2
  source = np.where(np.arange(n) % 3 == 0, "ieee8023", "kermany")
  view = np.where(np.arange(n) % 5 == 0, "PA", "AP")
  choice = thresholds.for_sensitivity(y[:40], s[:40], 0.9)
  t = choice.threshold

  def with_ci(mask):
    return {"n": int(mask.sum()), "n_positive": int(y[mask].sum()),
            "n_patient_groups": int(np.unique(groups[mask]).size),
            "metrics": bootstrap.confidence_intervals(
                lambda i: metrics.binary_metrics(y[mask][i], s[mask][i], t),
                groups[mask], n_resamples=50)}

  overall = with_ci(np.ones(n, bool))
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
      "calibration": metrics.calibration_summary(y, s),
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
  assert repr(from_file["threshold"]["threshold"]) in text
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
