"""Threshold selection on validation predictions, and threshold.json."""

import dataclasses
import json

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from trainer import metrics
from trainer import run_dir
from trainer import thresholds


def _validation(n: int = 200, seed: int = 0):
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, n)
  return y, np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)


def _rates(y, s, threshold):
  return metrics.rates(metrics.confusion_counts(y, s, threshold))


def _candidates(s):
  return np.concatenate([[np.nextafter(s.max(), np.inf)], np.unique(s)])


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 0.99, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_target_sensitivity_is_reached_on_validation(target, seed):
  y, s = _validation(seed=seed)
  choice = thresholds.for_sensitivity(y, s, target)
  reached = _rates(y, s, choice.threshold)
  assert reached["sensitivity"] >= target
  assert choice.sensitivity == pytest.approx(reached["sensitivity"])
  assert choice.specificity == pytest.approx(reached["specificity"])
  assert choice.method == "sensitivity" and choice.split == "validation"
  assert choice.target_sensitivity == target
  # The highest such threshold: the next distinct score above misses it.
  higher = s[s > choice.threshold]
  if higher.size:
    assert _rates(y, s, higher.min())["sensitivity"] < target


def test_target_sensitivity_exact_fraction():
  # 20 positives: 19/20 = 0.95 must count as reaching 0.95.
  y = np.array([1] * 20 + [0] * 5)
  s = np.array(list(np.linspace(0.3, 0.9, 20)) + [0.1, 0.2, 0.4, 0.5, 0.6])
  choice = thresholds.for_sensitivity(y, s, 0.95)
  assert choice.sensitivity == 0.95
  assert choice.threshold == pytest.approx(np.linspace(0.3, 0.9, 20)[1])


def test_youden_maximises_j_over_every_threshold():
  y, s = _validation(seed=4)
  choice = thresholds.youden(y, s)
  best = max(_rates(y, s, t)["sensitivity"] + _rates(y, s, t)["specificity"]
             for t in _candidates(s))
  assert choice.sensitivity + choice.specificity == pytest.approx(best)
  # The same optimum as read off sklearn's ROC curve.
  fpr, tpr, _ = sk_metrics.roc_curve(y, s)
  assert best - 1 == pytest.approx(np.max(tpr - fpr))


@pytest.mark.parametrize("cost_fn,cost_fp", [(1, 1), (5, 1), (1, 5), (20, 1)])
def test_cost_minimises_expected_cost(cost_fn, cost_fp):
  y, s = _validation(seed=5)

  def cost(t):
    counts = metrics.confusion_counts(y, s, t)
    return cost_fn * counts["fn"] + cost_fp * counts["fp"]

  choice = thresholds.for_cost(y, s, cost_fn, cost_fp)
  assert cost(choice.threshold) == min(cost(t) for t in _candidates(s))
  assert (choice.cost_fn, choice.cost_fp) == (cost_fn, cost_fp)


def test_costlier_misses_lower_the_threshold():
  y, s = _validation(seed=6)
  assert (thresholds.for_cost(y, s, 10, 1).threshold
          <= thresholds.for_cost(y, s, 1, 1).threshold
          <= thresholds.for_cost(y, s, 1, 10).threshold)


def test_calling_nothing_is_a_finite_choice():
  y = np.array([0, 0, 0, 1])
  s = np.array([0.9, 0.8, 0.7, 0.1])
  choice = thresholds.for_cost(y, s, cost_fn=1, cost_fp=1)
  assert np.isfinite(choice.threshold) and choice.threshold > s.max()
  assert choice.sensitivity == 0 and choice.specificity == 1


def test_choose_dispatches_and_validates():
  y, s = _validation()
  assert thresholds.choose("youden", y, s) == thresholds.youden(y, s)
  assert thresholds.choose("sensitivity", y, s, target_sensitivity=0.9) == (
      thresholds.for_sensitivity(y, s, 0.9))
  assert thresholds.choose("cost", y, s, cost_fn=3, cost_fp=1) == (
      thresholds.for_cost(y, s, 3, 1))
  with pytest.raises(ValueError, match="not one of"):
    thresholds.choose("f1", y, s)
  with pytest.raises(ValueError, match="both classes"):
    thresholds.youden(np.ones(5, int), np.linspace(0, 1, 5))
  with pytest.raises(ValueError, match=r"\(0, 1\]"):
    thresholds.for_sensitivity(y, s, 0.0)
  with pytest.raises(ValueError, match="costs"):
    thresholds.for_cost(y, s, 0, 0)


def test_write_and_read_round_trip(tmp_path):
  assert run_dir.read_threshold(str(tmp_path)) is None
  y, s = _validation()
  choice = dataclasses.replace(
      thresholds.for_sensitivity(y, s, 0.95), dataset="pneumonia_xray/gray_96",
      dataset_version="1.0.0", model_sha256="ab" * 32)
  path = run_dir.write_threshold(choice, str(tmp_path))
  assert path == str(tmp_path / run_dir.THRESHOLD)
  saved = json.loads((tmp_path / "threshold.json").read_text())
  assert saved["threshold"] == choice.threshold  # exact, not rounded
  assert (saved["split"], saved["method"], saved["dataset"]) == (
      "validation", "sensitivity", "pneumonia_xray/gray_96")
  assert run_dir.read_threshold(str(tmp_path)) == choice
