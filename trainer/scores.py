"""Model outputs -> class probabilities and P(pneumonia), calibrated.

Every place that reads scores (evaluation, prediction, the Grad-CAM titles)
goes through here, so a score means the same thing everywhere; the serving
graph (`trainer.serving`) does the same arithmetic in TensorFlow.
"""

from typing import Optional, Sequence

import numpy as np

from trainer import calibration as calibration_lib


def probabilities(outputs) -> np.ndarray:
  """(N, K) class probabilities from a model's outputs: a sigmoid head's
  (N, 1) becomes [1 - p, p]."""
  outputs = np.asarray(outputs, dtype=np.float64)
  if outputs.shape[-1] == 1:
    return np.concatenate([1.0 - outputs, outputs], axis=-1)
  return outputs


def calibrated(outputs, calibration: Optional[calibration_lib.Calibration]
               ) -> np.ndarray:
  """probabilities(outputs), temperature-scaled when a calibration is given."""
  p = probabilities(outputs)
  return p if calibration is None else calibration.apply(p)


def positive(probabilities_: np.ndarray,
             class_names: Sequence[str]) -> np.ndarray:
  """P(pneumonia): the sigmoid's p, or 1 - P(normal) for the types."""
  if len(class_names) == 2:
    return probabilities_[:, 1]
  return 1.0 - probabilities_[:, list(class_names).index("normal")]


def as_text(value: float) -> str:
  """A probability or threshold as CSVs, logs and reports print it: four
  significant digits (JSON files keep full precision)."""
  return f"{float(value):.4g}"
