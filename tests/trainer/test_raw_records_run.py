"""A run on raw-pixel records, end to end: trained (augmentation in the
step), evaluated, predicted and served; the same readers as for JPEG."""

import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests.trainer import helpers
from trainer import evaluate
from trainer import predict
from trainer import prediction
from trainer import run_dir
from trainer import stored
from trainer import train

RAW = "pneumonia_xray/gray_96_raw"
PARITY = 0.01  # as tests/trainer/test_serving.py


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory, tiny_raw_data_dir) -> str:
  model_dir = tmp_path_factory.mktemp("raw_run")
  train.run(helpers.tiny_config(
      tiny_raw_data_dir, model_dir, dataset=RAW, image_size=64,
      augment_on="device", early_stopping_patience=0, reduce_lr_patience=0))
  return os.fspath(model_dir)


def _files(shared_data) -> list[str]:
  return [os.fspath(path)
          for path in conftest.shared_originals(shared_data)[::36]]


def test_evaluate_reads_raw_records_as_it_reads_their_jpeg_twin(
    raw_run, tiny_raw_data_dir, tiny_data_dir, tmp_path):
  on_raw = evaluate.evaluate(
      raw_run, os.fspath(tiny_raw_data_dir), split="test",
      output_dir=os.fspath(tmp_path / "raw"), n_bootstrap=50, gradcam=False)
  on_jpeg = evaluate.evaluate(
      raw_run, os.fspath(tiny_data_dir), split="test",
      dataset="pneumonia_xray/gray_96", save_threshold=False,
      output_dir=os.fspath(tmp_path / "jpeg"), n_bootstrap=50, gradcam=False)
  raw_rows = (tmp_path / "raw" / "predictions.csv").read_text().splitlines()
  jpeg_rows = (tmp_path / "jpeg" / "predictions.csv").read_text().splitlines()
  assert len(raw_rows) == len(jpeg_rows) > 1
  # The same films; the JPEG twin's pixels are a few levels off.
  assert on_raw["n_examples"] == on_jpeg["n_examples"] > 0
  assert on_raw["overall"]["roc_auc"]["value"] == pytest.approx(
      on_jpeg["overall"]["roc_auc"]["value"], abs=0.1)


def test_predict_and_serving_agree_on_a_raw_record_run(raw_run, shared_data,
                                                       tmp_path):
  files = _files(shared_data)
  rows = predict.predict(files, raw_run, os.fspath(tmp_path / "p.csv"))
  assert not any(row["error"] for row in rows)
  saved_model = tf.saved_model.load(run_dir.path(raw_run,
                                                 run_dir.SAVED_MODEL))
  data = tf.constant([pathlib.Path(f).read_bytes() for f in files])
  served = saved_model.signatures["serving_default"](image_bytes=data)
  np.testing.assert_allclose(
      served["p_pneumonia"].numpy(),
      [float(row["p_pneumonia"]) for row in rows], atol=PARITY)
  # Raw pixels have no codec to repeat: the graph's model input is
  # predict's, bit for bit.
  trained = run_dir.load(raw_run)
  geometry, feature = stored.stored_format(trained.config.dataset)
  assert geometry.encoding == "raw"
  model_inputs = saved_model.signatures["preprocess"](
      image_bytes=data)["model_input"].numpy()
  for path, model_input in zip(files, model_inputs):
    expected, _ = prediction.read_model_input(path, geometry, feature, 64, 1)
    np.testing.assert_array_equal(model_input, expected, err_msg=path)
