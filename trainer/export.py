"""The exported model of a run: the best checkpoint, and its SavedModel.

The ModelCheckpoint callback writes model.keras at each new best validation
AUC; at the end of training its weights are loaded back and saved as a
TF SavedModel (`saved_model/`, with a `serve` endpoint) for serving. Both go
through TensorFlow's filesystems, so a gs:// model_dir works.
"""

from absl import logging
import keras

from trainer import run_dir
from trainer import storage


def export_best(model: keras.Model, output_dir: str) -> str:
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
  saved_model = run_dir.path(output_dir, run_dir.SAVED_MODEL)
  # A run trained on exports again: no file of the old export (e.g. a
  # variables shard the new one does not write) may stay beside the new.
  storage.remove(saved_model)
  model.export(saved_model, verbose=False)
  return saved_model
