"""What a finished run leaves in model_dir besides logs and history.

  config.json       the frozen TrainConfig (written before training starts)
  class_names.json  output index -> class name (written before training)
  run_info.json     what "auto" and the strategy resolved to on this machine
  model.keras       the best epoch by validation AUC (written by the
                    ModelCheckpoint callback, reloaded here)
  saved_model/      that model as a TF SavedModel with a `serve` endpoint
"""

import json
import os
from typing import Any, Sequence

from absl import logging
import keras

from trainer import callbacks as callbacks_lib
from trainer import config as config_lib

CLASS_NAMES_FILENAME = "class_names.json"
RUN_INFO_FILENAME = "run_info.json"
SAVED_MODEL_DIR = "saved_model"


def _write_json(path: str, value: Any) -> None:
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  temporary = path + ".tmp"
  with open(temporary, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.write("\n")
  os.replace(temporary, path)


def write_config(config: config_lib.TrainConfig, model_dir: str) -> str:
  path = os.path.join(model_dir, config_lib.CONFIG_FILENAME)
  _write_json(path, config.to_dict())
  return path


def read_config(model_dir: str) -> config_lib.TrainConfig:
  path = os.path.join(model_dir, config_lib.CONFIG_FILENAME)
  with open(path, encoding="utf-8") as f:
    return config_lib.TrainConfig.from_json(f.read())


def write_class_names(class_names: Sequence[str], model_dir: str) -> str:
  path = os.path.join(model_dir, CLASS_NAMES_FILENAME)
  _write_json(path, list(class_names))
  return path


def write_run_info(info: dict[str, Any], model_dir: str) -> str:
  path = os.path.join(model_dir, RUN_INFO_FILENAME)
  _write_json(path, info)
  return path


def export_best(model: keras.Model, output_dir: str) -> str:
  """Loads the best checkpoint's weights into `model`; writes a SavedModel.

  If no epoch was ever checkpointed (the monitored metric was never finite),
  the final weights are saved as model.keras instead, with a warning.
  """
  best = os.path.join(output_dir, callbacks_lib.BEST_MODEL)
  if os.path.exists(best):
    model.load_weights(best)
  else:
    logging.warning("No best checkpoint at %s; exporting the final weights.",
                    best)
    model.save(best)
  saved_model = os.path.join(output_dir, SAVED_MODEL_DIR)
  model.export(saved_model, verbose=False)
  return saved_model
