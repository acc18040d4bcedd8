"""Callbacks: order, resumable history, callback state across a restart."""

import csv
import pathlib

import keras
import tensorflow as tf

from trainer import callbacks as callbacks_lib
from trainer import config as config_lib
from trainer import run_dir


def _rows(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f))


def _history_session(path, first_epoch, epochs):
  """One training session's calls into a HistoryWriter."""
  writer = callbacks_lib.HistoryWriter(path)
  writer.on_train_begin()
  for epoch in range(first_epoch, first_epoch + epochs):
    writer.on_epoch_begin(epoch)
    writer.on_epoch_end(epoch, {"loss": 1.0 - epoch / 10, "val_auc": 0.5})


def test_history_drops_rows_of_epochs_run_again(tmp_path):
  path = str(tmp_path / "history.csv")
  _history_session(path, 0, 4)
  assert [row[0] for row in _rows(path)] == ["epoch", "0", "1", "2", "3"]
  # Killed during epoch 4 after the backup of epoch 1: epochs 2-3 run again.
  _history_session(path, 2, 3)
  rows = _rows(path)
  assert rows[0] == ["epoch", "loss", "val_auc"]
  assert [row[0] for row in rows[1:]] == ["0", "1", "2", "3", "4"]
  assert float(rows[3][1]) == 0.8


def test_history_on_an_in_memory_filesystem(ram_bucket):
  """The same writer on TF's ram:// filesystem (a bucket's code path)."""
  path = f"{ram_bucket}/history.csv"
  _history_session(path, 0, 2)
  _history_session(path, 2, 1)
  header, rows = run_dir.read_history_rows(path)
  assert header == ["epoch", "loss", "val_auc"]
  assert [row[0] for row in rows] == ["0", "1", "2"]
  assert not pathlib.Path("ram:").exists()


def _stateful(tmp_path):
  return [
      keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"),
                                      monitor="val_auc", mode="max",
                                      save_best_only=True),
      keras.callbacks.EarlyStopping(monitor="val_auc", mode="max",
                                    patience=5),
      keras.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=2),
  ]


def test_callback_state_survives_a_restart(tmp_path):
  path = str(tmp_path / "state.json")
  first = _stateful(tmp_path)
  backup = callbacks_lib.CallbackStateBackup(path, first)
  for callback in first + [backup]:
    callback.on_train_begin()
  checkpoint, stopping, plateau = first
  checkpoint.best, stopping.best, stopping.wait = 0.875, 0.875, 2
  stopping.best_epoch, plateau.best, plateau.wait = 1, 0.31, 1
  backup.on_epoch_end(3)  # the run is killed after epoch 3

  second = _stateful(tmp_path)
  restore = callbacks_lib.CallbackStateBackup(path, second)
  for callback in second + [restore]:
    callback.on_train_begin()
  restore.on_epoch_begin(4)
  checkpoint, stopping, plateau = second
  assert checkpoint.best == 0.875
  assert (stopping.best, stopping.wait, stopping.best_epoch) == (0.875, 2, 1)
  assert (plateau.best, plateau.wait) == (0.31, 1)
  restore.on_train_end()
  # Kept: a finished run trained on later goes on with the same state.
  assert (tmp_path / "state.json").exists()


def test_callback_state_of_another_epoch_is_ignored(tmp_path):
  path = str(tmp_path / "state.json")
  first = _stateful(tmp_path)
  backup = callbacks_lib.CallbackStateBackup(path, first)
  first[0].best = 0.9
  backup.on_epoch_end(3)
  second = _stateful(tmp_path)
  restore = callbacks_lib.CallbackStateBackup(path, second)
  restore.on_train_begin()
  restore.on_epoch_begin(2)  # the weights' backup is older than the state
  assert second[0].best is None


def test_order_validation_first_backup_last(tmp_path):
  config = config_lib.TrainConfig(model_dir=str(tmp_path))
  validation = keras.callbacks.Callback()
  epoch = tf.Variable(0, dtype=tf.int64)
  callbacks = callbacks_lib.make_callbacks(config, str(tmp_path), validation,
                                           epoch)
  kinds = [type(c) for c in callbacks]
  assert kinds[0] is callbacks_lib.EpochSeeds
  assert callbacks[1] is validation
  assert kinds[-1] is keras.callbacks.BackupAndRestore
  assert kinds[-2] is callbacks_lib.CallbackStateBackup
  assert kinds.index(keras.callbacks.ModelCheckpoint) < kinds.index(
      callbacks_lib.HistoryWriter)
  for callback in callbacks:
    monitor = getattr(callback, "monitor", None)
    assert monitor is None or monitor.startswith("val_")
  backup = callbacks[-1]
  assert backup.backup_dir == str(tmp_path / "backup")
  assert backup.delete_checkpoint is False
  callbacks[0].on_epoch_begin(7)
  assert int(epoch.numpy()) == 7


def test_zero_patience_disables(tmp_path):
  config = config_lib.TrainConfig(model_dir=str(tmp_path),
                                  early_stopping_patience=0,
                                  reduce_lr_patience=0)
  kinds = {type(c) for c in callbacks_lib.make_callbacks(
      config, str(tmp_path), keras.callbacks.Callback(),
      tf.Variable(0, dtype=tf.int64))}
  assert keras.callbacks.EarlyStopping not in kinds
  assert keras.callbacks.ReduceLROnPlateau not in kinds
