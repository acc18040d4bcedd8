"""Choosing the threshold again on a user's own labelled images.

Called through `trainer.choose_threshold`; never reads flags. The images are
scored exactly as trainer.predict scores them (the build's preprocessing,
the run's calibration); the threshold is chosen on those scores by the
methods trainer.evaluate uses, with patient-bootstrap intervals, and saved
to the run with where it came from, so that predict and the exported
SavedModel call pneumonia at it. The calibration stays the one fitted on
validation: a few hundred local images are better spent on the threshold.
"""

import csv
import dataclasses
import io
from typing import Any, Optional

from absl import logging
import numpy as np

from trainer import evaluation
from trainer import labelled_images
from trainer import metrics
from trainer import prediction
from trainer import report
from trainer import run_dir
from trainer import scores as scores_lib
from trainer import storage
from trainer import thresholds

CHOSEN_BY = "trainer.choose_threshold"
SCORES_FILENAME = "scores.csv"
SUMMARY_FILENAME = "threshold_choice.json"


def default_output_dir(model_dir: str, source: str) -> str:
  name = storage.basename(source.rstrip("/")) or "images"
  return storage.join(model_dir, "thresholds", name)


def _write_scores(listing: labelled_images.Listing, p: np.ndarray,
                  errors: list[str], threshold: float, path: str) -> str:
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(["path", "label", "patient_group", "p_pneumonia",
                   "called_pneumonia", "error"])
  for image, score, error in zip(listing.images, p, errors):
    scored = not error
    writer.writerow([image.path, labelled_images.LABEL_NAMES[image.label],
                     image.group, scores_lib.as_text(score) if scored else "",
                     int(score >= threshold) if scored else "", error])
  for path_, reason in listing.left_out:
    writer.writerow([path_, "", "", "", "", reason])
  return storage.write_text(path, text.getvalue())


def run(model_dir: str, source: str, *, output_dir: Optional[str] = None,
        options: evaluation.Options = evaluation.Options(),
        save: bool = True) -> dict[str, Any]:
  """Chooses the run's threshold on the labelled images at `source`.

  Args:
    model_dir: a finished training run.
    source: a folder in the Kermany layout or a path,label CSV.
    output_dir: scores.csv and threshold_choice.json go here (default
      model_dir/thresholds/<source's name>).
    options: the method and its parameters, bootstrap settings, batch size
      (the fields trainer.evaluate uses).
    save: write threshold.json and export the SavedModel again with it.

  Returns:
    threshold_choice.json's dict: the choice (with intervals and
    provenance), the previous threshold's figures on the same images, and
    the counts of images used, unreadable and left out.

  Raises:
    ValueError: a bad source, no readable image of one of the classes, or
      a method trainer.evaluate does not have ("saved" is not a choice).
  """
  options.validate()
  if options.threshold_method not in thresholds.METHODS:
    raise ValueError(f"threshold_method must be one of "
                     f"{', '.join(thresholds.METHODS)}, got "
                     f"{options.threshold_method!r}")
  trained = run_dir.load(model_dir)
  if trained.calibration_problem:
    raise ValueError(trained.calibration_problem)
  listing = labelled_images.read(source)
  p, errors = prediction.score_paths(
      trained, [image.path for image in listing.images], options.batch_size)
  ok = np.isfinite(p)
  y = np.asarray([image.label for image in listing.images])
  groups = np.asarray([image.group for image in listing.images])
  if np.unique(y[ok]).size < 2:
    raise ValueError(f"{source}: choosing a threshold needs readable images "
                     f"of both classes; readable: {int((y[ok] == 0).sum())} "
                     f"normal, {int((y[ok] == 1).sum())} pneumonia")
  choice = thresholds.choose(
      options.threshold_method, y[ok], p[ok], split="labelled images",
      target_sensitivity=options.target_sensitivity, cost_fn=options.cost_fn,
      cost_fp=options.cost_fp)
  choice = thresholds.with_intervals(
      choice, y[ok], p[ok], groups[ok], n_resamples=options.n_bootstrap,
      confidence=options.confidence, seed=options.seed)
  choice = dataclasses.replace(
      choice, dataset=storage.absolute(source), dataset_version=None,
      model_sha256=trained.model_sha256, temperature=trained.temperature,
      chosen_by=CHOSEN_BY, images_sha256=listing.digest())
  previous = trained.threshold
  output_dir = output_dir or default_output_dir(model_dir, source)
  storage.makedirs(output_dir)
  _write_scores(listing, p, errors, choice.threshold,
                storage.join(output_dir, SCORES_FILENAME))
  summary = report.json_ready({
      "model_dir": storage.absolute(model_dir),
      "source": storage.absolute(source),
      "n_images": int(ok.sum()), "n_unreadable": int((~ok).sum()),
      "n_left_out": len(listing.left_out),
      "n_patient_groups": int(np.unique(groups[ok]).size),
      "threshold": choice.to_dict(),
      "previous": None if previous is None else {
          "chosen_by": previous.chosen_by, "split": previous.split,
          "dataset": previous.dataset,
          "threshold": previous.threshold,
          **metrics.operating_point(y[ok], p[ok], previous.threshold)},
      "saved": save,
  })
  storage.write_json(storage.join(output_dir, SUMMARY_FILENAME), summary,
                     sort_keys=False)
  if save:
    evaluation.save_operating_point(
        trained, evaluation.OperatingPoint(trained.calibration, choice))
    logging.info("Saved threshold %.4g to %s.", choice.threshold,
                 run_dir.path(model_dir, run_dir.THRESHOLD))
  return {**summary, "output_dir": storage.absolute(output_dir)}
