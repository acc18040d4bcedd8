"""The exported SavedModel: serving_default on image files, against
trainer.predict, in this process, in a process with TensorFlow alone, and
through saved_model_cli."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests.trainer import evaluation_helpers
from tests.trainer import helpers
from trainer import calibration
from trainer import evaluate
from trainer import predict
from trainer import prediction
from trainer import run_dir
from trainer import serving
from trainer import stored

# The bound on |P(serving) - P(predict)|; the pixels are equal (see
# tests/pipeline/test_decode.py), so what is left is float32 noise.
PARITY = 0.01


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_data_dir) -> str:
  return evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir)


def _saved_model(model_dir: str) -> str:
  return run_dir.path(model_dir, run_dir.SAVED_MODEL)


def _originals(shared_data) -> list[str]:
  return [os.fspath(path) for path in conftest.shared_originals(shared_data)]


def _serve(saved_model: str, files, batch_size: int = 32) -> dict:
  signature = tf.saved_model.load(saved_model).signatures["serving_default"]
  columns: dict[str, list] = {}
  for start in range(0, len(files), batch_size):
    data = [pathlib.Path(f).read_bytes() for f in files[start:start +
                                                         batch_size]]
    for key, value in signature(image_bytes=tf.constant(data)).items():
      columns.setdefault(key, []).extend(value.numpy().tolist())
  return columns


def test_serving_default_matches_predict_on_every_shared_original(
    model_dir, shared_data, tmp_path):
  files = _originals(shared_data)
  assert len(files) == 432  # 286 Kermany JPEGs, 146 ieee8023 JPEGs/PNGs
  rows = predict.predict(files, model_dir, os.fspath(tmp_path / "p.csv"))
  assert not any(row["error"] for row in rows)
  served = _serve(_saved_model(model_dir), files)
  difference = np.abs(np.array(served["p_pneumonia"])
                      - np.array([float(row["p_pneumonia"]) for row in rows]))
  print(f"|dp| over {len(files)} originals: max {difference.max():.3g}, "
        f"median {np.median(difference):.3g}")
  assert difference.max() <= PARITY
  # Same threshold (the CSV prints four digits), same call.
  assert served["threshold"] == pytest.approx(
      [float(row["threshold"]) for row in rows], rel=1e-3)
  assert [label.decode() for label in served["label"]] == [
      row["predicted_label"] for row in rows]


def test_preprocess_feeds_the_model_what_predict_feeds_it(model_dir,
                                                          shared_data):
  files = _originals(shared_data)[::40]
  trained = run_dir.load(model_dir)
  geometry, feature = stored.stored_format(trained.config.dataset)
  preprocess = tf.saved_model.load(_saved_model(model_dir)).signatures[
      "preprocess"]
  served = preprocess(image_bytes=tf.constant(
      [pathlib.Path(f).read_bytes() for f in files]))["model_input"].numpy()
  for path, model_input in zip(files, served):
    expected, _ = prediction.read_model_input(
        path, geometry, feature, trained.config.image_size,
        trained.config.channels)
    np.testing.assert_array_equal(model_input, expected, err_msg=path)


_TENSORFLOW_ONLY = """
import json, sys
# Any import of these now fails: the SavedModel must not need them.
for name in ("keras", "tf_keras", "pneumonia_tfds", "pipeline", "trainer",
             "tensorflow_datasets", "PIL", "pydicom"):
  sys.modules[name] = None
import tensorflow as tf
signature = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
data = [open(path, "rb").read() for path in sys.argv[2:]]
outputs = signature(image_bytes=tf.constant(data))
print(json.dumps({key: value.numpy().tolist() for key, value in outputs.items()},
                 default=bytes.decode))
"""


def test_the_saved_model_runs_with_tensorflow_alone(model_dir, shared_data,
                                                    tmp_path):
  files = _originals(shared_data)[::50]
  rows = predict.predict(files, model_dir, os.fspath(tmp_path / "p.csv"))
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["TF_CPP_MIN_LOG_LEVEL"] = "2"
  result = subprocess.run(
      [sys.executable, "-c", _TENSORFLOW_ONLY, _saved_model(model_dir),
       *files], cwd=tmp_path, env=env, capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  outputs = json.loads(result.stdout.strip().splitlines()[-1])
  assert outputs["p_pneumonia"] == pytest.approx(
      [float(row["p_pneumonia"]) for row in rows], abs=PARITY)
  assert outputs["label"] == [row["predicted_label"] for row in rows]


def _saved_model_cli() -> list[str]:
  script = pathlib.Path(sys.executable).with_name("saved_model_cli")
  return [os.fspath(script)] if script.is_file() else [
      sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


def test_saved_model_cli_run_as_in_the_readme(model_dir, shared_data,
                                              tmp_path):
  # README: "Serving the model", the saved_model_cli example.
  files = [os.fspath(p) for p in sorted(
      (shared_data / "chest_xray" / "test" / "PNEUMONIA").iterdir())[:2]]
  np.save(tmp_path / "request.npy",
          np.array([pathlib.Path(f).read_bytes() for f in files]))
  result = subprocess.run(
      _saved_model_cli() + [
          "run", "--dir", _saved_model(model_dir), "--tag_set", "serve",
          "--signature_def", "serving_default",
          "--inputs", f"image_bytes={tmp_path / 'request.npy'}"],
      env=helpers.subprocess_env(), capture_output=True, text=True,
      timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  printed = re.search(r"Result for output key p_pneumonia:\s*\[([^\]]*)\]",
                      result.stdout)
  assert printed, result.stdout[-2000:]
  rows = predict.predict(files, model_dir, os.fspath(tmp_path / "p.csv"))
  assert [float(v) for v in printed.group(1).split()] == pytest.approx(
      [float(row["p_pneumonia"]) for row in rows], abs=1e-4)


def test_evaluate_exports_the_threshold_and_calibration_it_chooses(
    model_dir, tiny_data_dir, shared_data, tmp_path):
  run = tmp_path / "run"
  shutil.copytree(model_dir, run)
  evaluate.evaluate(os.fspath(run), os.fspath(tiny_data_dir), "test",
                    threshold_method="youden", n_bootstrap=20,
                    examples_per_kind=1)
  choice = run_dir.read_threshold(os.fspath(run))
  calibration_fit = run_dir.read_calibration(os.fspath(run))
  info = serving.read_info(_saved_model(os.fspath(run)))
  assert info["threshold"] == choice.threshold
  assert info["temperature"] == calibration_fit.temperature == (
      choice.temperature)
  assert "youden" in info["threshold_source"]
  assert choice.model_sha256[:12] in info["threshold_source"]
  files = _originals(shared_data)[::30]
  served = _serve(_saved_model(os.fspath(run)), files)
  assert served["threshold"] == pytest.approx([choice.threshold] * len(files))
  # Served scores are the calibrated ones predict writes, called alike.
  rows = predict.predict(files, os.fspath(run), os.fspath(tmp_path / "p.csv"))
  assert served["p_pneumonia"] == pytest.approx(
      [float(row["p_pneumonia"]) for row in rows], rel=1e-3, abs=1e-6)
  assert [label.decode() for label in served["label"]] == [
      row["predicted_label"] for row in rows]
  # The calibration is applied to the model's own output, in the graph.
  loaded = tf.saved_model.load(_saved_model(os.fspath(run)))
  data = tf.constant([pathlib.Path(f).read_bytes() for f in files])
  model_input = loaded.signatures["preprocess"](image_bytes=data)
  raw = np.asarray(list(loaded.signatures["serve"](
      inputs=model_input["model_input"]).values())[0], np.float64)
  expected = calibration.scale(np.concatenate([1 - raw, raw], axis=1),
                               calibration_fit.temperature)[:, 1]
  assert served["p_pneumonia"] == pytest.approx(expected, abs=1e-6)
  assert not np.allclose(served["p_pneumonia"], raw[:, 0], atol=1e-3)


def test_a_multiclass_model_serves_every_class(tmp_path_factory,
                                               tiny_data_dir, shared_data,
                                               tmp_path):
  types_dir = evaluation_helpers.trained_run(tmp_path_factory, tiny_data_dir,
                                             "pneumonia_type")
  files = _originals(shared_data)[::36]
  rows = predict.predict(files, types_dir, os.fspath(tmp_path / "t.csv"))
  served = _serve(_saved_model(types_dir), files)
  names = run_dir.read_class_names(types_dir)
  probabilities = np.array(served["probabilities"])
  assert probabilities.shape == (len(files), len(names))
  for row, p, classes, kind in zip(rows, served["p_pneumonia"],
                                   probabilities, served["predicted_type"]):
    assert p == pytest.approx(float(row["p_pneumonia"]), abs=PARITY)
    assert p == pytest.approx(1 - classes[names.index("normal")], abs=1e-6)
    assert kind.decode() == row["predicted_type"]
    for name, value in zip(names, classes):
      assert value == pytest.approx(float(row[f"p_{name}"]), abs=PARITY)


def test_bytes_that_are_no_image_fail_the_request_with_the_reason(model_dir):
  signature = tf.saved_model.load(_saved_model(model_dir)).signatures[
      "serving_default"]
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="neither JPEG nor PNG"):
    signature(image_bytes=tf.constant([b"%PDF-1.4 not a film"]))
