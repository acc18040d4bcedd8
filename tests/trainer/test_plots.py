"""Every figure is written as a PNG from plain arrays, without pyplot."""

import numpy as np
from PIL import Image
import pytest

from trainer import metrics
from trainer import plots

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 120)
S = np.clip(0.3 * Y + 0.7 * RNG.random(120), 0, 1)


def _png(path) -> tuple[int, int]:
  with Image.open(path) as image:
    assert image.format == "PNG"
    image.load()
    # Not a blank canvas.
    assert np.asarray(image.convert("L")).std() > 0
    return image.size


def test_curves(tmp_path):
  for path in (
      plots.roc_curve(Y, S, 0.5, str(tmp_path / "roc.png")),
      plots.precision_recall_curve(Y, S, 0.5, str(tmp_path / "pr.png")),
      plots.threshold_curves(Y, S, 0.4, str(tmp_path / "t.png"),
                             metrics.FIXED_THRESHOLDS)):
    width, height = _png(path)
    assert width > 200 and height > 200


def test_confusion_matrices_binary_and_types(tmp_path):
  binary = [(f"threshold {t}", metrics.confusion_at(Y, S, t)["matrix"])
            for t in (*metrics.FIXED_THRESHOLDS, 0.42)]
  _png(plots.confusion_matrices(binary, ("normal", "pneumonia"),
                                str(tmp_path / "cm.png")))
  types = RNG.integers(0, 9, (6, 6))
  _png(plots.confusion_matrices([("types", types)], (
      "normal", "bacterial", "viral", "covid19", "fungal", "other"),
                                str(tmp_path / "types.png")))


def test_reliability_diagram(tmp_path):
  summary = metrics.calibration_summary(Y, S)
  _png(plots.reliability_diagram(summary["bins"], summary["ece"],
                                 summary["brier"], str(tmp_path / "r.png")))


def test_training_curves(tmp_path):
  history = {"epoch": [0, 1, 2], "loss": [0.7, 0.5, 0.4],
             "val_loss": [0.8, 0.6, 0.6], "auc": [0.6, 0.8, 0.9],
             "val_auc": [0.5, 0.7, 0.75], "learning_rate": [1e-3, 1e-3, 5e-4]}
  _png(plots.training_curves(history, str(tmp_path / "h.png")))
  with pytest.raises(ValueError, match="no metric"):
    plots.training_curves({"epoch": [0]}, str(tmp_path / "empty.png"))


def test_example_grid_and_overlays(tmp_path):
  images = RNG.random((5, 48, 48, 1)).astype(np.float32)
  maps = [RNG.random((48, 48)), None, np.zeros((48, 48)),
          RNG.random((48, 48)), RNG.random((48, 48))]
  _png(plots.example_grid(list(images), maps, [f"TP {i}" for i in range(5)],
                          str(tmp_path / "sub" / "grid.png")))
  _png(plots.overlay_image(images[0], maps[0], str(tmp_path / "o.png"), "x"))
  with pytest.raises(ValueError, match="equally many"):
    plots.example_grid(list(images), maps[:2], ["a"] * 5,
                       str(tmp_path / "bad.png"))


def test_overlay_blends_only_where_the_map_is_high():
  image = np.full((8, 8, 1), 0.5, np.float32)
  heatmap = np.zeros((8, 8))
  heatmap[0, 0] = 1.0
  blended = plots.overlay(image, heatmap)
  assert blended.shape == (8, 8, 3)
  np.testing.assert_allclose(blended[1:, :], 0.5)
  assert not np.allclose(blended[0, 0], 0.5)
