"""Scores chest X-ray files with a trained model; writes a CSV.

  python -m trainer.predict --model_dir=/tmp/run1 --output_csv=scores.csv \\
      image.png more/images/ [--threshold=0.3] [--gradcam_dir=heatmaps/]

Takes files and folders (searched recursively for image files) in any format
the dataset accepts (JPEG or PNG, grayscale/RGB/RGBA, any size, or DICOM:
modality and VOI LUTs, MONOCHROME1; whatever the extension says) and
preprocesses them exactly as the dataset build and the training pipeline do.
One row per file: path, P(pneumonia), the label called at the run's saved
threshold (model_dir/threshold.json, written by trainer.evaluate;
--threshold overrides it), type probabilities for a multi-class model, a warning to read the score with (a lateral DICOM film),
and an error message for a file that cannot be read or is not a chest
radiograph by its DICOM tags.
Files, folders, the CSV and the heat maps may be on gs:// (tf.io.gfile). A
saved threshold chosen for another model file is refused.
Flags are defined only here; library users call `predict(...)`.
"""

import sys
from typing import Optional, Sequence

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "A finished training run.",
                      required=True)
  flags.DEFINE_string("output_csv", None, "The CSV to write (a local path or "
                      "any TensorFlow filesystem, e.g. gs://).", required=True)
  flags.DEFINE_float("threshold", None, "Call pneumonia at P >= this; default "
                     "model_dir/threshold.json (0.5 if there is none).",
                     lower_bound=0.0, upper_bound=1.0)
  flags.DEFINE_string("gradcam_dir", None, "Write a Grad-CAM overlay PNG per "
                      "scored file here (local or e.g. gs://).")
  flags.DEFINE_integer("batch_size", 32, "Images per model call.",
                       lower_bound=1)


def predict(paths: Sequence[str], model_dir: str, output_csv: str, *,
            threshold: Optional[float] = None,
            gradcam_dir: Optional[str] = None,
            batch_size: int = 32) -> list[dict[str, str]]:
  """Scores the files and folders in `paths`; returns the CSV rows.

  The library entry point (see `trainer.prediction.run`); TensorFlow is
  imported only here, so that --help and flag errors stay fast.

  Raises:
    ValueError: a path that does not exist or is not a regular file or
      directory, or a bad threshold or batch size.
  """
  from trainer import prediction  # pylint: disable=g-import-not-at-top
  return prediction.run(paths, model_dir, output_csv, threshold=threshold,
                        gradcam_dir=gradcam_dir, batch_size=batch_size)


def main(argv) -> None:
  paths = argv[1:]
  if not paths:
    raise app.UsageError("give image files or folders to score after the "
                         "flags")
  try:
    rows = predict(paths, FLAGS.model_dir, FLAGS.output_csv,
                   threshold=FLAGS.threshold, gradcam_dir=FLAGS.gradcam_dir,
                   batch_size=FLAGS.batch_size)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  errors = sum(1 for row in rows if row.get("error"))
  print(f"{len(rows) - errors} of {len(rows)} files scored"
        + (f", {errors} unreadable (see the error column)" if errors else "")
        + f": {FLAGS.output_csv}")


def console_main() -> None:
  """Entry point of the `pneumonia-predict` console script."""
  define_flags()
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
