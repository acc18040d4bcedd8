"""The run directory (model_dir): every artefact's name, every read and write.

  config.json           the frozen TrainConfig (written before training)
  class_names.json      output index -> class name
  run_info.json         what "auto" and the strategy resolved to, and why
  history.csv           one row per finished epoch, over every session
  callback_state.json   memory of the stateful callbacks (for a restart)
  backup/               BackupAndRestore: weights, optimizer, next epoch;
                        kept after the end, so a run can be trained on
  logs/                 TensorBoard
  model.keras           the best epoch by validation AUC
  saved_model/          that model for serving
  training_status.json  written last: the run is finished (see `finish`)
  calibration.json      by trainer.evaluate: the temperature fitted on
                        validation, for the model file whose sha256 it
                        records; every score is read through it
  threshold.json        by trainer.evaluate (or trainer.choose_threshold):
                        the operating threshold on those calibrated scores
  evaluation/<split>/   by trainer.evaluate
  workers/<task>/       what non-chief workers of a multi-worker job write

model_dir may be any TensorFlow filesystem path (local, gs://, ram://):
everything goes through `trainer.storage`.
"""

import csv
import dataclasses
import io
import re
from typing import Any, Optional, Sequence

from trainer import calibration as calibration_lib
from trainer import config as config_lib
from trainer import storage
from trainer import thresholds

CONFIG = config_lib.CONFIG_FILENAME
CLASS_NAMES = "class_names.json"
RUN_INFO = "run_info.json"
HISTORY = "history.csv"
CALLBACK_STATE = "callback_state.json"
BACKUP = "backup"
TENSORBOARD = "logs"
BEST_MODEL = "model.keras"
SAVED_MODEL = "saved_model"
STATUS = "training_status.json"
THRESHOLD = "threshold.json"
CALIBRATION = "calibration.json"
EVALUATION = "evaluation"
WORKERS = "workers"
# What a start-over removes: everything a run or its evaluation writes.
ARTEFACTS = (CONFIG, CLASS_NAMES, RUN_INFO, HISTORY, CALLBACK_STATE, BACKUP,
             TENSORBOARD, BEST_MODEL, SAVED_MODEL, STATUS, THRESHOLD,
             CALIBRATION, EVALUATION, WORKERS)


def path(model_dir: str, name: str) -> str:
  return storage.join(model_dir, name)


def worker_dir(model_dir: str, task_type: str, task_id: int) -> str:
  return storage.join(model_dir, WORKERS, f"{task_type}_{task_id}")


def evaluation_dir(model_dir: str, split: str) -> str:
  """model_dir/evaluation/<split, made a safe folder name>."""
  return storage.join(model_dir, EVALUATION,
                      re.sub(r"[^A-Za-z0-9_.-]+", "_", split).strip("_"))


def clear(model_dir: str) -> list[str]:
  """Removes every artefact of a run (ARTEFACTS); returns what was there."""
  removed = present(model_dir)
  for name in removed:
    storage.remove(path(model_dir, name))
  return removed


def present(model_dir: str) -> list[str]:
  """The ARTEFACTS names that exist in model_dir."""
  return [name for name in ARTEFACTS if storage.exists(path(model_dir, name))]


# --- written at the start of a run ------------------------------------------

def write_config(config: config_lib.TrainConfig, model_dir: str) -> str:
  return storage.write_json(path(model_dir, CONFIG), config.to_dict())


def read_config_values(model_dir: str) -> Optional[dict[str, Any]]:
  """config.json as a plain dict (not validated), or None if absent."""
  config_path = path(model_dir, CONFIG)
  if not storage.exists(config_path):
    return None
  return storage.read_json(config_path)


def read_config(model_dir: str) -> config_lib.TrainConfig:
  return config_lib.TrainConfig.from_dict(
      storage.read_json(path(model_dir, CONFIG)))


def write_class_names(class_names: Sequence[str], model_dir: str) -> str:
  return storage.write_json(path(model_dir, CLASS_NAMES), list(class_names))


def read_class_names(model_dir: str) -> tuple[str, ...]:
  return tuple(storage.read_json(path(model_dir, CLASS_NAMES)))


def write_run_info(info: dict[str, Any], model_dir: str) -> str:
  return storage.write_json(path(model_dir, RUN_INFO), info)


def read_run_info(model_dir: str) -> Optional[dict[str, Any]]:
  info_path = path(model_dir, RUN_INFO)
  return storage.read_json(info_path) if storage.exists(info_path) else None


# --- written during training ------------------------------------------------

def read_history_rows(history_path: str) -> tuple[list[str], list[list[str]]]:
  """(header, rows) of a history CSV; ([], []) if absent or empty."""
  if not storage.exists(history_path):
    return [], []
  rows = list(csv.reader(io.StringIO(storage.read_text(history_path))))
  if not rows:
    return [], []
  return rows[0], [row for row in rows[1:] if row]


def write_history_rows(history_path: str, header: Sequence[str],
                       rows: Sequence[Sequence[str]]) -> str:
  """Rewrites the whole history CSV in one write (atomic, bucket-safe)."""
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(header)
  writer.writerows(rows)
  return storage.write_text(history_path, text.getvalue())


def history(model_dir: str) -> Optional[dict[str, list[float]]]:
  """The training history as column -> values, or None if there is none."""
  header, rows = read_history_rows(path(model_dir, HISTORY))
  if not rows:
    return None
  columns = {}
  for i, name in enumerate(header):
    try:
      columns[name] = [float(row[i]) for row in rows]
    except (IndexError, ValueError):
      continue  # a non-numeric column; nothing to plot
  return columns


def read_callback_state(state_path: str) -> Optional[dict[str, Any]]:
  try:
    return storage.read_json(state_path) if storage.exists(state_path) else None
  except ValueError:
    return None  # a damaged state file: start the callbacks afresh


def write_callback_state(state_path: str, state: dict[str, Any]) -> str:
  return storage.write_json(state_path, state)


# --- written at the end -----------------------------------------------------

def model_sha256(model_dir: str) -> str:
  return storage.sha256(path(model_dir, BEST_MODEL))


def finish(model_dir: str, config: config_lib.TrainConfig) -> dict[str, Any]:
  """Writes training_status.json: the run is finished; returns it.

  Written after the exported model, so its presence means every artefact of
  training is complete. `epochs_run` < `epochs` means early stopping ended
  the run (more epochs would change nothing).
  """
  columns = history(model_dir) or {}
  monitored = columns.get("val_auc", [])
  epochs_run = len(columns.get("epoch", []))
  best = max(range(len(monitored)), key=monitored.__getitem__, default=None)
  status = {
      "finished": True, "epochs": config.epochs, "epochs_run": epochs_run,
      "stopped_early": epochs_run < config.epochs,
      "best_epoch": None if best is None else best + 1,
      "best_val_auc": None if best is None else monitored[best],
      "model_sha256": model_sha256(model_dir),
  }
  storage.write_json(path(model_dir, STATUS), status)
  return status


def read_status(model_dir: str) -> Optional[dict[str, Any]]:
  status_path = path(model_dir, STATUS)
  return storage.read_json(status_path) if storage.exists(status_path) else None


def unfinish(model_dir: str) -> None:
  """Marks a finished run as being trained on (more epochs)."""
  storage.remove(path(model_dir, STATUS))


# --- the threshold ----------------------------------------------------------

def write_threshold(choice: thresholds.Choice, model_dir: str) -> str:
  return storage.write_json(path(model_dir, THRESHOLD), choice.to_dict())


def read_threshold(model_dir: str) -> Optional[thresholds.Choice]:
  threshold_path = path(model_dir, THRESHOLD)
  if not storage.exists(threshold_path):
    return None
  return thresholds.Choice.from_dict(storage.read_json(threshold_path))


# --- the calibration --------------------------------------------------------

def write_calibration(calibration: calibration_lib.Calibration,
                      model_dir: str) -> str:
  return storage.write_json(path(model_dir, CALIBRATION),
                            calibration.to_dict())


def read_calibration(model_dir: str) -> Optional[calibration_lib.Calibration]:
  calibration_path = path(model_dir, CALIBRATION)
  if not storage.exists(calibration_path):
    return None
  return calibration_lib.Calibration.from_dict(
      storage.read_json(calibration_path))


# --- a finished run, read back ----------------------------------------------

@dataclasses.dataclass(frozen=True)
class TrainedModel:
  """A finished run's config, classes, best model, calibration and
  threshold."""
  model_dir: str
  config: config_lib.TrainConfig
  class_names: tuple[str, ...]
  model: object  # keras.Model; keras is imported only in `load`.
  model_sha256: str
  # The saved threshold, if it belongs to this model file and to the saved
  # calibration (else None, and threshold_problem says why).
  threshold: Optional[thresholds.Choice]
  threshold_problem: Optional[str] = None
  # The saved calibration, if it belongs to this model file (else None, and
  # calibration_problem says why): scores are read through it.
  calibration: Optional[calibration_lib.Calibration] = None
  calibration_problem: Optional[str] = None

  @property
  def multiclass(self) -> bool:
    return len(self.class_names) > 2

  @property
  def temperature(self) -> Optional[float]:
    return None if self.calibration is None else self.calibration.temperature

  def saved_threshold(self) -> Optional[thresholds.Choice]:
    """The saved threshold; None if there is none.

    Raises:
      ValueError: threshold.json belongs to another model file or another
        calibration.
    """
    if self.threshold_problem:
      raise ValueError(self.threshold_problem)
    return self.threshold


def _stale(name: str, recorded: Optional[str], sha256: str,
           model_dir: str) -> Optional[str]:
  if recorded == sha256:
    return None
  verb = "fitted" if name == CALIBRATION else "chosen"
  return (f"{path(model_dir, name)} was {verb} for another model file "
          f"(sha256 {(recorded or 'no model')[:12]}, model.keras is "
          f"{sha256[:12]}): the model changed since trainer.evaluate wrote "
          "it; run trainer.evaluate again, or give a threshold explicitly")


def _threshold_problem(choice: Optional[thresholds.Choice], sha256: str,
                       temperature: Optional[float],
                       model_dir: str) -> Optional[str]:
  if choice is None:
    return None
  stale = _stale(THRESHOLD, choice.model_sha256, sha256, model_dir)
  if stale:
    return stale
  if choice.temperature != temperature:
    return (f"{path(model_dir, THRESHOLD)} was chosen on scores calibrated "
            f"with temperature {choice.temperature}, but the run's scores "
            f"are calibrated with {temperature} ({CALIBRATION}); run "
            "trainer.evaluate (or trainer.choose_threshold) again")
  return None


def load(model_dir: str) -> TrainedModel:
  """Reads config, class names, model.keras, calibration.json and
  threshold.json of model_dir.

  The model is loaded with safe_mode=True: a model file must not be able to
  run code.

  Raises:
    ValueError: model_dir is not a finished run (a file is missing).
  """
  for name in (CONFIG, CLASS_NAMES, BEST_MODEL):
    if not storage.exists(path(model_dir, name)):
      raise ValueError(f"{model_dir} is not a finished training run: {name} "
                       "is missing")
  import keras  # pylint: disable=g-import-not-at-top
  sha256 = model_sha256(model_dir)
  # Inference only: compile=False skips the optimizer and the training
  # metrics (one of them a custom class).
  model = keras.saving.load_model(path(model_dir, BEST_MODEL), compile=False,
                                  safe_mode=True)
  calibration = read_calibration(model_dir)
  calibration_problem = (calibration and _stale(
      CALIBRATION, calibration.model_sha256, sha256, model_dir))
  if calibration_problem:
    calibration = None
  choice = read_threshold(model_dir)
  problem = calibration_problem or _threshold_problem(
      choice, sha256, calibration and calibration.temperature, model_dir)
  return TrainedModel(model_dir=model_dir, config=read_config(model_dir),
                      class_names=read_class_names(model_dir), model=model,
                      model_sha256=sha256,
                      threshold=None if problem else choice,
                      threshold_problem=problem if choice else None,
                      calibration=calibration,
                      calibration_problem=calibration_problem or None)
