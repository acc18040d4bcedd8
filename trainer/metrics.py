"""Evaluation metrics as pure functions of labels and scores (scikit-learn).

Conventions shared by every function here and by `thresholds`:
  * binary labels are 0 (normal) / 1 (pneumonia), scores are P(pneumonia);
  * an example is called positive when score >= threshold (scikit-learn's
    `roc_curve` convention, so a threshold read off a curve reproduces the
    curve's point exactly);
  * a metric that is undefined on the given data (an AUC with one class
    present, a PPV with nothing called positive) is NaN, never an exception:
    bootstrap resamples and small subgroups hit these cases routinely.
"""

from typing import Sequence
import warnings

import numpy as np
from sklearn import calibration
from sklearn import metrics as sk_metrics

# Confusion matrices are always reported at these thresholds, besides the
# chosen one, so runs can be compared at fixed operating points.
FIXED_THRESHOLDS = (0.2, 0.5, 0.6, 0.65)
# Metrics of `binary_metrics`, in report order.
BINARY_METRICS = ("roc_auc", "pr_auc", "accuracy", "f1", "sensitivity",
                  "specificity", "ppv", "npv")
CALIBRATION_BINS = 10


def _as_binary(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
  y_true = np.asarray(y_true).astype(np.int64).ravel()
  scores = np.asarray(scores, dtype=np.float64).ravel()
  if y_true.shape != scores.shape:
    raise ValueError(f"y_true and scores differ in length: {y_true.shape} vs "
                     f"{scores.shape}")
  if not np.isin(y_true, (0, 1)).all():
    raise ValueError("y_true must hold only 0 and 1")
  if not np.isfinite(scores).all():
    raise ValueError("scores must be finite")
  return y_true, scores


def ratio(numerator: float, denominator: float) -> float:
  """numerator / denominator, NaN when the denominator is 0."""
  return float(numerator / denominator) if denominator else float("nan")


def roc_auc(positive, scores) -> float:
  """ROC AUC of `scores` for the boolean or 0/1 `positive`; NaN when only
  one class is present (a subgroup, a bootstrap resample)."""
  positive = np.asarray(positive)
  if not 0 < positive.sum() < positive.size:
    return float("nan")
  return float(sk_metrics.roc_auc_score(positive, scores))


def confusion_counts(y_true, scores, threshold: float) -> dict[str, int]:
  """tn, fp, fn, tp of calling score >= threshold positive."""
  y_true, scores = _as_binary(y_true, scores)
  tn, fp, fn, tp = sk_metrics.confusion_matrix(
      y_true, (scores >= threshold).astype(np.int64), labels=[0, 1]).ravel()
  return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def ranking_metrics(y_true, scores) -> dict[str, float]:
  """Threshold-free metrics: ROC AUC and PR AUC (average precision)."""
  y_true, scores = _as_binary(y_true, scores)
  if np.unique(y_true).size < 2:
    return {"roc_auc": float("nan"), "pr_auc": float("nan")}
  return {"roc_auc": roc_auc(y_true, scores),
          "pr_auc": float(sk_metrics.average_precision_score(y_true, scores))}


def rates(counts: dict[str, int]) -> dict[str, float]:
  """Accuracy, F1, sensitivity, specificity, PPV, NPV from confusion counts.

  One sklearn confusion matrix and these ratios give exactly what accuracy_
  score, f1_score, recall_score and precision_score (for either pos_label)
  give, at a quarter of the cost, which matters inside the bootstrap; the
  tests check them against those functions.
  """
  tn, fp, fn, tp = counts["tn"], counts["fp"], counts["fn"], counts["tp"]
  return {
      "accuracy": ratio(tp + tn, tn + fp + fn + tp),
      "f1": ratio(2 * tp, 2 * tp + fp + fn),
      "sensitivity": ratio(tp, tp + fn),
      "specificity": ratio(tn, tn + fp),
      "ppv": ratio(tp, tp + fp),
      "npv": ratio(tn, tn + fn),
  }


def operating_point(y_true, scores, threshold: float) -> dict[str, float]:
  """Sensitivity and specificity of calling score >= threshold positive."""
  values = rates(confusion_counts(y_true, scores, threshold))
  return {name: values[name] for name in ("sensitivity", "specificity")}


def binary_metrics(y_true, scores, threshold: float) -> dict[str, float]:
  """Every metric of BINARY_METRICS at `threshold` (NaN where undefined)."""
  values = ranking_metrics(y_true, scores)
  values.update(rates(confusion_counts(y_true, scores, threshold)))
  return {name: values[name] for name in BINARY_METRICS}


def confusion_at(y_true, scores, threshold: float) -> dict:
  """A confusion matrix entry for metrics.json.

  Returns:
    {"threshold", "matrix": [[tn, fp], [fn, tp]] (rows true, columns called),
     "tn", "fp", "fn", "tp", "sensitivity", "specificity"}.
  """
  counts = confusion_counts(y_true, scores, threshold)
  rate = rates(counts)
  return {"threshold": float(threshold),
          "matrix": [[counts["tn"], counts["fp"]],
                     [counts["fn"], counts["tp"]]],
          **counts,
          "sensitivity": rate["sensitivity"],
          "specificity": rate["specificity"]}


def calibration_summary(y_true, scores,
                        n_bins: int = CALIBRATION_BINS) -> dict:
  """Brier score, expected calibration error and the reliability bins.

  ECE is the count-weighted mean of |fraction positive - mean score| over
  `n_bins` equal-width bins, the bins being exactly sklearn's
  calibration_curve(strategy="uniform") bins (which returns the two means
  but not the counts that weight them).
  """
  y_true, scores = _as_binary(y_true, scores)
  if n_bins < 1:
    raise ValueError(f"n_bins must be at least 1, got {n_bins}")
  if scores.min() < 0 or scores.max() > 1:
    raise ValueError("calibration needs probabilities in [0, 1]")
  fraction_positive, mean_score = calibration.calibration_curve(
      y_true, scores, n_bins=n_bins, strategy="uniform")
  edges = np.linspace(0.0, 1.0, n_bins + 1)
  counts = np.bincount(np.searchsorted(edges[1:-1], scores),
                       minlength=n_bins)
  filled = np.flatnonzero(counts)
  weights = counts[filled] / counts.sum()
  ece = float(np.sum(weights * np.abs(fraction_positive - mean_score)))
  bins = [{"lower": float(edges[b]), "upper": float(edges[b + 1]),
           "count": int(counts[b]), "mean_score": float(mean_score[i]),
           "fraction_positive": float(fraction_positive[i])}
          for i, b in enumerate(filled)]
  return {"brier": float(sk_metrics.brier_score_loss(y_true, scores)),
          "ece": ece, "n_bins": n_bins, "bins": bins}


def multiclass_metrics(y_true, probabilities,
                       class_names: Sequence[str]) -> dict:
  """Per-class one-vs-rest AUCs, macro averages and the full confusion matrix.

  A class absent from y_true has no one-vs-rest AUC (NaN) and is left out of
  the macro AUC; per-class precision/recall/F1 are sklearn's, NaN where
  undefined.

  Args:
    y_true: int class ids, shape (N,).
    probabilities: shape (N, K), rows summing to 1.
    class_names: K names, in class-id order.
  """
  y_true = np.asarray(y_true).astype(np.int64).ravel()
  probabilities = np.asarray(probabilities, dtype=np.float64)
  k = len(class_names)
  if probabilities.ndim != 2 or probabilities.shape != (y_true.size, k):
    raise ValueError(f"probabilities must have shape ({y_true.size}, {k}), "
                     f"got {probabilities.shape}")
  if y_true.size and (y_true.min() < 0 or y_true.max() >= k):
    raise ValueError(f"y_true must hold class ids in [0, {k})")
  predicted = probabilities.argmax(axis=1)
  labels = list(range(k))
  precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
      y_true, predicted, labels=labels, zero_division=np.nan)
  per_class = {}
  aucs = []
  for c, name in enumerate(class_names):
    auc = roc_auc(y_true == c, probabilities[:, c])
    if not np.isnan(auc):
      aucs.append(auc)
    per_class[name] = {"roc_auc_ovr": auc, "precision": float(precision[c]),
                       "recall": float(recall[c]), "f1": float(f1[c]),
                       "support": int(support[c])}
  # Macro averages over the classes present in y_true or called (sklearn's
  # default labels), an undefined precision counting as 0 as in sklearn's
  # default: a class never called is a failure, not a gap to skip.
  macro = sk_metrics.precision_recall_fscore_support(
      y_true, predicted, average="macro", zero_division=0.0)
  with warnings.catch_warnings():
    # Balanced accuracy averages recall over the classes in y_true; a class
    # only ever called (an error, counted as such) makes sklearn warn.
    warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
    balanced = sk_metrics.balanced_accuracy_score(y_true, predicted)
  return {
      "accuracy": float(sk_metrics.accuracy_score(y_true, predicted)),
      "balanced_accuracy": float(balanced),
      "macro_roc_auc_ovr": float(np.mean(aucs)) if aucs else float("nan"),
      "macro_precision": float(macro[0]),
      "macro_recall": float(macro[1]),
      "macro_f1": float(macro[2]),
      "per_class": per_class,
      "confusion_matrix": sk_metrics.confusion_matrix(
          y_true, predicted, labels=labels).tolist(),
  }


def positive_rate_by_group(groups: Sequence[str], called,
                           order: Sequence[str] = ()) -> dict[str, dict]:
  """Per group (e.g. pneumonia type): examples and fraction called positive.

  For a pneumonia type this is the sensitivity within the type (for
  "normal", one minus the specificity): it shows e.g. whether COVID-19
  cases are caught as often as bacterial ones. Groups come in `order`
  (those present), then any others sorted.
  """
  groups = np.asarray(groups)
  called = np.asarray(called).astype(bool).ravel()
  present = set(groups.tolist())
  ordered = [g for g in order if g in present]
  ordered += sorted(present - set(ordered))
  result = {}
  for group in ordered:
    mask = groups == group
    result[group] = {"n": int(mask.sum()),
                     "called_positive": int(called[mask].sum()),
                     "fraction_called_positive": float(called[mask].mean())}
  return result
