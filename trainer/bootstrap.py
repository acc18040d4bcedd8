"""Percentile bootstrap confidence intervals that resample patients, not images.

Images of one patient (or of one patient group: patients joined through
shared images) are not independent: resampling images as if they were makes
intervals too narrow. So each resample draws whole groups with replacement
and keeps every image of each drawn group, as the patient-grouped splits do.
"""

from typing import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95

# index array -> named statistics of the examples at those indices.
Statistic = Callable[[np.ndarray], dict[str, float]]


def group_indices(groups: Sequence) -> list[np.ndarray]:
  """Example indices of each distinct group, groups in first-seen order."""
  groups = np.asarray(groups)
  _, first, inverse, counts = np.unique(
      groups, return_index=True, return_inverse=True, return_counts=True)
  by_group = np.split(np.argsort(inverse.ravel(), kind="stable"),
                      np.cumsum(counts)[:-1])
  return [by_group[g] for g in np.argsort(first)]


def resample_indices(members: list[np.ndarray],
                     rng: np.random.Generator) -> np.ndarray:
  """Example indices of one resample: len(members) groups drawn with
  replacement, each bringing all its examples."""
  drawn = rng.integers(0, len(members), size=len(members))
  return np.concatenate([members[g] for g in drawn])


def confidence_intervals(statistic: Statistic, groups: Sequence, *,
                         n_resamples: int = DEFAULT_RESAMPLES,
                         confidence: float = DEFAULT_CONFIDENCE,
                         seed: int = 0) -> dict[str, dict[str, float]]:
  """Point estimates and group-bootstrap percentile intervals.

  Args:
    statistic: maps example indices to named statistics; called once with
      all indices (the point estimates) and once per resample. NaN means
      undefined on that resample (e.g. an AUC when only one class was drawn);
      such resamples are left out of that statistic's interval.
    groups: the resampling unit of each example (e.g. patient_group).
    n_resamples: bootstrap resamples; 0 gives point estimates only.
    confidence: interval coverage, e.g. 0.95.
    seed: seed of the resampling; the same seed gives the same intervals.

  Returns:
    name -> {"value", "ci_low", "ci_high", "n_resamples"}: n_resamples
    counts the resamples where the statistic was defined; the bounds are NaN
    when fewer than half of them were.
  """
  if not 0 < confidence < 1:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")
  if n_resamples < 0:
    raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
  members = group_indices(groups)
  if not members:
    raise ValueError("no examples to bootstrap")
  point = statistic(np.arange(len(np.asarray(groups))))
  draws = {name: [] for name in point}
  rng = np.random.default_rng(seed)
  for _ in range(n_resamples):
    for name, value in statistic(resample_indices(members, rng)).items():
      draws[name].append(value)
  tail = (1.0 - confidence) / 2.0 * 100.0
  result = {}
  for name, value in point.items():
    values = np.asarray(draws[name], dtype=np.float64)
    values = values[np.isfinite(values)]
    low = high = float("nan")
    if n_resamples and values.size * 2 >= n_resamples:
      low, high = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    result[name] = {"value": float(value), "ci_low": low, "ci_high": high,
                    "n_resamples": int(values.size)}
  return result
