"""Temperature scaling: probabilities that mean what they say.

A network trained to a low cross-entropy on its training split is
over-confident on other images: the default run put nearly every test image
in the top reliability bin and chose a threshold of 0.992. Temperature
scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks")
divides the output logits by one number T, fitted on the validation split by
minimising the negative log-likelihood. It is chosen over Platt scaling,
isotonic regression or histogram binning because one parameter cannot
overfit the few hundred validation images, it never reorders two images (so
AUCs and which images a threshold calls are unchanged) and it applies to the
sigmoid head and the softmax head alike, in numpy and in the serving graph.

The model's heads output probabilities (sigmoid or softmax, in float32); the
logits are recovered as log(p) - log(1 - p) (sigmoid) or log(p) (softmax:
softmax is unchanged by a constant added to every logit). Probabilities are
clipped to [EPSILON, 1 - EPSILON] first: float32 rounds a sigmoid above
logit ~16.6 to exactly 1, so higher logits are tied anyway.
"""

import dataclasses
from typing import Any, Optional

import numpy as np
from scipy import optimize

METHOD = "temperature"
EPSILON = 1e-7
# log(T) is searched in this range: T from 1/100 to 100, far beyond any
# fitted value, and a bounded search cannot wander off on separable data
# (where the likelihood keeps improving as T -> 0).
_LOG_T_BOUNDS = (-np.log(100.0), np.log(100.0))


def logits(probabilities: np.ndarray) -> np.ndarray:
  """(N, K) class probabilities -> (N, K) logits (see the module docstring).

  For K = 2 (a sigmoid head's [1 - p, p]) the logits are [0, logit(p)], so
  that softmax(logits / T) is the temperature-scaled sigmoid.
  """
  p = np.clip(np.asarray(probabilities, np.float64), EPSILON, 1.0 - EPSILON)
  if p.ndim != 2 or p.shape[1] < 2:
    raise ValueError(f"probabilities must have shape (N, K >= 2), got "
                     f"{p.shape}")
  if p.shape[1] == 2:
    z = np.log(p[:, 1]) - np.log1p(-p[:, 1])
    return np.stack([np.zeros_like(z), z], axis=1)
  return np.log(p)


def _softmax(z: np.ndarray) -> np.ndarray:
  z = z - z.max(axis=1, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis=1, keepdims=True)


def _nll(z: np.ndarray, y: np.ndarray, temperature: float) -> float:
  scaled = z / temperature
  shifted = scaled - scaled.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(shifted).sum(axis=1))
  return float(np.mean(log_norm - shifted[np.arange(y.size), y]))


def scale(probabilities: np.ndarray, temperature: float) -> np.ndarray:
  """Temperature-scaled (N, K) probabilities; T = 1 returns them (clipped)."""
  if not temperature > 0:
    raise ValueError(f"temperature must be positive, got {temperature}")
  return _softmax(logits(probabilities) / temperature)


@dataclasses.dataclass(frozen=True)
class Calibration:
  """A fitted temperature and what it was fitted on.

  Attributes:
    temperature: divide the logits by this (> 1: the model was
      over-confident).
    split, n: the split it was fitted on and its number of images.
    nll_before, nll_after: that split's mean negative log-likelihood with
      the raw and the scaled probabilities.
    dataset, dataset_version: the TFDS dataset of that split.
    model_sha256: the model file whose outputs it was fitted to; a
      calibration is only valid for that file.
  """
  temperature: float
  split: str
  n: int
  nll_before: float
  nll_after: float
  method: str = METHOD
  dataset: Optional[str] = None
  dataset_version: Optional[str] = None
  model_sha256: Optional[str] = None

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> "Calibration":
    known = {field.name for field in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})

  def apply(self, probabilities: np.ndarray) -> np.ndarray:
    return scale(probabilities, self.temperature)


def fit(y_true, probabilities, split: str = "validation") -> Calibration:
  """The temperature minimising the negative log-likelihood of y_true.

  Args:
    y_true: (N,) class ids into the columns of `probabilities` (0/1 for a
      sigmoid head's [1 - p, p]).
    probabilities: (N, K) model outputs on the fitting split.
    split: recorded in the result.

  Raises:
    ValueError: empty or mismatched inputs, or fewer than two classes in
      y_true (no likelihood to trade off).
  """
  y = np.asarray(y_true).astype(np.int64).ravel()
  z = logits(probabilities)
  if y.size == 0 or y.size != z.shape[0]:
    raise ValueError(f"y_true ({y.size}) and probabilities ({z.shape[0]}) "
                     "must be non-empty and equally long")
  if y.min() < 0 or y.max() >= z.shape[1]:
    raise ValueError(f"y_true must hold class ids in [0, {z.shape[1]})")
  if np.unique(y).size < 2:
    raise ValueError("fitting a temperature needs two classes in y_true")
  result = optimize.minimize_scalar(
      lambda log_t: _nll(z, y, float(np.exp(log_t))), bounds=_LOG_T_BOUNDS,
      method="bounded", options={"xatol": 1e-6})
  temperature = float(np.exp(result.x))
  return Calibration(temperature=temperature, split=split, n=int(y.size),
                     nll_before=_nll(z, y, 1.0),
                     nll_after=_nll(z, y, temperature))
