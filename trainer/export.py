"""The exported model of a run: the best checkpoint, and its SavedModel.

The ModelCheckpoint callback writes model.keras at each new best validation
AUC; at the end of training its weights are loaded back and exported as a
SavedModel (`saved_model/`, see `trainer.serving`) that calls pneumonia at
the default threshold. trainer.evaluate exports it again with the threshold
it chooses. Both go through TensorFlow's filesystems, so a gs:// model_dir
works.
"""

from typing import Optional, Sequence

from absl import logging
import keras

from trainer import calibration as calibration_lib
from trainer import config as config_lib
from trainer import run_dir
from trainer import serving
from trainer import storage
from trainer import stored
from trainer import thresholds

NO_THRESHOLD_YET = (f"default {thresholds.DEFAULT_THRESHOLD}: none chosen yet "
                    "(trainer.evaluate chooses one and exports again)")


def threshold_source(choice: thresholds.Choice) -> str:
  """Where a chosen threshold came from, in words."""
  how = choice.method
  if choice.method == "sensitivity":
    how += f" >= {choice.target_sensitivity}"
  elif choice.method == "cost":
    how += f" (FN {choice.cost_fn}, FP {choice.cost_fp})"
  scores = ("raw scores" if choice.temperature is None
            else f"scores calibrated with T={choice.temperature:.4g}")
  where = (f"{choice.dataset} {choice.split}" if choice.dataset
           else choice.split)
  return (f"{choice.chosen_by}: {how} on {where} (n={choice.n}), {scores}, "
          f"for model.keras sha256 {(choice.model_sha256 or '')[:12]}")


def serving_spec(config: config_lib.TrainConfig,
                 class_names: Sequence[str],
                 choice: Optional[thresholds.Choice] = None,
                 calibration: Optional[calibration_lib.Calibration] = None
                 ) -> serving.Spec:
  geometry, _ = stored.stored_format(config.dataset)
  return serving.Spec(
      stored=geometry, image_size=config.image_size, channels=config.channels,
      class_names=tuple(class_names),
      threshold=(thresholds.DEFAULT_THRESHOLD if choice is None
                 else float(choice.threshold)),
      threshold_source=(NO_THRESHOLD_YET if choice is None
                        else threshold_source(choice)),
      temperature=None if calibration is None else calibration.temperature)


def export_best(model: keras.Model, output_dir: str,
                spec: serving.Spec) -> str:
  """Loads the best checkpoint's weights into `model`; writes a SavedModel.

  If no epoch was ever checkpointed (the monitored metric was never finite),
  the final weights are saved as model.keras instead, with a warning.
  """
  best = run_dir.path(output_dir, run_dir.BEST_MODEL)
  if storage.exists(best):
    model.load_weights(best)
  else:
    logging.warning("No best checkpoint at %s; exporting the final weights.",
                    best)
    model.save(best)
  return serving.write(model, run_dir.path(output_dir, run_dir.SAVED_MODEL),
                       spec)


def export_with_threshold(
    trained: run_dir.TrainedModel, choice: thresholds.Choice,
    calibration: Optional[calibration_lib.Calibration]) -> str:
  """Exports the run's model.keras again, its scores read through
  `calibration` and called at `choice`."""
  spec = serving_spec(trained.config, trained.class_names, choice,
                      calibration)
  path = serving.write(trained.model, run_dir.path(trained.model_dir,
                                                   run_dir.SAVED_MODEL), spec)
  logging.info("Exported %s with threshold %.4g.", path, choice.threshold)
  return path
