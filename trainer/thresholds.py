"""Choosing the operating threshold on validation predictions, and saving it.

The threshold is chosen on one split (validation) and reported on another
(test): chosen on the reported split, its sensitivity and specificity would
be optimistic. Methods:
  youden       maximise Youden's J = sensitivity + specificity - 1;
  sensitivity  the highest threshold whose sensitivity reaches a target
               (a screening tool must not miss pneumonia);
  cost         minimise cost_fn * FN + cost_fp * FP.
Candidates are the distinct scores (sklearn's confusion_matrix_at_thresholds),
so the chosen threshold reproduces its validation counts exactly under the
"score >= threshold is positive" rule of `metrics`.
"""

import dataclasses
from typing import Any, Optional

import numpy as np
from sklearn import metrics as sk_metrics

from trainer import bootstrap
from trainer import metrics

METHODS = ("youden", "sensitivity", "cost")
# Used by prediction when a model has no saved threshold.
DEFAULT_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class Choice:
  """A chosen threshold and how it was chosen.

  Attributes:
    threshold: call positive when P(pneumonia) >= threshold.
    method: one of METHODS.
    split: the split the threshold was chosen on.
    target_sensitivity: for method "sensitivity".
    cost_fn, cost_fp: for method "cost".
    sensitivity, specificity: on the choosing split, at the threshold.
    n, n_positive: examples and positives of the choosing split.
    dataset, dataset_version: the TFDS dataset/config and version of that
      split.
    model_sha256: sha256 of the model file whose scores it was chosen on;
      a threshold is only valid for that model.
    temperature: the calibration (trainer.calibration) of those scores;
      None for raw model outputs. Only valid for scores calibrated so.
    chosen_by: the command that chose it.
    images_sha256: for a threshold chosen on a user's labelled images (the
      folder or CSV is `dataset`), a digest that identifies
      the images and labels (trainer.labelled_images.Listing.digest).
    sensitivity_ci, specificity_ci: [low, high] bootstrap intervals of
      those two on the choosing split (resampling patient groups), at
      `confidence`: what another split's figures are compared against.
  """
  threshold: float
  method: str
  split: str
  sensitivity: float
  specificity: float
  n: int
  n_positive: int
  target_sensitivity: Optional[float] = None
  cost_fn: Optional[float] = None
  cost_fp: Optional[float] = None
  dataset: Optional[str] = None
  dataset_version: Optional[str] = None
  model_sha256: Optional[str] = None
  temperature: Optional[float] = None
  chosen_by: str = "trainer.evaluate"
  images_sha256: Optional[str] = None
  sensitivity_ci: Optional[tuple[float, float]] = None
  specificity_ci: Optional[tuple[float, float]] = None
  confidence: Optional[float] = None

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> "Choice":
    """A Choice from to_dict's output; unknown keys are ignored."""
    known = {field.name for field in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in known})


def _curve(y_true, scores) -> tuple[np.ndarray, ...]:
  """(fp, fn, tp, thresholds) per candidate, highest threshold first.

  A first candidate just above the highest score (nothing called positive)
  is added, so "call nothing" is a choice too and every threshold is finite.
  """
  y_true = np.asarray(y_true).astype(np.int64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  if y_true.size != scores.size or y_true.size == 0:
    raise ValueError("y_true and scores must be non-empty and equally long")
  if not np.isin(y_true, (0, 1)).all():
    raise ValueError("y_true must hold only 0 and 1")
  if not np.isfinite(scores).all():
    raise ValueError("scores must be finite")
  if np.unique(y_true).size < 2:
    raise ValueError("choosing a threshold needs both classes in y_true")
  _, fps, fns, tps, thresholds = sk_metrics.confusion_matrix_at_thresholds(
      y_true, scores)
  positives = tps[-1]
  none = np.nextafter(thresholds[0], np.inf)
  return (np.concatenate([[0.0], fps]), np.concatenate([[positives], fns]),
          np.concatenate([[0.0], tps]), np.concatenate([[none], thresholds]))


def _choice(y_true, scores, index: int, curve, method: str, split: str,
            **params) -> Choice:
  fps, fns, tps, thresholds = curve
  positives = tps[-1]
  negatives = fps[-1]
  return Choice(threshold=float(thresholds[index]), method=method, split=split,
                sensitivity=float(tps[index] / positives),
                specificity=float(1.0 - fps[index] / negatives),
                n=int(np.asarray(y_true).size), n_positive=int(positives),
                **params)


def youden(y_true, scores, split: str = "validation") -> Choice:
  """Maximises sensitivity + specificity - 1; ties go to the higher
  threshold (fewer false positives for the same J)."""
  curve = _curve(y_true, scores)
  fps, _, tps, _ = curve
  j = tps / tps[-1] - fps / fps[-1]
  return _choice(y_true, scores, int(np.argmax(j)), curve, "youden", split)


def for_sensitivity(y_true, scores, target: float,
                    split: str = "validation") -> Choice:
  """The highest threshold whose sensitivity is at least `target`.

  The highest such threshold has the best specificity among them, since
  sensitivity and false positives both only grow as the threshold falls.
  """
  if not 0 < target <= 1:
    raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
  curve = _curve(y_true, scores)
  _, _, tps, _ = curve
  # A small tolerance, so that e.g. 19/20 counts as reaching 0.95.
  index = int(np.argmax(tps / tps[-1] >= target - 1e-12))
  return _choice(y_true, scores, index, curve, "sensitivity", split,
                 target_sensitivity=float(target))


def for_cost(y_true, scores, cost_fn: float, cost_fp: float,
             split: str = "validation") -> Choice:
  """Minimises cost_fn * FN + cost_fp * FP; ties go to the higher threshold."""
  if cost_fn < 0 or cost_fp < 0 or cost_fn + cost_fp <= 0:
    raise ValueError(f"costs must be non-negative and not both zero, got "
                     f"cost_fn={cost_fn}, cost_fp={cost_fp}")
  curve = _curve(y_true, scores)
  fps, fns, _, _ = curve
  cost = cost_fn * fns + cost_fp * fps
  return _choice(y_true, scores, int(np.argmin(cost)), curve, "cost", split,
                 cost_fn=float(cost_fn), cost_fp=float(cost_fp))


def choose(method: str, y_true, scores, *, split: str = "validation",
           target_sensitivity: float = 0.95, cost_fn: float = 1.0,
           cost_fp: float = 1.0) -> Choice:
  """Dispatches on `method` (one of METHODS)."""
  if method == "youden":
    return youden(y_true, scores, split)
  if method == "sensitivity":
    return for_sensitivity(y_true, scores, target_sensitivity, split)
  if method == "cost":
    return for_cost(y_true, scores, cost_fn, cost_fp, split)
  raise ValueError(f"threshold method {method!r} is not one of "
                   f"{', '.join(METHODS)}")


def with_intervals(choice: Choice, y_true, scores, groups, *,
                   n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
                   confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                   seed: int = 0) -> Choice:
  """`choice` with bootstrap intervals of its sensitivity and specificity on
  the split it was chosen on (y_true, scores; groups: the resampling unit).
  """
  y_true = np.asarray(y_true)
  scores = np.asarray(scores)
  intervals = bootstrap.confidence_intervals(
      lambda i: metrics.operating_point(y_true[i], scores[i],
                                        choice.threshold),
      groups, n_resamples=n_resamples, confidence=confidence, seed=seed)

  def bounds(name: str) -> Optional[tuple[float, float]]:
    low, high = intervals[name]["ci_low"], intervals[name]["ci_high"]
    return None if np.isnan(low) or np.isnan(high) else (low, high)

  return dataclasses.replace(choice, sensitivity_ci=bounds("sensitivity"),
                             specificity_ci=bounds("specificity"),
                             confidence=float(confidence))
