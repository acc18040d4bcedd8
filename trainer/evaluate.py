"""Evaluates a trained model on a split: metrics, figures and a report page.

  python -m trainer.evaluate --model_dir=/tmp/run1 --split=test \\
      --threshold_method=sensitivity --target_sensitivity=0.95

Writes metrics.json, report.md, predictions.csv and PNG figures to
--output_dir (default model_dir/evaluation/<split>). On --threshold_split
(validation), never on the reported split, a temperature is fitted that
calibrates the scores, and the operating threshold is chosen on the
calibrated scores; both are saved (model_dir/calibration.json and
threshold.json, with the sha256 of the model file they belong to) and used
by `trainer.predict` and the exported SavedModel. model_dir and --output_dir may be on gs://.
Flags are defined only here; library users call `evaluate(...)`. TensorFlow
is imported only when an evaluation runs, so --help stays fast.
"""

import sys
from typing import Any, Optional

from absl import app
from absl import flags

FLAGS = flags.FLAGS
METHODS = ("youden", "sensitivity", "cost", "saved")


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "A finished training run.",
                      required=True)
  flags.DEFINE_string("data_dir", None, "TFDS data_dir; default: the run's.")
  flags.DEFINE_string("dataset", None, "TFDS name/config to evaluate on; "
                      "default: the run's.")
  flags.DEFINE_string("split", "test", "Split to report on (TFDS split "
                      "syntax, e.g. test or test[:50%]).")
  flags.DEFINE_string("output_dir", None, "Where the report goes; default "
                      "model_dir/evaluation/<split>.")
  flags.DEFINE_enum("threshold_method", "sensitivity", METHODS,
                    "youden: max sensitivity + specificity - 1; sensitivity: "
                    "highest threshold reaching --target_sensitivity; cost: "
                    "min --cost_fn * FN + --cost_fp * FP; saved: "
                    "model_dir/threshold.json as it is.")
  flags.DEFINE_float("target_sensitivity", 0.95, "For --threshold_method="
                     "sensitivity: a screening tool must not miss pneumonia.")
  flags.DEFINE_float("cost_fn", 5.0, "Cost of a missed pneumonia (false "
                     "negative), for --threshold_method=cost.", lower_bound=0)
  flags.DEFINE_float("cost_fp", 1.0, "Cost of a false alarm (false positive), "
                     "for --threshold_method=cost.", lower_bound=0)
  flags.DEFINE_string("threshold_split", "validation", "Split the threshold "
                      "is chosen on; must differ from --split.")
  flags.DEFINE_boolean("save_threshold", True, "Write the calibration and the "
                       "chosen threshold to model_dir (calibration.json, "
                       "threshold.json; used by trainer.predict and the "
                       "SavedModel).")
  flags.DEFINE_boolean("calibrate", True, "Fit a temperature on "
                       "--threshold_split that calibrates the scores "
                       "(temperature scaling); the threshold is chosen on "
                       "the calibrated scores.")
  flags.DEFINE_integer("bootstrap", 1000, "Bootstrap resamples of patient "
                       "groups for the confidence intervals; 0 disables.",
                       lower_bound=0)
  flags.DEFINE_float("confidence", 0.95, "Coverage of the intervals.")
  flags.DEFINE_integer("seed", 0, "Seed of the bootstrap.", lower_bound=0)
  flags.DEFINE_integer("batch_size", 64, "Inference batch size.",
                       lower_bound=1)
  flags.DEFINE_integer("examples_per_kind", 2, "Images per kind (TP, FP, FN, "
                       "TN) in the example grid; 0 disables it.",
                       lower_bound=0)
  flags.DEFINE_boolean("gradcam", True, "Grad-CAM heat maps on the example "
                       "grid.")


def evaluate(model_dir: str, data_dir: Optional[str] = None,
             split: str = "test", output_dir: Optional[str] = None, *,
             dataset: Optional[str] = None,
             threshold_method: str = "sensitivity",
             target_sensitivity: float = 0.95, cost_fn: float = 5.0,
             cost_fp: float = 1.0, threshold_split: str = "validation",
             save_threshold: bool = True, calibrate: bool = True,
             n_bootstrap: int = 1000,
             confidence: float = 0.95, seed: int = 0, batch_size: int = 64,
             examples_per_kind: int = 2,
             gradcam: bool = True) -> dict[str, Any]:
  """Evaluates the run in model_dir on `split`; returns metrics.json's dict.

  The library entry point (see `trainer.evaluation.run` for the outputs).

  Raises:
    ValueError: a bad option, a model_dir that is not a finished run, or a
      threshold that would be chosen on the reported split.
  """
  from trainer import evaluation  # pylint: disable=g-import-not-at-top
  options = evaluation.Options(
      threshold_method=threshold_method,
      target_sensitivity=target_sensitivity, cost_fn=cost_fn,
      cost_fp=cost_fp, threshold_split=threshold_split,
      save_threshold=save_threshold, calibrate=calibrate,
      n_bootstrap=n_bootstrap,
      confidence=confidence, seed=seed, batch_size=batch_size,
      examples_per_kind=examples_per_kind, gradcam=gradcam)
  return evaluation.run(model_dir, data_dir=data_dir, split=split,
                        output_dir=output_dir, dataset=dataset,
                        options=options)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    result = evaluate(
        FLAGS.model_dir, FLAGS.data_dir, FLAGS.split, FLAGS.output_dir,
        dataset=FLAGS.dataset, threshold_method=FLAGS.threshold_method,
        target_sensitivity=FLAGS.target_sensitivity, cost_fn=FLAGS.cost_fn,
        cost_fp=FLAGS.cost_fp, threshold_split=FLAGS.threshold_split,
        save_threshold=FLAGS.save_threshold, calibrate=FLAGS.calibrate,
        n_bootstrap=FLAGS.bootstrap,
        confidence=FLAGS.confidence, seed=FLAGS.seed,
        batch_size=FLAGS.batch_size,
        examples_per_kind=FLAGS.examples_per_kind, gradcam=FLAGS.gradcam)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  overall = result["overall"]
  calibration = result["calibration"]
  temperature = calibration["temperature"]
  # Four significant digits for reading; the JSON files keep full precision.
  print(f"{result['split']}: ROC AUC {overall['roc_auc']['value']:.4g}, "
        f"sensitivity {overall['sensitivity']['value']:.4g}, specificity "
        f"{overall['specificity']['value']:.4g} at threshold "
        f"{result['threshold']['threshold']:.4g}; ECE "
        f"{calibration['ece']:.4g}"
        + ("" if temperature is None else
           f" (raw {calibration['raw']['ece']:.4g}, temperature "
           f"{temperature:.4g})")
        + (", the operating point did not carry over (see the report)"
           if result["shift"]["shifted"] else "")
        + f"; report in {result['output_dir']}/report.md")


def console_main() -> None:
  """Entry point of the `pneumonia-evaluate` console script."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
