"""metrics and bootstrap: values against scikit-learn on fixed inputs."""

import math

import numpy as np
import pytest
from sklearn import calibration
from sklearn import metrics as sk_metrics

from trainer import bootstrap
from trainer import metrics

# Fixed inputs: 12 examples, both classes, ties, a score exactly at 0.5.
Y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
S = np.array([0.05, 0.2, 0.35, 0.5, 0.7, 0.3, 0.5, 0.55, 0.65, 0.8, 0.9, 0.9])


def _random(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  y = rng.integers(0, 2, n)
  return y, np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)


@pytest.mark.parametrize("threshold", [0.2, 0.5, 0.6, 0.65, 0.31])
@pytest.mark.parametrize("data", ["fixed", "random"])
def test_binary_metrics_equal_sklearn(threshold, data):
  y, s = (Y, S) if data == "fixed" else _random(300)
  called = (s >= threshold).astype(int)
  got = metrics.binary_metrics(y, s, threshold)
  assert list(got) == list(metrics.BINARY_METRICS)
  expected = {
      "roc_auc": sk_metrics.roc_auc_score(y, s),
      "pr_auc": sk_metrics.average_precision_score(y, s),
      "accuracy": sk_metrics.accuracy_score(y, called),
      "f1": sk_metrics.f1_score(y, called),
      "sensitivity": sk_metrics.recall_score(y, called),
      "specificity": sk_metrics.recall_score(y, called, pos_label=0),
      "ppv": sk_metrics.precision_score(y, called),
      "npv": sk_metrics.precision_score(y, called, pos_label=0),
  }
  for name, value in expected.items():
    assert got[name] == pytest.approx(value, abs=1e-12), name


def test_fixed_values_by_hand():
  # At 0.5: called 0.5, 0.7 (negatives) and 0.5 ... 0.9 (6 positives).
  got = metrics.confusion_counts(Y, S, 0.5)
  assert got == {"tn": 3, "fp": 2, "fn": 1, "tp": 6}
  rates = metrics.rates(got)
  assert rates["sensitivity"] == pytest.approx(6 / 7)
  assert rates["specificity"] == pytest.approx(3 / 5)
  assert rates["npv"] == pytest.approx(3 / 4)


def test_undefined_metrics_are_nan():
  got = metrics.binary_metrics([1, 1, 1], [0.2, 0.6, 0.9], 0.5)
  assert math.isnan(got["roc_auc"]) and math.isnan(got["pr_auc"])
  assert math.isnan(got["specificity"])  # no negatives
  assert got["sensitivity"] == pytest.approx(2 / 3)
  nothing_called = metrics.binary_metrics(Y, S, 0.95)
  assert math.isnan(nothing_called["ppv"])
  assert nothing_called["specificity"] == 1.0


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match="0 and 1"):
    metrics.binary_metrics([0, 2], [0.1, 0.2], 0.5)
  with pytest.raises(ValueError, match="length"):
    metrics.binary_metrics([0, 1], [0.1], 0.5)
  with pytest.raises(ValueError, match="finite"):
    metrics.binary_metrics([0, 1], [0.1, np.nan], 0.5)


def test_confusion_at_matches_sklearn_layout():
  entry = metrics.confusion_at(Y, S, 0.6)
  expected = sk_metrics.confusion_matrix(Y, (S >= 0.6).astype(int))
  assert entry["matrix"] == expected.tolist()
  assert entry["threshold"] == 0.6
  assert [entry[k] for k in ("tn", "fp", "fn", "tp")] == expected.ravel(
  ).tolist()


def test_calibration_against_sklearn_and_by_hand():
  y, s = _random(500, seed=3)
  got = metrics.calibration_summary(y, s, n_bins=10)
  fraction, mean = calibration.calibration_curve(y, s, n_bins=10)
  np.testing.assert_allclose([b["fraction_positive"] for b in got["bins"]],
                             fraction)
  np.testing.assert_allclose([b["mean_score"] for b in got["bins"]], mean)
  assert sum(b["count"] for b in got["bins"]) == y.size
  assert got["brier"] == pytest.approx(sk_metrics.brier_score_loss(y, s))
  # ECE by hand on two bins: [0, 0.5) holds 0.1, 0.2 (one positive),
  # [0.5, 1] holds 0.9, 0.9 (both positive).
  small = metrics.calibration_summary([0, 1, 1, 1], [0.1, 0.2, 0.9, 0.9],
                                      n_bins=2)
  expected = 0.5 * abs(0.5 - 0.15) + 0.5 * abs(1.0 - 0.9)
  assert small["ece"] == pytest.approx(expected)
  perfect = metrics.calibration_summary([0, 0, 1, 1], [0.0, 0.0, 1.0, 1.0])
  assert perfect["ece"] == 0.0 and perfect["brier"] == 0.0


def test_multiclass_equals_sklearn_when_all_classes_present():
  rng = np.random.default_rng(1)
  names = ("normal", "bacterial", "viral", "covid19")
  y = np.tile(np.arange(4), 25)
  logits = rng.normal(size=(100, 4)) + 1.5 * np.eye(4)[y]
  p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  got = metrics.multiclass_metrics(y, p, names)
  called = p.argmax(axis=1)
  assert got["macro_roc_auc_ovr"] == pytest.approx(sk_metrics.roc_auc_score(
      y, p, multi_class="ovr", average="macro"))
  assert got["accuracy"] == pytest.approx(sk_metrics.accuracy_score(y, called))
  assert got["macro_f1"] == pytest.approx(
      sk_metrics.f1_score(y, called, average="macro"))
  assert got["balanced_accuracy"] == pytest.approx(
      sk_metrics.balanced_accuracy_score(y, called))
  assert got["confusion_matrix"] == sk_metrics.confusion_matrix(
      y, called).tolist()
  for c, name in enumerate(names):
    assert got["per_class"][name]["roc_auc_ovr"] == pytest.approx(
        sk_metrics.roc_auc_score(y == c, p[:, c]))
    assert got["per_class"][name]["support"] == 25


def test_multiclass_absent_class_has_no_auc():
  names = ("normal", "bacterial", "fungal")
  y = np.array([0, 0, 1, 1])
  p = np.array([[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.3, 0.6, 0.1],
                [0.6, 0.3, 0.1]])
  got = metrics.multiclass_metrics(y, p, names)
  assert math.isnan(got["per_class"]["fungal"]["roc_auc_ovr"])
  assert got["macro_roc_auc_ovr"] == pytest.approx(np.mean(
      [sk_metrics.roc_auc_score(y == c, p[:, c]) for c in (0, 1)]))
  assert np.asarray(got["confusion_matrix"]).shape == (3, 3)


def test_positive_rate_by_group_in_given_order():
  got = metrics.positive_rate_by_group(
      ["viral", "normal", "viral", "covid19"], [1, 0, 0, 1],
      order=("normal", "bacterial", "viral", "covid19"))
  assert list(got) == ["normal", "viral", "covid19"]
  assert got["viral"] == {"n": 2, "called_positive": 1,
                          "fraction_called_positive": 0.5}


# Bootstrap.


def _auc_statistic(y, s):
  return lambda i: metrics.ranking_metrics(y[i], s[i])


def test_interval_contains_point_estimate():
  y, s = _random(200, seed=5)
  groups = np.arange(200) // 2  # two images per patient
  got = bootstrap.confidence_intervals(_auc_statistic(y, s), groups,
                                       n_resamples=200, seed=0)
  for entry in got.values():
    assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    assert entry["n_resamples"] == 200
  assert got["roc_auc"]["value"] == pytest.approx(
      sk_metrics.roc_auc_score(y, s))


def test_interval_narrows_with_more_samples():
  widths = []
  for n in (50, 400, 3200):
    y, s = _random(n, seed=7)
    got = bootstrap.confidence_intervals(
        lambda i, y=y, s=s: metrics.binary_metrics(y[i], s[i], 0.5),
        np.arange(n), n_resamples=100, seed=0)
    widths.append({k: v["ci_high"] - v["ci_low"] for k, v in got.items()})
  for name in metrics.BINARY_METRICS:
    assert widths[0][name] > widths[1][name] > widths[2][name], name


def test_resamples_whole_groups():
  groups = np.repeat(["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5])
  members = bootstrap.group_indices(groups)
  assert [len(m) for m in members] == [1, 2, 3, 4, 5]
  rng = np.random.default_rng(0)
  for _ in range(50):
    indices = bootstrap.resample_indices(members, rng)
    drawn = groups[indices]
    for group in set(drawn.tolist()):
      # A drawn group brings all its images, as many times as it was drawn.
      size = int((groups == group).sum())
      assert (drawn == group).sum() % size == 0


def test_patient_resampling_is_wider_than_image_resampling():
  """Perfectly correlated images of one patient must not count as many."""
  rng = np.random.default_rng(2)
  patient_y = rng.integers(0, 2, 40)
  patient_s = np.clip(0.3 * patient_y + 0.7 * rng.random(40), 0, 1)
  y, s = np.repeat(patient_y, 10), np.repeat(patient_s, 10)
  statistic = _auc_statistic(y, s)
  by_patient = bootstrap.confidence_intervals(
      statistic, np.repeat(np.arange(40), 10), n_resamples=150)["roc_auc"]
  by_image = bootstrap.confidence_intervals(
      statistic, np.arange(400), n_resamples=150)["roc_auc"]
  assert (by_patient["ci_high"] - by_patient["ci_low"]) > 2 * (
      by_image["ci_high"] - by_image["ci_low"])


def test_seeded_and_nan_tolerant():
  y, s = _random(30, seed=4)
  groups = np.arange(30)
  first = bootstrap.confidence_intervals(_auc_statistic(y, s), groups,
                                         n_resamples=100, seed=3)
  again = bootstrap.confidence_intervals(_auc_statistic(y, s), groups,
                                         n_resamples=100, seed=3)
  assert first == again
  # One positive in 30: many resamples lack it and their AUC is NaN.
  y_rare = np.zeros(30, int)
  y_rare[0] = 1
  rare = bootstrap.confidence_intervals(_auc_statistic(y_rare, s), groups,
                                        n_resamples=100)["roc_auc"]
  assert 0 < rare["n_resamples"] < 100
  only_points = bootstrap.confidence_intervals(_auc_statistic(y, s), groups,
                                               n_resamples=0)["roc_auc"]
  assert math.isnan(only_points["ci_low"]) and not math.isnan(
      only_points["value"])
