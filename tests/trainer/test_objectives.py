"""The monitored val_auc of the pneumonia-type target: Keras' macro AUC over
the classes the data holds, next to sklearn's."""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from trainer import objectives

CLASSES = 6  # normal, bacterial, viral, covid19, fungal, other


def _auc(labels, probabilities) -> float:
  metric = objectives.SparseMacroAUC(CLASSES, num_thresholds=2000)
  metric.update_state(labels, probabilities)
  return float(metric.result())


def _softmax(logits):
  exp = np.exp(logits - logits.max(axis=1, keepdims=True))
  return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def test_absent_classes_are_left_out_of_the_mean():
  # A Kermany-only split: normal, bacterial and viral, no other type.
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 3, 300)
  logits = rng.normal(size=(300, CLASSES))
  logits[np.arange(300), labels] += 1.5
  probabilities = _softmax(logits)
  present = [sk_metrics.roc_auc_score(labels == c, probabilities[:, c])
             for c in range(3)]
  assert _auc(labels, probabilities) == pytest.approx(np.mean(present),
                                                      abs=2e-3)
  # Keras' plain multi-label AUC counts the three absent classes as 0.
  assert _auc(labels, probabilities) > 0.5


def test_all_classes_present_equals_sklearns_macro_auc():
  rng = np.random.default_rng(1)
  labels = np.arange(600) % CLASSES
  logits = rng.normal(size=(600, CLASSES))
  logits[np.arange(600), labels] += 1.0
  probabilities = _softmax(logits)
  expected = sk_metrics.roc_auc_score(labels, probabilities,
                                      multi_class="ovr", average="macro")
  assert _auc(labels, probabilities) == pytest.approx(expected, abs=2e-3)


def test_perfect_scores_on_two_present_classes_give_one():
  labels = np.array([0, 0, 1, 1])
  probabilities = np.full((4, CLASSES), 0.01, np.float32)
  probabilities[[0, 1], 0] = 0.95
  probabilities[[2, 3], 1] = 0.95
  assert _auc(labels, probabilities) == pytest.approx(1.0, abs=1e-3)
