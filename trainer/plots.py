"""Evaluation figures as PNG files, drawn with matplotlib's Agg canvas.

Each function takes plain arrays (labels, scores, matrices, images), writes
one PNG through trainer.storage (so local, gs:// and ram:// paths all work)
and returns its path. Figures are built on `matplotlib.figure.Figure` with an
explicit Agg canvas, never through pyplot's figures: no global figure state,
no display needed, safe in threads and on headless machines. scikit-learn's
display classes draw the ROC, PR, calibration curves and confusion matrices
on axes handed to them, from the same functions the metrics use, so a plot
and metrics.json agree.
"""

from typing import Mapping, Optional, Sequence

from matplotlib import cm
from matplotlib import figure as figure_lib
from matplotlib import ticker
from matplotlib.backends import backend_agg
import numpy as np
from sklearn import calibration as sk_calibration
from sklearn import metrics as sk_metrics

from trainer import metrics
from trainer import storage

DPI = 110
HEATMAP_ALPHA = 0.4


def _figure(width: float, height: float) -> figure_lib.Figure:
  fig = figure_lib.Figure(figsize=(width, height), dpi=DPI,
                          layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  return fig


def _save(fig: figure_lib.Figure, path: str) -> str:
  return storage.save_figure(fig, path)


def _operating_point(y_true, scores, threshold: float) -> tuple[float, float,
                                                                 float]:
  """(fpr, tpr, ppv) of calling score >= threshold positive."""
  rate = metrics.rates(metrics.confusion_counts(y_true, scores, threshold))
  return 1.0 - rate["specificity"], rate["sensitivity"], rate["ppv"]


def roc_curve(y_true, scores, threshold: float, path: str,
              title: str = "ROC curve") -> str:
  """The ROC curve with its AUC and the operating point at `threshold`."""
  fig = _figure(4.8, 4.5)
  ax = fig.add_subplot()
  display = sk_metrics.RocCurveDisplay.from_predictions(
      y_true, scores, ax=ax, curve_kwargs={"lw": 2}, plot_chance_level=True,
      chance_level_kw={"ls": "--", "color": "gray", "lw": 1,
                       "label": "chance"})
  # sklearn's label rounds to 2 places; metrics.json reports 3.
  display.line_.set_label(f"ROC (AUC = {display.roc_auc:.3f})")
  point_fpr, point_tpr, _ = _operating_point(y_true, scores, threshold)
  ax.plot(point_fpr, point_tpr, "o", color="crimson", ms=8,
          label=f"threshold {threshold:.3g}: sens {point_tpr:.2f}, "
                f"spec {1 - point_fpr:.2f}")
  ax.set(xlabel="false positive rate (1 - specificity)",
         ylabel="true positive rate (sensitivity)", title=title,
         xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
  ax.legend(loc="lower right", fontsize=8)
  return _save(fig, path)


def precision_recall_curve(y_true, scores, threshold: float, path: str,
                           title: str = "Precision-recall curve") -> str:
  """The PR curve with its average precision, prevalence and operating point."""
  fig = _figure(4.8, 4.5)
  ax = fig.add_subplot()
  display = sk_metrics.PrecisionRecallDisplay.from_predictions(
      y_true, scores, ax=ax, curve_kwargs={"lw": 2}, plot_chance_level=True,
      chance_level_kw={"ls": "--", "color": "gray", "lw": 1})
  display.line_.set_label(f"PR (AP = {display.average_precision:.3f})")
  # The chance level of a PR curve is the prevalence; say so in the legend.
  display.chance_level_.set_label(
      f"prevalence {display.prevalence_pos_label:.2f}")
  _, point_tpr, point_ppv = _operating_point(y_true, scores, threshold)
  ax.plot(point_tpr, point_ppv, "o", color="crimson", ms=8,
          label=f"threshold {threshold:.3g}")
  ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", title=title,
         xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
  ax.legend(loc="lower left", fontsize=8)
  return _save(fig, path)


# The logit axis reaches at least this close to 0 and 1.
LOGIT_EDGE = 1e-3


def threshold_curves(y_true, scores, threshold: float, path: str,
                     fixed: Sequence[float] = ()) -> str:
  """Sensitivity (TPR) and FPR against the threshold, marking the chosen and
  fixed thresholds."""
  fpr, tpr, thresholds = sk_metrics.roc_curve(y_true, scores,
                                              drop_intermediate=False)
  finite = np.isfinite(thresholds)
  # A logit axis: thresholds crowd near 0 and 1 (a chosen 0.992 sits in the
  # last pixel of a linear axis); 0 and 1 themselves are drawn at the edges.
  inside = [v for v in (threshold, *thresholds[finite]) if 0 < v < 1]
  edge = min([LOGIT_EDGE] + [min(v, 1 - v) for v in inside])
  edge = max(edge / 2, 1e-7)
  shown = np.clip(thresholds[finite], edge, 1 - edge)
  fig = _figure(5.5, 4.0)
  ax = fig.add_subplot()
  ax.step(shown, tpr[finite], where="post", lw=2, label="TPR (sensitivity)")
  ax.step(shown, fpr[finite], where="post", lw=2,
          label="FPR (1 - specificity)")
  for value in fixed:
    ax.axvline(value, color="gray", lw=0.8, ls=":")
  ax.axvline(min(max(threshold, edge), 1 - edge), color="crimson", lw=1.5,
             ls="--", label=f"chosen {threshold:.4g}")
  ax.set_xscale("logit")
  ax.set(xlabel="threshold on P(pneumonia) (logit scale)", ylabel="rate",
         title="Rates against the threshold", xlim=(edge, 1 - edge),
         ylim=(-0.01, 1.01))
  ax.legend(fontsize=8)
  return _save(fig, path)


def confusion_matrices(matrices: Sequence[tuple[str, Sequence[Sequence[int]]]],
                       class_names: Sequence[str], path: str,
                       columns: int = 3) -> str:
  """One panel per (title, matrix); rows are true classes, columns called."""
  count = len(matrices)
  columns = max(1, min(columns, count))
  rows = -(-count // columns)
  side = max(3.0, 0.55 * len(class_names) + 1.5)
  fig = _figure(side * columns, side * rows)
  slanted = len(class_names) > 2  # long names would overlap when level
  for i, (title, matrix) in enumerate(matrices):
    ax = fig.add_subplot(rows, columns, i + 1)
    matrix = np.asarray(matrix)
    sk_metrics.ConfusionMatrixDisplay(
        matrix, display_labels=list(class_names)).plot(
            ax=ax, cmap="Blues", colorbar=False,
            xticks_rotation=45 if slanted else "horizontal",
            # From 0, not the smallest cell, so a low count looks low.
            im_kw={"vmin": 0, "vmax": max(int(matrix.max()), 1)},
            text_kw={"fontsize": 9})
    if slanted:
      for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.tick_params(labelsize=8)
    ax.set(xlabel="called", ylabel="true", title=title)
  return _save(fig, path)


def reliability_diagram(y_true, scores, calibration: Mapping,
                        path: str, raw_scores=None,
                        raw_calibration: Optional[Mapping] = None) -> str:
  """Fraction positive against mean score in equal-width bins, with the bin
  counts below; the raw (uncalibrated) outputs' curve beside, if given.

  Args:
    y_true: 0/1 labels.
    scores: P(positive) in [0, 1], as reported (calibrated).
    calibration: metrics.calibration_summary(y_true, scores) (as written to
      metrics.json): its ECE and Brier score go in the legend, its bins under
      the curve, so the figure shows the very bins the ECE was taken over.
    path: where the PNG goes (any trainer.storage path).
    raw_scores, raw_calibration: the same for the model's raw outputs.

  Returns:
    `path`.
  """
  fig = _figure(4.8, 5.5)
  top, bottom = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
  temperature = calibration.get("temperature")
  curves = [(scores, calibration,
             "model" if temperature is None
             else f"calibrated, T={temperature:.3g}", "o", "-")]
  if raw_scores is not None and temperature is not None:
    curves.insert(0, (raw_scores, raw_calibration, "raw output", "s", "--"))
  for values, summary, name, marker, style in curves:
    sk_calibration.CalibrationDisplay.from_predictions(
        y_true, values, n_bins=calibration["n_bins"], strategy="uniform",
        ax=top, name=(f"{name} (ECE {summary['ece']:.3f}, Brier "
                      f"{summary['brier']:.3f})"), marker=marker, lw=2,
        linestyle=style)
  top.set(xlabel="", ylabel="fraction pneumonia", title="Reliability diagram",
          xlim=(0, 1), ylim=(-0.01, 1.01))
  top.legend(loc="upper left", fontsize=8)
  # The display keeps no counts; the summary's bins are the ones ECE weighs.
  bins = calibration["bins"]
  bottom.bar([(b["lower"] + b["upper"]) / 2 for b in bins],
             [b["count"] for b in bins],
             width=[b["upper"] - b["lower"] for b in bins],
             edgecolor="black", color="lightsteelblue")
  bottom.set(xlabel="mean P(pneumonia) in bin", ylabel="images")
  return _save(fig, path)


def training_curves(history: Mapping[str, Sequence[float]], path: str) -> str:
  """One panel per metric (loss, accuracy, auc, ...), train and val_ together,
  plus the learning rate if logged."""
  epochs = np.asarray(history.get("epoch", []), dtype=np.float64) + 1
  names = [k for k in history if k != "epoch" and not k.startswith("val_")
           and k not in ("learning_rate", "lr")]
  rate_key = next((k for k in ("learning_rate", "lr") if k in history), None)
  panels = names + ([rate_key] if rate_key else [])
  if not panels:
    raise ValueError("history has no metric columns to plot")
  fig = _figure(3.6 * len(panels), 3.4)
  for i, name in enumerate(panels):
    ax = fig.add_subplot(1, len(panels), i + 1)
    x = epochs if epochs.size == len(history[name]) else np.arange(
        1, len(history[name]) + 1)
    ax.plot(x, history[name], "o-", label="train" if name != rate_key
            else name)
    if f"val_{name}" in history:
      ax.plot(x, history[f"val_{name}"], "s-", label="validation")
    if name == rate_key:
      ax.set_yscale("log")
    ax.set(xlabel="epoch", title=name)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
  return _save(fig, path)


def _gray(image: np.ndarray) -> np.ndarray:
  """A float image (H, W, C) in [0, 1] as (H, W) for display."""
  image = np.asarray(image, dtype=np.float32)
  return image[..., 0] if image.shape[-1] == 1 else image.mean(axis=-1)


def overlay(image: np.ndarray, heatmap: Optional[np.ndarray]) -> np.ndarray:
  """An RGB float (H, W, 3) of the X-ray with the jet-coloured heat map
  blended where the map is high."""
  gray = np.repeat(_gray(image)[..., np.newaxis], 3, axis=-1)
  if heatmap is None:
    return gray
  colours = cm.jet(np.clip(heatmap, 0, 1))[..., :3]
  alpha = HEATMAP_ALPHA * np.clip(heatmap, 0, 1)[..., np.newaxis]
  return np.clip((1 - alpha) * gray + alpha * colours, 0, 1)


def example_grid(images: Sequence[np.ndarray],
                 heatmaps: Sequence[Optional[np.ndarray]],
                 titles: Sequence[str], path: str, columns: int = 4,
                 suptitle: str = "") -> str:
  """Images with Grad-CAM overlays and a title each (e.g. TP/FP + score)."""
  count = len(images)
  if not count or not len(heatmaps) == len(titles) == count:
    raise ValueError("need equally many (> 0) images, heat maps and titles")
  columns = max(1, min(columns, count))
  rows = -(-count // columns)
  fig = _figure(2.6 * columns, 2.8 * rows)
  for i, (image, heatmap, title) in enumerate(zip(images, heatmaps, titles)):
    ax = fig.add_subplot(rows, columns, i + 1)
    ax.imshow(overlay(image, heatmap), interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
  if suptitle:
    fig.suptitle(suptitle, fontsize=10)
  return _save(fig, path)


def overlay_image(image: np.ndarray, heatmap: np.ndarray, path: str,
                  title: str = "") -> str:
  """One image with its heat map beside the plain image (for prediction)."""
  fig = _figure(6.0, 3.3)
  left, right = fig.subplots(1, 2)
  left.imshow(_gray(image), cmap="gray", vmin=0, vmax=1)
  left.set_title("model input", fontsize=8)
  right.imshow(overlay(image, heatmap), interpolation="nearest")
  right.set_title("Grad-CAM", fontsize=8)
  for ax in (left, right):
    ax.axis("off")
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path)
