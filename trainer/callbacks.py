"""Callbacks of a training run, ordered so that a killed run can resume.

Everything monitored is a validation-split metric (`val_*`, put into the
logs by `trainer.validation.Validation`, the first callback); the test split
is never seen during training.

A job killed mid-run and restarted with the same flags goes on from its last
finished epoch: `BackupAndRestore` brings back weights, optimizer state (the
learning rate included) and the epoch; `CallbackStateBackup` brings back what
Keras does not back up (the best value so far of ModelCheckpoint, the
patience counters of EarlyStopping and ReduceLROnPlateau), so the resumed run
makes the decisions an uninterrupted one would; `ResumableCSVLogger` drops
history rows of epochs that are being run again, so history.csv lists every
epoch once.
"""

import csv
import importlib.util
import json
import os
from typing import Any, Optional

from absl import logging
import keras

from trainer import config as config_lib

# The best model and early stopping follow validation AUC; the learning rate
# follows validation loss (a smoother signal on small validation sets).
MONITOR = "val_auc"
MONITOR_MODE = "max"
LR_MONITOR = "val_loss"
LR_FACTOR = 0.5
MIN_LR = 1e-6
HISTORY_CSV = "history.csv"
BEST_MODEL = "model.keras"
BACKUP_DIR = "backup"
STATE_FILE = "callback_state.json"
TENSORBOARD_DIR = "logs"

# Attributes holding each stateful callback's memory between epochs.
_STATE_ATTRIBUTES = {
    keras.callbacks.ModelCheckpoint: ("best",),
    keras.callbacks.EarlyStopping: ("best", "wait", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("best", "wait", "cooldown_counter"),
}


class ResumableCSVLogger(keras.callbacks.CSVLogger):
  """CSVLogger(append=True) that first drops rows of epochs about to rerun.

  The file is opened at the first `on_epoch_begin`, whose epoch is the one
  training starts from (after BackupAndRestore restored it), so rows from a
  killed run's unfinished epochs, or from an earlier run started over, go.
  """

  def __init__(self, filename: str):
    super().__init__(filename, append=True)
    self._opened = False

  def on_train_begin(self, logs=None):
    self._opened = False

  def on_epoch_begin(self, epoch, logs=None):
    if not self._opened:
      drop_rows_from_epoch(self.filename, epoch)
      super().on_train_begin(logs)
      self._opened = True

  def on_train_end(self, logs=None):
    if self._opened:
      super().on_train_end(logs)


def drop_rows_from_epoch(filename: str, epoch: int) -> None:
  """Keeps the header and the rows of epochs before `epoch`."""
  if not os.path.exists(filename):
    return
  with open(filename, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
  if not rows:
    return
  header, body = rows[0], rows[1:]
  kept = [row for row in body if row and int(row[0]) < epoch]
  if len(kept) == len(body):
    return
  with open(filename, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)


class CallbackStateBackup(keras.callbacks.Callback):
  """Saves and restores the memory of stateful callbacks across a restart.

  Must come after the callbacks it covers (they reset themselves in
  `on_train_begin`) and before BackupAndRestore (so the state file is written
  before the weights that go with it). The state is applied only when it was
  written at the end of the epoch just before the one training resumes at.
  """

  def __init__(self, path: str, callbacks: list[keras.callbacks.Callback]):
    super().__init__()
    self.path = path
    self.tracked = [(type(c).__name__, c, _state_attributes(c))
                    for c in callbacks]
    self._first_epoch = True

  def on_train_begin(self, logs=None):
    self._first_epoch = True

  def on_epoch_begin(self, epoch, logs=None):
    if not self._first_epoch:
      return
    self._first_epoch = False
    state = self._read()
    if state is None or state.get("next_epoch") != epoch or epoch == 0:
      return
    for name, callback, attributes in self.tracked:
      for attribute in attributes:
        if attribute in state.get(name, {}):
          setattr(callback, attribute, state[name][attribute])
    logging.info("Resumed at epoch %d with callback state %s", epoch,
                 {k: v for k, v in state.items() if k != "next_epoch"})

  def on_epoch_end(self, epoch, logs=None):
    state: dict[str, Any] = {"next_epoch": epoch + 1}
    for name, callback, attributes in self.tracked:
      state[name] = {a: _plain(getattr(callback, a, None)) for a in attributes}
    temporary = self.path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
      json.dump(state, f)
    os.replace(temporary, self.path)

  def on_train_end(self, logs=None):
    if os.path.exists(self.path):
      os.remove(self.path)

  def _read(self) -> Optional[dict[str, Any]]:
    try:
      with open(self.path, encoding="utf-8") as f:
        return json.load(f)
    except (OSError, ValueError):
      return None


def _state_attributes(callback: keras.callbacks.Callback) -> tuple[str, ...]:
  for cls, attributes in _STATE_ATTRIBUTES.items():
    if isinstance(callback, cls):
      return attributes
  raise ValueError(f"no state attributes known for {type(callback).__name__}")


def _plain(value):
  """A JSON-able copy of a callback attribute (numbers may be numpy/tensors)."""
  if value is None or isinstance(value, (bool, int, str)):
    return value
  return float(value)


def make_callbacks(config: config_lib.TrainConfig, output_dir: str,
                   validation: keras.callbacks.Callback
                   ) -> list[keras.callbacks.Callback]:
  """The run's callbacks, writing under `output_dir`, in the order they need.

  At the end of an epoch: `validation` adds the val_* metrics; the best
  checkpoint, early stopping and the learning-rate schedule decide; then the
  history row, TensorBoard and the callback state are written;
  BackupAndRestore saves last.
  """
  stateful: list[keras.callbacks.Callback] = [
      keras.callbacks.ModelCheckpoint(
          os.path.join(output_dir, BEST_MODEL), monitor=MONITOR,
          mode=MONITOR_MODE, save_best_only=True, verbose=0),
  ]
  if config.early_stopping_patience:
    stateful.append(keras.callbacks.EarlyStopping(
        monitor=MONITOR, mode=MONITOR_MODE,
        patience=config.early_stopping_patience, verbose=1))
  if config.reduce_lr_patience:
    stateful.append(keras.callbacks.ReduceLROnPlateau(
        monitor=LR_MONITOR, mode="min", factor=LR_FACTOR,
        patience=config.reduce_lr_patience, min_lr=MIN_LR, verbose=1))
  writers: list[keras.callbacks.Callback] = [
      ResumableCSVLogger(os.path.join(output_dir, HISTORY_CSV))]
  if tensorboard_available():
    writers.append(keras.callbacks.TensorBoard(
        os.path.join(output_dir, TENSORBOARD_DIR), write_graph=False,
        update_freq="epoch", profile_batch=0))
  else:
    logging.warning("The tensorboard package is not installed (TensorFlow "
                    "2.21 no longer depends on it); no TensorBoard logs.")
  return [validation] + stateful + writers + [
      CallbackStateBackup(os.path.join(output_dir, STATE_FILE), stateful),
      keras.callbacks.BackupAndRestore(
          backup_dir=os.path.join(output_dir, BACKUP_DIR)),
  ]


def tensorboard_available() -> bool:
  """tf.summary writes only with the tensorboard package installed."""
  return importlib.util.find_spec("tensorboard") is not None
