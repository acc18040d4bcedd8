"""run(config): each model trains an epoch and leaves every artifact."""

import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline import input as input_lib
from tests.trainer import helpers
from trainer import export
from trainer import inputs as inputs_lib
from trainer import run_dir
from trainer import serving
from trainer import thresholds
from trainer import train


def _history_epochs(model_dir):
  with open(os.path.join(model_dir, "history.csv"), newline="") as f:
    return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("model,target,precision,balance", [
    ("blog_cnn", "label", "float32", "class_weight"),
    ("small_resnet", "pneumonia_type", "mixed_bfloat16", "none"),
])
def test_trains_one_epoch_and_exports(make_config, model, target, precision,
                                      balance):
  config = make_config(model=model, target=target, precision=precision,
                       balance=balance)
  policy_before = keras.config.dtype_policy().name
  history = train.run(config)
  model_dir = config.model_dir

  assert keras.config.dtype_policy().name == policy_before
  assert history.epoch == [0]
  assert {"loss", "val_loss", "val_auc", "val_accuracy"} <= set(
      history.history)
  assert _history_epochs(model_dir) == [0]
  assert run_dir.read_config(model_dir) == config
  with open(os.path.join(model_dir, "class_names.json")) as f:
    class_names = json.load(f)
  assert class_names == input_lib.class_names(
      inputs_lib.input_config(config, 16))
  with open(os.path.join(model_dir, "run_info.json")) as f:
    run_info = json.load(f)
  assert run_info["precision"] == precision
  assert run_info["precision_reason"] == f"--precision={precision}"
  assert os.listdir(os.path.join(model_dir, "logs"))
  # Kept, so that the finished run can be trained on for more epochs.
  assert os.path.exists(os.path.join(model_dir, "backup"))
  status = run_dir.read_status(model_dir)
  assert status["finished"] and status["epochs_run"] == 1
  assert status["model_sha256"] == run_dir.model_sha256(model_dir)

  best = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
  images = np.random.rand(3, 32, 32, 1).astype(np.float32)
  probabilities = best.predict(images, verbose=0)
  units = 1 if len(class_names) == 2 else len(class_names)
  assert probabilities.shape == (3, units)
  assert probabilities.dtype == np.float32
  if precision == "mixed_bfloat16":
    assert best.get_layer("stem_conv").compute_dtype == "bfloat16"

  served = tf.saved_model.load(os.path.join(model_dir, "saved_model"))
  outputs = served.serve(tf.constant(images))
  np.testing.assert_allclose(outputs.numpy(), probabilities, atol=1e-5)
  # No threshold is chosen before trainer.evaluate: the default, said so.
  info = serving.read_info(os.path.join(model_dir, "saved_model"))
  assert info["threshold"] == thresholds.DEFAULT_THRESHOLD
  assert info["threshold_source"] == export.NO_THRESHOLD_YET
  assert info["class_names"] == list(class_names)
