"""Every figure is written as a PNG from plain arrays, without pyplot."""

import io

from matplotlib import pyplot
import numpy as np
from PIL import Image
import pytest
from sklearn import metrics as sk_metrics
import tensorflow as tf

from trainer import metrics
from trainer import plots

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 120)
S = np.clip(0.3 * Y + 0.7 * RNG.random(120), 0, 1)


def _png(path) -> tuple[int, int]:
  with Image.open(io.BytesIO(tf.io.gfile.GFile(path, "rb").read())) as image:
    assert image.format == "PNG"
    image.load()
    # Not a blank canvas.
    assert np.asarray(image.convert("L")).std() > 0
    return image.size


@pytest.fixture
def drawn(monkeypatch):
  """The figures the plots save, in order, for looking at what they hold."""
  figures = []
  save = plots._save  # pylint: disable=protected-access

  def keep(fig, path):
    figures.append(fig)
    return save(fig, path)

  monkeypatch.setattr(plots, "_save", keep)
  return figures


def _marker(ax):
  """(x, y) of the operating-point marker, the one line labelled threshold."""
  (line,) = [line for line in ax.get_lines()
             if line.get_label().startswith("threshold")]
  return float(line.get_xdata()[0]), float(line.get_ydata()[0])


def test_curves(tmp_path):
  for path in (
      plots.roc_curve(Y, S, 0.5, str(tmp_path / "roc.png")),
      plots.precision_recall_curve(Y, S, 0.5, str(tmp_path / "pr.png")),
      plots.threshold_curves(Y, S, 0.4, str(tmp_path / "t.png"),
                             metrics.FIXED_THRESHOLDS)):
    width, height = _png(path)
    assert width > 200 and height > 200
  # Drawn on our own figures: pyplot's registry stays empty.
  assert not pyplot.get_fignums()


def test_operating_points_and_legends(tmp_path, drawn):
  rate = metrics.rates(metrics.confusion_counts(Y, S, 0.5))
  plots.roc_curve(Y, S, 0.5, str(tmp_path / "roc.png"))
  plots.precision_recall_curve(Y, S, 0.5, str(tmp_path / "pr.png"))
  roc_ax, pr_ax = (fig.axes[0] for fig in drawn)
  np.testing.assert_allclose(_marker(roc_ax), (1 - rate["specificity"],
                                               rate["sensitivity"]))
  np.testing.assert_allclose(_marker(pr_ax), (rate["sensitivity"],
                                              rate["ppv"]))
  roc_labels = roc_ax.get_legend_handles_labels()[1]
  assert roc_labels[0] == f"ROC (AUC = {sk_metrics.roc_auc_score(Y, S):.3f})"
  assert "chance" in roc_labels
  pr_labels = pr_ax.get_legend_handles_labels()[1]
  average_precision = sk_metrics.average_precision_score(Y, S)
  assert pr_labels[0] == f"PR (AP = {average_precision:.3f})"
  assert f"prevalence {np.mean(Y):.2f}" in pr_labels


def test_confusion_matrices_binary_and_types(tmp_path, drawn):
  binary = [(f"threshold {t}", metrics.confusion_at(Y, S, t)["matrix"])
            for t in (*metrics.FIXED_THRESHOLDS, 0.42)]
  _png(plots.confusion_matrices(binary, ("normal", "pneumonia"),
                                str(tmp_path / "cm.png")))
  for ax, (title, matrix) in zip(drawn[0].axes, binary, strict=True):
    assert ax.get_title() == title
    # Row-major cells: rows are true classes, columns the called ones.
    assert [text.get_text() for text in ax.texts] == [
        str(value) for row in matrix for value in row]
  types = RNG.integers(0, 9, (6, 6))
  _png(plots.confusion_matrices([("types", types)], (
      "normal", "bacterial", "viral", "covid19", "fungal", "other"),
                                str(tmp_path / "types.png")))


def test_reliability_diagram(tmp_path, drawn):
  summary = metrics.calibration_summary(Y, S, n_bins=8)
  _png(plots.reliability_diagram(Y, S, summary, str(tmp_path / "r.png")))
  curve_ax, counts_ax = drawn[0].axes
  (model,) = [line for line in curve_ax.get_lines()
              if line.get_label().startswith("model")]
  assert model.get_label() == (f"model (ECE {summary['ece']:.3f}, "
                               f"Brier {summary['brier']:.3f})")
  # The curve and the counts are the summary's bins, where ECE came from.
  np.testing.assert_allclose(model.get_xdata(),
                             [b["mean_score"] for b in summary["bins"]])
  np.testing.assert_allclose(model.get_ydata(),
                             [b["fraction_positive"] for b in summary["bins"]])
  assert [bar.get_height() for bar in counts_ax.patches] == [
      b["count"] for b in summary["bins"]]
  assert sum(bar.get_height() for bar in counts_ax.patches) == Y.size


def test_reliability_diagram_with_one_class(tmp_path):
  negatives = np.zeros(20, np.int64)
  summary = metrics.calibration_summary(negatives, S[:20])
  _png(plots.reliability_diagram(negatives, S[:20], summary,
                                 str(tmp_path / "r.png")))


def test_writes_to_any_filesystem():
  path = "ram://plots_test/nested/roc.png"
  assert plots.roc_curve(Y, S, 0.5, path) == path
  width, height = _png(path)
  assert width > 200 and height > 200
  summary = metrics.calibration_summary(Y, S)
  _png(plots.reliability_diagram(Y, S, summary, "ram://plots_test/r.png"))
  tf.io.gfile.rmtree("ram://plots_test")


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


def test_threshold_axis_is_logit_and_shows_a_threshold_near_one(tmp_path,
                                                                drawn):
  # A chosen threshold of 0.992 (the quick start's kind) must be readable.
  scores = np.concatenate([S, [0.0, 1.0, 0.9995]])
  labels = np.concatenate([Y, [0, 1, 1]])
  plots.threshold_curves(labels, scores, 0.992, str(tmp_path / "t.png"))
  (ax,) = drawn[-1].axes
  assert ax.get_xscale() == "logit"
  low, high = ax.get_xlim()
  assert 0 < low < 1e-3 and 1 - 1e-3 < high < 1
  assert high > 0.9995  # the largest score below 1 is on the axis
  (chosen,) = [line for line in ax.get_lines()
               if line.get_label().startswith("chosen")]
  assert float(chosen.get_xdata()[0]) == 0.992
