"""Callbacks of a training run, ordered so that a killed run can resume.

Everything monitored is a validation-split metric (`val_*`, put into the
logs by `trainer.validation.Validation`, the first callback); the test split
is never seen during training.

A job killed mid-run and restarted with the same flags goes on from its last
finished epoch: `BackupAndRestore` brings back weights, optimizer state (the
learning rate included) and the epoch; `CallbackStateBackup` brings back what
Keras does not back up (the best value so far of ModelCheckpoint, the
patience counters of EarlyStopping and ReduceLROnPlateau), so the resumed run
makes the decisions an uninterrupted one would; `HistoryWriter` drops
history rows of epochs that are being run again, so history.csv lists every
epoch once; `EpochSeeds` makes the input's and the model's random draws
follow the epoch number. Together with `--deterministic`, a killed and restarted
run ends with the history and weights of an uninterrupted one.

Every file goes through `trainer.run_dir`, so output_dir may be a bucket.
"""

import importlib.util
from typing import Any, Optional

from absl import logging
import keras
import tensorflow as tf

from trainer import config as config_lib
from trainer import run_dir

# The best model and early stopping follow validation AUC; the learning rate
# follows validation loss (a smoother signal on small validation sets).
MONITOR = "val_auc"
MONITOR_MODE = "max"
LR_MONITOR = "val_loss"
LR_FACTOR = 0.5
MIN_LR = 1e-6

# Attributes holding each stateful callback's memory between epochs.
_STATE_ATTRIBUTES = {
    keras.callbacks.ModelCheckpoint: ("best",),
    keras.callbacks.EarlyStopping: ("best", "wait", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("best", "wait", "cooldown_counter"),
}


class EpochSeeds(keras.callbacks.Callback):
  """Makes every random draw of an epoch a function of the epoch number.

  The input pipeline reads `epoch` when an epoch's iteration starts
  (pipeline.input.make_for_train). The model's own draws (dropout) come from
  Keras seed generators, whose state is not in the weights BackupAndRestore
  saves: each generator's counter is set to the epoch's own range here. So
  a restarted run draws in epoch k what an uninterrupted run draws there.
  """

  # An epoch's draws take counters [epoch << 32, (epoch + 1) << 32).
  _COUNTER_BITS = 32

  def __init__(self, epoch: tf.Variable):
    super().__init__()
    self.epoch = epoch
    self._generators: list[tuple[keras.random.SeedGenerator, int]] = []

  def on_train_begin(self, logs=None):
    self._generators = [(generator, int(generator.state.numpy()[0]))
                        for generator in _seed_generators(self.model)]

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch.assign(epoch)
    for generator, seed in self._generators:
      generator.state.assign(tf.constant(
          [seed, epoch << self._COUNTER_BITS], generator.state.dtype))


def _seed_generators(model: keras.Model) -> list[keras.random.SeedGenerator]:
  """The seed generators of the model's layers (dropout's), nested too."""
  found, stack = [], list(model.layers)
  while stack:
    layer = stack.pop(0)
    stack.extend(getattr(layer, "layers", []))
    found.extend(value for value in vars(layer).values()
                 if isinstance(value, keras.random.SeedGenerator))
  return found


class HistoryWriter(keras.callbacks.Callback):
  """history.csv with one row per finished epoch, over every session.

  Like CSVLogger(append=True), but rows of epochs about to run again (a
  killed run's unfinished epochs) are dropped first, and the whole file is
  rewritten in one write at each epoch end, which any TensorFlow filesystem
  (a bucket too) supports; CSVLogger keeps a file open in append mode.
  """

  def __init__(self, filename: str):
    super().__init__()
    self.filename = filename
    self._header: list[str] = []
    self._rows: list[list[str]] = []
    self._started = False

  def on_train_begin(self, logs=None):
    self._started = False

  def on_epoch_begin(self, epoch, logs=None):
    if self._started:
      return
    self._started = True
    self._header, rows = run_dir.read_history_rows(self.filename)
    self._rows = [row for row in rows if int(row[0]) < epoch]

  def on_epoch_end(self, epoch, logs=None):
    logs = dict(logs or {})
    if not self._header:
      self._header = ["epoch"] + sorted(logs)
    row = [str(epoch)] + [_csv_value(logs.get(key)) for key in self._header[1:]]
    self._rows.append(row)
    run_dir.write_history_rows(self.filename, self._header, self._rows)


def _csv_value(value) -> str:
  if value is None:
    return "NA"
  try:
    return repr(float(value))
  except (TypeError, ValueError):
    return str(value)


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
    run_dir.write_callback_state(self.path, state)

  # Kept after training ends: a finished run trained on with more epochs
  # goes on with the same best value and patience counters.

  def _read(self) -> Optional[dict[str, Any]]:
    return run_dir.read_callback_state(self.path)


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
                   validation: keras.callbacks.Callback,
                   epoch: tf.Variable) -> list[keras.callbacks.Callback]:
  """The run's callbacks, writing under `output_dir`, in the order they need.

  At the start of an epoch, `epoch` is set for the input pipeline. At the
  end of an epoch: `validation` adds the val_* metrics; the best
  checkpoint, early stopping and the learning-rate schedule decide; then the
  history row, TensorBoard and the callback state are written;
  BackupAndRestore saves last.
  """
  stateful: list[keras.callbacks.Callback] = [
      keras.callbacks.ModelCheckpoint(
          run_dir.path(output_dir, run_dir.BEST_MODEL), monitor=MONITOR,
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
      HistoryWriter(run_dir.path(output_dir, run_dir.HISTORY))]
  if tensorboard_available():
    writers.append(keras.callbacks.TensorBoard(
        run_dir.path(output_dir, run_dir.TENSORBOARD), write_graph=False,
        update_freq="epoch", profile_batch=0))
  else:
    logging.warning("The tensorboard package is not installed (TensorFlow "
                    "2.21 no longer depends on it); no TensorBoard logs.")
  return [EpochSeeds(epoch), validation] + stateful + writers + [
      CallbackStateBackup(run_dir.path(output_dir, run_dir.CALLBACK_STATE),
                          stateful),
      # The backup stays after the end, so that a finished run can be
      # trained on for more epochs (trainer.rerun).
      keras.callbacks.BackupAndRestore(
          backup_dir=run_dir.path(output_dir, run_dir.BACKUP),
          delete_checkpoint=False),
  ]


def tensorboard_available() -> bool:
  """tf.summary writes only with the tensorboard package installed."""
  return importlib.util.find_spec("tensorboard") is not None
