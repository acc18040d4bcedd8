"""A run directory in a bucket: train -> train on -> evaluate -> predict, with
model_dir and every output on TF's in-memory ram:// filesystem, the same
tf.io.gfile code path as gs:// (see the ram_bucket fixture)."""

import csv
import dataclasses
import io
import os
import shutil

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from pipeline import input as input_lib
from tests.trainer import helpers
from trainer import evaluate
from trainer import export
from trainer import predict
from pneumonia_tfds import per_file
from trainer import run_dir
from trainer import serving
from trainer import split_scores
from trainer import storage
from trainer import train
from trainer import validation


def _local_url_folders(*folders) -> list[str]:
  """Entries named like a URL's scheme ("ram:", "gs:") in local folders: what
  a path joined with os.path and written with open() would leave."""
  return [os.path.join(folder, name) for folder in folders
          for name in os.listdir(folder) if name.endswith(":")]


def test_export_best_reads_the_checkpoint_in_the_bucket(ram_bucket):
  def model(value):
    inputs = keras.Input((4, 4, 1))
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers
                                 .Constant(value))(keras.layers.Flatten()(
                                     inputs))
    return keras.Model(inputs, outputs)

  best = model(1.0)
  best.save(run_dir.path(ram_bucket, run_dir.BEST_MODEL))
  last = model(7.0)
  spec = serving.Spec(stored=per_file.Geometry(4, 1, "resize", "png"),
                      image_size=4, channels=1,
                      class_names=("normal", "pneumonia"), threshold=0.5,
                      threshold_source="test")
  export.export_best(last, ram_bucket, spec)
  # The last epoch's model now holds the best checkpoint's weights, and the
  # SavedModel serves them.
  np.testing.assert_array_equal(last.get_weights()[0], np.ones((16, 1)))
  saved_model = run_dir.path(ram_bucket, run_dir.SAVED_MODEL)
  served = tf.saved_model.load(saved_model)
  np.testing.assert_allclose(served.serve(tf.ones((1, 4, 4, 1))).numpy(),
                             [[16.0]])
  # A white 4x4 PNG: 16 inputs of 1.0 through the bytes endpoint too.
  white = io.BytesIO()
  Image.new("L", (4, 4), 255).save(white, format="PNG")
  outputs = served.signatures["serving_default"](
      image_bytes=tf.constant([white.getvalue()]))
  np.testing.assert_allclose(outputs["p_pneumonia"].numpy(), [16.0])
  assert serving.read_info(saved_model)["threshold_source"] == "test"


def _val_auc_of(trained: run_dir.TrainedModel) -> float:
  """The monitored metric, recomputed for model.keras as training did."""
  config = split_scores.eval_input_config(trained, None, None, 16)
  check = validation.Validation(input_lib.make_for_eval(config),
                                trained.config.target, 2)
  check.set_model(trained.model)
  return check.evaluate()["auc"]


def test_train_continue_evaluate_predict_in_a_bucket(
    ram_bucket, make_config, tmp_path, monkeypatch, shared_data):
  monkeypatch.chdir(tmp_path)
  model_dir = f"{ram_bucket}/run"
  # A learning rate high enough for the validation AUC to move around.
  config = make_config(model_dir=model_dir, epochs=2, learning_rate=3e-3,
                       early_stopping_patience=0)
  assert train.run(config) is not None
  assert run_dir.read_status(model_dir)["epochs_run"] == 2
  # Train on: the finished run continues where it ended.
  history = train.run(dataclasses.replace(config, epochs=4))
  assert history.epoch == [2, 3]
  columns = run_dir.history(model_dir)
  assert columns["epoch"] == [0.0, 1.0, 2.0, 3.0]
  status = run_dir.read_status(model_dir)
  assert (status["epochs_run"], status["finished"]) == (4, True)
  for name in (run_dir.CONFIG, run_dir.CLASS_NAMES, run_dir.RUN_INFO,
               run_dir.HISTORY, run_dir.BEST_MODEL, run_dir.SAVED_MODEL,
               run_dir.BACKUP, run_dir.TENSORBOARD):
    assert storage.exists(run_dir.path(model_dir, name)), name
  assert storage.listdir(run_dir.path(model_dir, run_dir.TENSORBOARD))

  # The exported model is the best epoch's, not the last one's.
  trained = run_dir.load(model_dir)
  best = max(columns["val_auc"])
  assert _val_auc_of(trained) == pytest.approx(best, abs=1e-6)
  assert status["best_epoch"] == columns["val_auc"].index(best) + 1
  served = tf.saved_model.load(run_dir.path(model_dir, run_dir.SAVED_MODEL))
  images = np.random.default_rng(0).random((2, 32, 32, 1), np.float32)
  np.testing.assert_allclose(served.serve(tf.constant(images)).numpy(),
                             trained.model.predict(images, verbose=0),
                             atol=1e-5)

  result = evaluate.evaluate(model_dir, config.data_dir, "test",
                             n_bootstrap=20, examples_per_kind=1)
  output_dir = run_dir.evaluation_dir(model_dir, "test")
  assert result["output_dir"] == output_dir
  for name in ("metrics.json", "report.md", "predictions.csv", "roc.png",
               "reliability.png", "examples.png", "training_curves.png"):
    assert storage.exists(storage.join(output_dir, name)), name
  assert storage.read_json(storage.join(output_dir, "metrics.json"))[
      "n_examples"] == result["n_examples"]
  Image.open(io.BytesIO(storage.read_bytes(
      storage.join(output_dir, "roc.png")))).verify()
  threshold = run_dir.read_threshold(model_dir)
  assert threshold.model_sha256 == run_dir.model_sha256(model_dir)

  # Images in the bucket too, and the CSV and heat maps written there.
  images_dir = f"{ram_bucket}/incoming"
  originals = sorted((shared_data / "chest_xray" / "test" / "NORMAL").iterdir()
                     )[:2]
  for path in originals:
    storage.write_bytes(f"{images_dir}/{path.name}", path.read_bytes())
  output_csv = f"{ram_bucket}/scores/scores.csv"
  rows = predict.predict([images_dir], model_dir, output_csv,
                         gradcam_dir=f"{ram_bucket}/scores/gradcam")
  assert [row["path"] for row in rows] == [
      f"{images_dir}/{path.name}" for path in originals]
  assert all(not row["error"] for row in rows)
  assert all(row["threshold"] == f"{threshold.threshold:.4g}" for row in rows)
  assert storage.exists(run_dir.path(model_dir, run_dir.CALIBRATION))
  written = list(csv.DictReader(io.StringIO(storage.read_text(output_csv))))
  assert [row["p_pneumonia"] for row in written] == [
      row["p_pneumonia"] for row in rows]
  for row in rows:
    assert row["gradcam"].startswith(f"{ram_bucket}/scores/gradcam/")
    assert storage.exists(row["gradcam"])
  # The same files from a local folder score the same.
  local = tmp_path / "local"
  local.mkdir()
  for path in originals:
    shutil.copyfile(path, local / path.name)
  local_rows = predict.predict([os.fspath(local)], model_dir,
                               os.fspath(tmp_path / "local.csv"))
  for a, b in zip(rows, local_rows, strict=True):
    assert float(a["p_pneumonia"]) == pytest.approx(float(b["p_pneumonia"]),
                                                    abs=1e-6)

  # A re-run of the finished run touches nothing.
  model_bytes = storage.read_bytes(run_dir.path(model_dir, run_dir.BEST_MODEL))
  assert train.run(dataclasses.replace(config, epochs=4)) is None
  assert storage.read_bytes(run_dir.path(model_dir, run_dir.BEST_MODEL)) == (
      model_bytes)

  assert not _local_url_folders(tmp_path, helpers.REPO)
