"""Callbacks: order, resumable history, callback state across a restart."""

import csv

import keras

from trainer import callbacks as callbacks_lib
from trainer import config as config_lib


def _rows(path):
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f))


def test_drop_rows_from_epoch(tmp_path):
  path = tmp_path / "history.csv"
  path.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n3,0.7\n")
  callbacks_lib.drop_rows_from_epoch(str(path), 2)
  assert _rows(path) == [["epoch", "loss"], ["0", "1.0"], ["1", "0.9"]]
  callbacks_lib.drop_rows_from_epoch(str(path), 0)
  assert _rows(path) == [["epoch", "loss"]]


def test_drop_rows_without_a_file_is_a_no_op(tmp_path):
  callbacks_lib.drop_rows_from_epoch(str(tmp_path / "missing.csv"), 1)
  assert not (tmp_path / "missing.csv").exists()


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
  assert not (tmp_path / "state.json").exists()


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
  callbacks = callbacks_lib.make_callbacks(config, str(tmp_path), validation)
  kinds = [type(c) for c in callbacks]
  assert callbacks[0] is validation
  assert kinds[-1] is keras.callbacks.BackupAndRestore
  assert kinds[-2] is callbacks_lib.CallbackStateBackup
  assert kinds.index(keras.callbacks.ModelCheckpoint) < kinds.index(
      callbacks_lib.ResumableCSVLogger)
  for callback in callbacks:
    monitor = getattr(callback, "monitor", None)
    assert monitor is None or monitor.startswith("val_")
  backup = callbacks[-1]
  assert backup.backup_dir == str(tmp_path / "backup")


def test_zero_patience_disables(tmp_path):
  config = config_lib.TrainConfig(model_dir=str(tmp_path),
                                  early_stopping_patience=0,
                                  reduce_lr_patience=0)
  kinds = {type(c) for c in callbacks_lib.make_callbacks(
      config, str(tmp_path), keras.callbacks.Callback())}
  assert keras.callbacks.EarlyStopping not in kinds
  assert keras.callbacks.ReduceLROnPlateau not in kinds
