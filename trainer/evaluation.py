"""One evaluation: predictions on a split, threshold, metrics, plots, report.

Called through `trainer.evaluate.evaluate`; never reads flags. Predictions
come from `split_scores`; the pieces are the pure modules `metrics`,
`bootstrap`, `thresholds`, `plots`, `gradcam` and `report`; this module only
feeds them and decides what goes where.
"""

import dataclasses
from typing import Any, Optional

from absl import logging
import numpy as np

from pipeline import input as input_lib
from pneumonia_tfds import labels
from trainer import bootstrap
from trainer import calibration as calibration_lib
from trainer import export
from trainer import gradcam
from trainer import metrics
from trainer import plots
from trainer import report
from trainer import run_dir
from trainer import shift
from trainer import split_scores
from trainer import storage
from trainer import thresholds
from trainer import type_metrics

THRESHOLD_METHODS = thresholds.METHODS + ("saved",)
# Kinds of the example grid, in grid order: (name, called, truly positive).
_KINDS = (("TP", True, True), ("FP", True, False), ("FN", False, True),
          ("TN", False, False))


@dataclasses.dataclass(frozen=True)
class Options:
  """How to evaluate; see trainer/evaluate.py's flags for each field."""
  threshold_method: str = "sensitivity"
  target_sensitivity: float = 0.95
  cost_fn: float = 5.0
  cost_fp: float = 1.0
  threshold_split: str = "validation"
  save_threshold: bool = True
  calibrate: bool = True
  n_bootstrap: int = bootstrap.DEFAULT_RESAMPLES
  confidence: float = bootstrap.DEFAULT_CONFIDENCE
  seed: int = 0
  batch_size: int = 64
  examples_per_kind: int = 2
  gradcam: bool = True

  def validate(self) -> "Options":
    if self.threshold_method not in THRESHOLD_METHODS:
      raise ValueError(f"threshold_method: {self.threshold_method!r} is not "
                       f"one of {', '.join(THRESHOLD_METHODS)}")
    if not 0 < self.target_sensitivity <= 1:
      raise ValueError(f"target_sensitivity: {self.target_sensitivity} is not "
                       "in (0, 1]")
    if self.cost_fn < 0 or self.cost_fp < 0 or self.cost_fn + self.cost_fp <= 0:
      raise ValueError("cost_fn and cost_fp must be non-negative, not both 0")
    if self.n_bootstrap < 0:
      raise ValueError(f"n_bootstrap: {self.n_bootstrap} is negative")
    if not 0 < self.confidence < 1:
      raise ValueError(f"confidence: {self.confidence} is not in (0, 1)")
    if self.batch_size < 1:
      raise ValueError(f"batch_size: {self.batch_size} must be at least 1")
    if self.examples_per_kind < 0:
      raise ValueError(f"examples_per_kind: {self.examples_per_kind} is "
                       "negative")
    return self


def _split_base(split: str) -> str:
  return split.split("[", 1)[0].strip()


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
  """How scores are read: the calibration and the threshold on its scores."""
  calibration: Optional[calibration_lib.Calibration]
  choice: thresholds.Choice


def _fit_labels(p: split_scores.Predictions) -> np.ndarray:
  """Class ids into the model's output columns."""
  return p.pneumonia_type if len(p.class_names) > 2 else p.label


def save_operating_point(trained: run_dir.TrainedModel,
                         point: OperatingPoint) -> None:
  """calibration.json, threshold.json, and the SavedModel reading scores the
  same way."""
  if point.calibration is None:
    storage.remove(run_dir.path(trained.model_dir, run_dir.CALIBRATION))
  else:
    run_dir.write_calibration(point.calibration, trained.model_dir)
  run_dir.write_threshold(point.choice, trained.model_dir)
  export.export_with_threshold(trained, point.choice, point.calibration)


def choose_operating_point(trained: run_dir.TrainedModel,
                           config: input_lib.InputConfig, split: str,
                           options: Options) -> OperatingPoint:
  """The calibration and the threshold, fitted and chosen on
  options.threshold_split (never on the reported `split`), or read from
  model_dir."""
  if options.threshold_method == "saved":
    choice = trained.saved_threshold()
    if choice is None:
      raise ValueError(f"threshold_method 'saved': {trained.model_dir} has no "
                       f"{run_dir.THRESHOLD}")
    point = OperatingPoint(trained.calibration, choice)
  else:
    if _split_base(options.threshold_split) == _split_base(split):
      raise ValueError(
          f"the threshold must be chosen on another split than the one "
          f"reported ({split!r}); threshold_split is "
          f"{options.threshold_split!r}")
    validation = split_scores.predict_split(trained, config,
                                            options.threshold_split)
    # What both were fitted on, and for which model file.
    provenance = {"dataset": config.dataset,
                  "dataset_version": split_scores.dataset_version(config),
                  "model_sha256": trained.model_sha256}
    fitted = None
    if options.calibrate:
      fitted = dataclasses.replace(
          calibration_lib.fit(_fit_labels(validation),
                              validation.raw_probabilities,
                              split=options.threshold_split), **provenance)
    validation = validation.calibrated(fitted)
    choice = thresholds.choose(
        options.threshold_method, validation.label, validation.scores,
        split=options.threshold_split,
        target_sensitivity=options.target_sensitivity,
        cost_fn=options.cost_fn, cost_fp=options.cost_fp)
    choice = thresholds.with_intervals(
        choice, validation.label, validation.scores, validation.patient_group,
        n_resamples=options.n_bootstrap, confidence=options.confidence,
        seed=options.seed)
    choice = dataclasses.replace(choice, **provenance,
                                 temperature=fitted and fitted.temperature)
    point = OperatingPoint(fitted, choice)
    if options.save_threshold:
      save_operating_point(trained, point)
  if _split_base(point.choice.split) == _split_base(split):
    raise ValueError(f"the saved threshold was chosen on "
                     f"{point.choice.split!r}, the split being reported")
  return point


def _named_thresholds(chosen: float) -> list[tuple[str, float]]:
  return [(str(t), t) for t in metrics.FIXED_THRESHOLDS] + [("chosen", chosen)]


def _with_intervals(p: split_scores.Predictions, mask: np.ndarray,
                    threshold: float, options: Options) -> dict[str, Any]:
  label, scores = p.label[mask], p.scores[mask]
  return {
      "n": int(mask.sum()), "n_positive": int(label.sum()),
      "n_patient_groups": int(np.unique(p.patient_group[mask]).size),
      "metrics": bootstrap.confidence_intervals(
          lambda i: metrics.binary_metrics(label[i], scores[i], threshold),
          p.patient_group[mask], n_resamples=options.n_bootstrap,
          confidence=options.confidence, seed=options.seed),
  }


def _by(p: split_scores.Predictions, column: np.ndarray, threshold: float,
        options: Options) -> dict[str, Any]:
  return {value: _with_intervals(p, column == value, threshold, options)
          for value in sorted(set(column.tolist()))}


def _calibration(p: split_scores.Predictions,
                 fitted: Optional[calibration_lib.Calibration]) -> dict:
  """Reliability of the reported scores, and of the raw outputs beside."""
  return {**metrics.calibration_summary(p.label, p.scores),
          "temperature": p.temperature,
          "fitted": None if fitted is None else fitted.to_dict(),
          "raw": metrics.calibration_summary(p.label, p.raw_scores)}


def compute_metrics(p: split_scores.Predictions, class_names: tuple[str, ...],
                    point: OperatingPoint,
                    options: Options) -> dict[str, Any]:
  """Everything metrics.json holds about the predictions (no file I/O)."""
  choice = point.choice
  threshold = choice.threshold
  overall = _with_intervals(p, np.ones(p.label.size, bool), threshold, options)
  type_names = np.asarray(labels.PNEUMONIA_TYPES, dtype=object)
  result = {
      "n_examples": overall["n"], "n_positive": overall["n_positive"],
      "n_negative": overall["n"] - overall["n_positive"],
      "n_patient_groups": overall["n_patient_groups"],
      "threshold": choice.to_dict(),
      "bootstrap": {"unit": "patient_group", "n_resamples": options.n_bootstrap,
                    "confidence": options.confidence, "seed": options.seed},
      "overall": overall["metrics"],
      "confusion_matrices": [
          {"name": name, **metrics.confusion_at(p.label, p.scores, t)}
          for name, t in _named_thresholds(threshold)],
      "calibration": _calibration(p, point.calibration),
      "shift": shift.check(choice.to_dict(), overall["metrics"]),
      "by_source": _by(p, p.source, threshold, options),
      "by_view": _by(p, p.view, threshold, options),
      "by_pneumonia_type": metrics.positive_rate_by_group(
          type_names[p.pneumonia_type], p.scores >= threshold,
          order=labels.PNEUMONIA_TYPES),
  }
  if len(class_names) > 2:
    result["multiclass"] = metrics.multiclass_metrics(
        p.pneumonia_type, p.probabilities, class_names)
    result["types"] = type_metrics.type_metrics(
        p.pneumonia_type, p.probabilities, class_names, p.patient_group,
        [type_metrics.kermany_folder(name) for name in p.file_name],
        n_resamples=options.n_bootstrap, confidence=options.confidence,
        seed=options.seed)
  return result


def _pick_examples(p: split_scores.Predictions, threshold: float,
                   per_kind: int) -> list[tuple[int, str]]:
  """The most confident of each kind: highest-scoring TPs and FPs,
  lowest-scoring FNs and TNs."""
  called = p.scores >= threshold
  truth = p.label == 1
  picked = []
  for name, is_called, is_true in _KINDS:
    indices = np.flatnonzero((called == is_called) & (truth == is_true))
    order = np.argsort(-p.scores[indices] if is_called else p.scores[indices],
                       kind="stable")
    picked += [(int(i), name) for i in indices[order][:per_kind]]
  return picked


def _model_inputs(config: input_lib.InputConfig, split: str,
                  wanted: list[int]) -> dict[int, np.ndarray]:
  """Model inputs of the examples at `wanted` positions of `split`."""
  wanted_set, found = set(wanted), {}
  dataset = input_lib.make_for_eval(config, split).unbatch()
  for position, (image, _) in enumerate(dataset.as_numpy_iterator()):
    if position in wanted_set:
      found[position] = image
      if len(found) == len(wanted_set):
        break
  return found


def example_grid(trained: run_dir.TrainedModel, config: input_lib.InputConfig,
                 split: str, p: split_scores.Predictions, threshold: float,
                 options: Options, path: str) -> Optional[str]:
  """The grid of TP/FP/FN/TN examples with Grad-CAM overlays."""
  picked = _pick_examples(p, threshold, options.examples_per_kind)
  if not picked:
    return None
  images = _model_inputs(config, split, [i for i, _ in picked])
  batch = np.stack([images[i] for i, _ in picked])
  maps = [None] * len(picked)
  if options.gradcam:
    called = np.asarray([p.scores[i] >= threshold for i, _ in picked])
    maps = np.zeros(batch.shape[:3], np.float32)
    for is_called, target in ((True, gradcam.PNEUMONIA),
                              (False, gradcam.NORMAL)):
      rows = np.flatnonzero(called == is_called)
      if rows.size:
        maps[rows] = gradcam.heatmaps(trained.model, batch[rows], target)
  type_names = labels.PNEUMONIA_TYPES
  titles = []
  for (i, kind), heatmap in zip(picked, maps):
    # ReLU leaves nothing when no region speaks for the called class (e.g.
    # a low threshold calls an image whose pneumonia logit is negative).
    empty = heatmap is not None and not np.any(heatmap > 0)
    titles.append(f"{kind}  P={p.scores[i]:.4g}"
                  + (" (no evidence map)" if empty else "")
                  + f"\n{p.source[i]} / {type_names[p.pneumonia_type[i]]}")
  return plots.example_grid(
      list(batch), list(maps), titles, path,
      columns=max(2, min(4, options.examples_per_kind * 2)),
      suptitle=f"{split}: threshold {threshold:.3g}; heat map of the class "
               "each image is called")


def _figures(trained: run_dir.TrainedModel, config: input_lib.InputConfig,
             split: str, p: split_scores.Predictions, result: dict[str, Any],
             options: Options, output_dir: str) -> dict[str, str]:
  """Draws every figure; returns key -> file name (relative to output_dir)."""
  threshold = result["threshold"]["threshold"]
  paths = {}

  def out(name: str) -> str:
    return storage.join(output_dir, f"{name}.png")

  if np.unique(p.label).size == 2:
    paths["roc"] = plots.roc_curve(p.label, p.scores, threshold, out("roc"))
    paths["pr"] = plots.precision_recall_curve(p.label, p.scores, threshold,
                                               out("pr"))
    paths["threshold_curves"] = plots.threshold_curves(
        p.label, p.scores, threshold, out("threshold_curves"),
        metrics.FIXED_THRESHOLDS)
  else:
    logging.warning("Only one class in %s: no ROC or PR curves.", split)
  paths["confusion"] = plots.confusion_matrices(
      [(f"threshold {e['threshold']:.3g}"
        + (" (chosen)" if e["name"] == "chosen" else ""), e["matrix"])
       for e in result["confusion_matrices"]], ("normal", "pneumonia"),
      out("confusion"))
  if "multiclass" in result:
    paths["confusion_types"] = plots.confusion_matrices(
        [("pneumonia type", result["multiclass"]["confusion_matrix"])],
        trained.class_names, out("confusion_types"))
  calibration = result["calibration"]
  paths["reliability"] = plots.reliability_diagram(
      p.label, p.scores, calibration, out("reliability"), p.raw_scores,
      calibration["raw"])
  history = run_dir.history(trained.model_dir)
  if history:
    paths["training_curves"] = plots.training_curves(history,
                                                     out("training_curves"))
  grid = example_grid(trained, config, split, p, threshold, options,
                      out("examples"))
  if grid:
    paths["examples"] = grid
  return {key: storage.basename(path) for key, path in paths.items()}


def run(model_dir: str, data_dir: Optional[str] = None, split: str = "test",
        output_dir: Optional[str] = None, dataset: Optional[str] = None,
        options: Options = Options()) -> dict[str, Any]:
  """Evaluates a finished run on `split`; writes metrics.json, report.md,
  predictions.csv and the figures to output_dir; returns metrics.json's dict.

  Args:
    model_dir: a finished training run.
    data_dir: TFDS data_dir; the run's own when None.
    split: the split to report on.
    output_dir: default model_dir/evaluation/<split>.
    dataset: TFDS name/config; the run's own when None.
    options: threshold choice, bootstrap and figure options.
  """
  options.validate()
  trained = run_dir.load(model_dir)
  config = split_scores.eval_input_config(trained, dataset, data_dir,
                                          options.batch_size)
  point = choose_operating_point(trained, config, split, options)
  choice = point.choice
  output_dir = output_dir or run_dir.evaluation_dir(model_dir, split)
  storage.makedirs(output_dir)
  logging.info("Threshold %.4g (%s on %s), temperature %s.", choice.threshold,
               choice.method, choice.split,
               "none" if choice.temperature is None
               else f"{choice.temperature:.4g}")
  p = split_scores.predict_split(trained, config, split, point.calibration)
  result = {
      "model_dir": storage.absolute(model_dir), "dataset": config.dataset,
      "data_dir": config.data_dir, "split": split,
      "output_dir": storage.absolute(output_dir),
      "model": trained.config.model, "target": trained.config.target,
      "image_size": trained.config.image_size,
      "channels": trained.config.channels,
      "class_names": list(trained.class_names),
      **compute_metrics(p, trained.class_names, point, options),
  }
  split_scores.write_predictions(
      p, trained.class_names, choice.threshold,
      storage.join(output_dir, split_scores.PREDICTIONS_FILENAME))
  written = report.write_metrics(result, output_dir)
  figures = _figures(trained, config, split, p, written, options, output_dir)
  report.write_markdown(written, figures, output_dir)
  return written
