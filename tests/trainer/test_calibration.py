"""trainer.calibration: temperature scaling, against its definition."""

import numpy as np
import pytest
from scipy import special
from sklearn import metrics as sk_metrics

from trainer import calibration


def _binary(n: int, true_temperature: float, seed: int = 0):
  """Outputs of a model whose logits are true_temperature times too large."""
  rng = np.random.default_rng(seed)
  z = rng.normal(0.0, 3.0, n)
  y = (rng.random(n) < special.expit(z / true_temperature)).astype(int)
  p = special.expit(z)
  return y, np.stack([1 - p, p], axis=1)


def _multiclass(n: int, k: int, true_temperature: float, seed: int = 0):
  rng = np.random.default_rng(seed)
  z = rng.normal(0.0, 2.0, (n, k))
  truth = special.softmax(z / true_temperature, axis=1)
  y = np.array([rng.choice(k, p=row) for row in truth])
  return y, special.softmax(z, axis=1)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_recovers_the_temperature_of_an_overconfident_binary_model(
    true_temperature):
  y, p = _binary(20000, true_temperature)
  fitted = calibration.fit(y, p, split="validation")
  assert fitted.temperature == pytest.approx(true_temperature, rel=0.08)
  assert fitted.nll_after <= fitted.nll_before + 1e-12
  assert fitted.split == "validation" and fitted.n == y.size


def test_fit_recovers_the_temperature_of_a_softmax():
  y, p = _multiclass(8000, 4, 2.0)
  assert calibration.fit(y, p).temperature == pytest.approx(2.0, rel=0.1)


def test_the_fitted_temperature_minimises_the_log_likelihood():
  y, p = _binary(3000, 1.7, seed=3)
  fitted = calibration.fit(y, p)

  def nll(t):
    return sk_metrics.log_loss(y, calibration.scale(p, t)[:, 1])

  assert fitted.nll_after == pytest.approx(nll(fitted.temperature), abs=1e-9)
  for other in (fitted.temperature * 0.9, fitted.temperature * 1.1):
    assert nll(other) > fitted.nll_after


def test_scaling_is_the_tempered_sigmoid_and_changes_no_ranking():
  y, p = _binary(2000, 3.0, seed=1)
  scaled = calibration.scale(p, 3.0)
  z = special.logit(np.clip(p[:, 1], calibration.EPSILON,
                            1 - calibration.EPSILON))
  np.testing.assert_allclose(scaled[:, 1], special.expit(z / 3.0), atol=1e-12)
  np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
  assert sk_metrics.roc_auc_score(y, scaled[:, 1]) == pytest.approx(
      sk_metrics.roc_auc_score(y, p[:, 1]), abs=1e-12)
  order = np.argsort(p[:, 1], kind="stable")
  assert np.all(np.diff(scaled[order, 1]) >= 0)
  # Temperature 1 leaves the probabilities as they are.
  np.testing.assert_allclose(calibration.scale(p, 1.0), p, atol=1e-6)


def test_saturated_outputs_stay_finite_and_ordered():
  p1 = np.array([0.0, 1e-12, 0.5, 1 - 1e-12, 1.0])
  scaled = calibration.scale(np.stack([1 - p1, p1], axis=1), 2.0)[:, 1]
  assert np.all(np.isfinite(scaled))
  assert np.all(np.diff(scaled) >= 0) and 0 < scaled[0] < 0.5 < scaled[-1] < 1


def test_multiclass_scaling_keeps_each_rows_arg_max():
  _, p = _multiclass(500, 6, 1.0)
  for t in (0.3, 2.0, 10.0):
    np.testing.assert_array_equal(calibration.scale(p, t).argmax(axis=1),
                                  p.argmax(axis=1))


def test_round_trips_through_a_dict():
  y, p = _binary(500, 2.0)
  fitted = calibration.fit(y, p)
  assert calibration.Calibration.from_dict(
      {**fitted.to_dict(), "unknown": 1}) == fitted


def test_bad_inputs_raise():
  y, p = _binary(100, 1.0)
  with pytest.raises(ValueError, match="two classes"):
    calibration.fit(np.ones_like(y), p)
  with pytest.raises(ValueError, match="equally long"):
    calibration.fit(y[:-1], p)
  with pytest.raises(ValueError, match="class ids"):
    calibration.fit(y + 2, p)
  with pytest.raises(ValueError, match="positive"):
    calibration.scale(p, 0.0)
  with pytest.raises(ValueError, match="shape"):
    calibration.scale(p[:, 1], 1.0)
