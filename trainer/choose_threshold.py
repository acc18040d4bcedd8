"""Chooses a run's operating threshold again, on your own labelled images.

  python -m trainer.choose_threshold --model_dir=/tmp/run1 \\
      --images=path/to/chest_xray/test --threshold_method=sensitivity \\
      --target_sensitivity=0.95

--images is a folder in the Kermany layout (each image under a NORMAL/ or
PNEUMONIA/ folder, at any depth) or a CSV of path,label[,patient]. The
images are scored exactly as trainer.predict scores them (the run's
calibration included); the threshold is chosen there by the methods of
trainer.evaluate, with patient-bootstrap intervals, and saved to
model_dir/threshold.json with where it came from (the folder or CSV, a
digest of its images and labels, the method). trainer.predict and the
exported SavedModel then call pneumonia at it; trainer.evaluate's
--threshold_method=saved reports with it. Writes scores.csv and
threshold_choice.json to --output_dir (default
model_dir/thresholds/<folder name>). Flags are defined only here.
"""

import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS
METHODS = ("sensitivity", "youden", "cost")


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "A finished training run.",
                      required=True)
  flags.DEFINE_string("images", None, "A folder of NORMAL/ and PNEUMONIA/ "
                      "images, or a CSV with columns path,label[,patient].",
                      required=True)
  flags.DEFINE_string("output_dir", None, "Where scores.csv and "
                      "threshold_choice.json go; default "
                      "model_dir/thresholds/<name of --images>.")
  flags.DEFINE_enum("threshold_method", "sensitivity", METHODS,
                    "As trainer.evaluate's --threshold_method.")
  flags.DEFINE_float("target_sensitivity", 0.95, "For --threshold_method="
                     "sensitivity.")
  flags.DEFINE_float("cost_fn", 5.0, "Cost of a missed pneumonia, for "
                     "--threshold_method=cost.", lower_bound=0)
  flags.DEFINE_float("cost_fp", 1.0, "Cost of a false alarm, for "
                     "--threshold_method=cost.", lower_bound=0)
  flags.DEFINE_boolean("save", True, "Save the threshold to the run "
                       "(threshold.json and the SavedModel); --nosave only "
                       "reports it.")
  flags.DEFINE_integer("bootstrap", 1000, "Bootstrap resamples of patient "
                       "groups for the intervals; 0 disables.", lower_bound=0)
  flags.DEFINE_float("confidence", 0.95, "Coverage of the intervals.")
  flags.DEFINE_integer("seed", 0, "Seed of the bootstrap.", lower_bound=0)
  flags.DEFINE_integer("batch_size", 32, "Images per model call.",
                       lower_bound=1)


def _interval(bounds) -> str:
  return "" if not bounds else f" [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  # TensorFlow only once the flags are good: --help stays fast.
  from trainer import evaluation  # pylint: disable=g-import-not-at-top
  from trainer import rechoose  # pylint: disable=g-import-not-at-top
  options = evaluation.Options(
      threshold_method=FLAGS.threshold_method,
      target_sensitivity=FLAGS.target_sensitivity, cost_fn=FLAGS.cost_fn,
      cost_fp=FLAGS.cost_fp, n_bootstrap=FLAGS.bootstrap,
      confidence=FLAGS.confidence, seed=FLAGS.seed,
      batch_size=FLAGS.batch_size)
  try:
    result = rechoose.run(FLAGS.model_dir, FLAGS.images,
                          output_dir=FLAGS.output_dir, options=options,
                          save=FLAGS.save)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  t = result["threshold"]
  print(f"threshold {t['threshold']:.4g} ({t['method']}) on "
        f"{result['n_images']} images of {result['n_patient_groups']} "
        f"patient groups: sensitivity {t['sensitivity']:.4g}"
        f"{_interval(t['sensitivity_ci'])}, specificity "
        f"{t['specificity']:.4g}{_interval(t['specificity_ci'])}")
  previous = result["previous"]
  if previous:
    print(f"the previous threshold {previous['threshold']:.4g} (chosen on "
          f"{previous['split']}) gives here sensitivity "
          f"{previous['sensitivity']:.4g}, specificity "
          f"{previous['specificity']:.4g}")
  if result["n_unreadable"] or result["n_left_out"]:
    print(f"{result['n_unreadable']} unreadable and {result['n_left_out']} "
          "left-out files are listed with the reason in scores.csv")
  print(("saved to the run; " if result["saved"] else "not saved; ")
        + f"scores in {result['output_dir']}")


def console_main() -> None:
  """Entry point of the `pneumonia-choose-threshold` console script."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
