"""A finished run's model_dir, read back for evaluation and prediction.

Both read the same files the same way: the config (which dataset, image
size and channels the model was trained on), the class names, the best model
(loaded with safe_mode=True: a model file must not be able to run code), the
saved threshold and the training history.
"""

import csv
import dataclasses
import json
import os
from typing import Optional

from trainer import callbacks as callbacks_lib
from trainer import config as config_lib
from trainer import export
from trainer import thresholds


@dataclasses.dataclass(frozen=True)
class TrainedModel:
  model_dir: str
  config: config_lib.TrainConfig
  class_names: tuple[str, ...]
  model: object  # keras.Model; keras is imported only in `load`.
  threshold: Optional[thresholds.Choice]

  @property
  def multiclass(self) -> bool:
    return len(self.class_names) > 2


def load(model_dir: str) -> TrainedModel:
  """Reads config, class names, model.keras and threshold.json of model_dir.

  Raises:
    ValueError: model_dir is not a finished run (a file is missing).
  """
  best = os.path.join(model_dir, callbacks_lib.BEST_MODEL)
  for path in (os.path.join(model_dir, config_lib.CONFIG_FILENAME),
               os.path.join(model_dir, export.CLASS_NAMES_FILENAME), best):
    if not os.path.exists(path):
      raise ValueError(f"{model_dir} is not a finished training run: "
                       f"{os.path.basename(path)} is missing")
  import keras  # pylint: disable=g-import-not-at-top
  config = export.read_config(model_dir)
  with open(os.path.join(model_dir, export.CLASS_NAMES_FILENAME),
            encoding="utf-8") as f:
    class_names = tuple(json.load(f))
  # Inference only: compile=False skips the optimizer and the training
  # metrics (one of them a custom class).
  model = keras.saving.load_model(best, compile=False, safe_mode=True)
  return TrainedModel(model_dir=model_dir, config=config,
                      class_names=class_names, model=model,
                      threshold=thresholds.read(model_dir))


def history(model_dir: str) -> Optional[dict[str, list[float]]]:
  """The training history CSV as column -> values, or None if absent."""
  path = os.path.join(model_dir, callbacks_lib.HISTORY_CSV)
  if not os.path.exists(path):
    return None
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  if not rows:
    return None
  columns = {}
  for name in rows[0]:
    try:
      columns[name] = [float(row[name]) for row in rows]
    except (TypeError, ValueError):
      continue  # a non-numeric column; nothing to plot
  return columns
