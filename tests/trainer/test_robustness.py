"""Robustness of training and model loading.

A kill inside the second epoch, a restart, and the same finished run as an
uninterrupted one (history and weights, under --deterministic); a
deterministic run repeats exactly, in one process and across processes, and
depends on the seed alone; a model file cannot run code when
loaded; the product never unpickles.

The kill test resamples and augments, so every kind of random draw the
input makes must come out as in the uninterrupted run; it stands for a kill
right after an epoch too (the restart resumes from the last finished epoch
either way). Covered elsewhere, so not repeated here: predict refusing a
FIFO, /dev/null or a missing path, in the library and on the command line
(test_predict.py).
"""

import ast
import csv
import io
import json
import os
import pathlib
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import keras
import numpy as np
import pytest

from pipeline import input as input_lib
from tests.trainer import helpers
from trainer import inputs as inputs_lib
from trainer import models
from trainer import predict
from trainer import run_dir


def _step_seconds(summary: str) -> float:
  """The time per step of a Keras verbose=2 epoch line ("67/67 - 9s -
  140ms/step - loss: ...")."""
  match = re.search(r"(\d+(?:\.\d+)?)(us|ms|s)/step", summary)
  assert match, f"no time per step in {summary!r}"
  return float(match.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[
      match.group(2)]


class _Lines:
  """A child's stdout, line by line with arrival times, read on a thread
  (the child must never block on a full pipe while the test waits)."""

  def __init__(self, stream):
    self.lines: list[tuple[float, str]] = []
    self._queue: queue.Queue = queue.Queue()
    self._thread = threading.Thread(target=self._read, args=(stream,),
                                    daemon=True)
    self._thread.start()

  def _read(self, stream):
    for line in stream:
      self._queue.put((time.monotonic(), line.rstrip("\n")))
    self._queue.put(None)

  def wait_for(self, pattern: str, deadline: float, alive) -> tuple[float, int]:
    """(arrival time, index) of the first line matching `pattern`."""
    while True:
      for index, (arrived, line) in enumerate(self.lines):
        if re.match(pattern, line):
          return arrived, index
      assert alive(), "the run ended before the line " + pattern
      assert time.monotonic() < deadline, "no line " + pattern + " in time"
      try:
        item = self._queue.get(timeout=0.05)
      except queue.Empty:
        continue
      if item is not None:
        self.lines.append(item)

  def finish(self) -> list[str]:
    """Every line, once the child has exited."""
    self._thread.join(timeout=30)
    while True:
      try:
        item = self._queue.get_nowait()
      except queue.Empty:
        break
      if item is not None:
        self.lines.append(item)
    return [line for _, line in self.lines]


def test_kill_in_the_second_epoch_then_restart(make_config, tmp_path):
  epochs = 3
  # Batch 1: the ~70 training images make ~70 steps, so the second epoch
  # lasts seconds and the kill can land well inside it.
  config = make_config(model="blog_cnn", image_size=64, epochs=epochs,
                       per_replica_batch_size=1, early_stopping_patience=0,
                       balance="resample", deterministic=True,
                       precision="float32")
  flagfile = tmp_path / "train.flags"
  flagfile.write_text("\n".join(helpers.cli_flags(config)) + "\n")
  command = helpers.train_command([f"--flagfile={flagfile}"])
  env = helpers.subprocess_env({"PYTHONUNBUFFERED": "1"})

  with open(tmp_path / "first.stderr", "w") as stderr:
    first = subprocess.Popen(command, cwd=helpers.REPO, env=env,
                             stdout=subprocess.PIPE, stderr=stderr, text=True)
  try:
    lines = _Lines(first.stdout)
    began, index = lines.wait_for(rf"Epoch 2/{epochs}$",
                                  time.monotonic() + 240,
                                  lambda: first.poll() is None)
    # The run logs with verbose=2, which prints no per-step progress, so the
    # kill waits for several steps' worth of time at epoch 1's pace (well
    # short of the ~70 steps of the epoch).
    summary = lines.lines[index - 1][1]
    assert re.match(r"(\d+)/\1 - ", summary), summary
    wait = max(5 * _step_seconds(summary), 0.3)
    time.sleep(max(0.0, began + wait - time.monotonic()))
    assert first.poll() is None, "the first run ended before it was killed"
    first.send_signal(signal.SIGKILL)
  finally:
    first.kill()
    first.wait()
  assert first.returncode == -signal.SIGKILL
  stdout = lines.finish()
  second_epoch = stdout[stdout.index(f"Epoch 2/{epochs}") + 1:]
  # The kill landed inside epoch 2: it had begun and had not ended (no
  # summary line, the backup still at epoch 1).
  assert not any(re.match(r"\d+/\d+ - ", line) for line in second_epoch), (
      stdout)
  assert helpers.finished_epochs(config.model_dir) == 1
  rows_before = helpers.history_rows(config.model_dir)
  assert [int(row["epoch"]) for row in rows_before] == [0]
  config_before = run_dir.read_config(config.model_dir)
  assert config_before == config

  second = subprocess.run(command, cwd=helpers.REPO, env=env,
                          capture_output=True, text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  assert "Resumed at epoch 1" in second.stderr
  started = re.findall(r"^Epoch (\d+)/", second.stdout, re.MULTILINE)
  assert started == ["2", "3"]  # resumed in epoch 2, not from the start
  rows = helpers.history_rows(config.model_dir)
  assert [int(row["epoch"]) for row in rows] == list(range(epochs))
  assert rows[0] == rows_before[0]  # the finished epoch was not redone
  assert os.path.exists(os.path.join(config.model_dir, "saved_model"))
  # Exact resume: the history and weights of a run never killed.
  helpers.train_uninterrupted(config, tmp_path / "uninterrupted")
  helpers.assert_same_training(config.model_dir, tmp_path / "uninterrupted")

  trained = run_dir.load(config.model_dir)  # the project's safe loader
  assert trained.config == config_before
  validation = input_lib.make_for_eval(
      inputs_lib.input_config(trained.config, 16))
  images = np.concatenate([batch.numpy() for batch, _ in validation])
  assert len(images)
  probabilities = np.asarray(trained.model.predict(images, verbose=0),
                             np.float64)
  assert probabilities.shape == (len(images), 1)
  assert np.all(np.isfinite(probabilities))
  assert np.all((probabilities >= 0) & (probabilities <= 1))


_HISTORIES_SCRIPT = """
import dataclasses, json, sys
from trainer import config as config_lib
from trainer import train
base = config_lib.TrainConfig.from_json(sys.argv[1])
histories = []
for run in sys.argv[2:]:
  seed, model_dir = run.split(":", 1)
  train.run(dataclasses.replace(base, seed=int(seed), model_dir=model_dir))
  with open(model_dir + "/history.csv") as f:
    histories.append(f.read())
print("HISTORIES", json.dumps(histories))
"""


def test_deterministic_runs_repeat_exactly_and_follow_the_seed(
    make_config, tmp_path):
  """Same seed + --deterministic: the very same history.csv, run twice in one
  process and once in another, and another seed another history. In
  subprocesses: op determinism cannot be switched off in a process."""
  # blog_cnn: small_resnet's deterministic steps are several times slower.
  config = make_config(model="blog_cnn", deterministic=True,
                       precision="float32")

  def start(*runs):
    return subprocess.Popen(
        [sys.executable, "-c", _HISTORIES_SCRIPT, config.to_json(),
         *(f"{seed}:{tmp_path / name}" for seed, name in runs)],
        cwd=helpers.REPO, env=helpers.subprocess_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

  # Side by side, which also checks that the result does not depend on how
  # busy the cores are.
  processes = [start((0, "a0"), (0, "a0_again"), (1, "a1")),
               start((0, "b0"))]
  histories = []
  for process in processes:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    line = [l for l in stdout.splitlines() if l.startswith("HISTORIES ")][-1]
    histories.append(json.loads(line.split(" ", 1)[1]))
  (seed0, seed0_in_process, seed1), (seed0_other_process,) = histories
  assert seed0.count("\n") == 2  # header + 1 epoch
  assert seed0 == seed0_in_process == seed0_other_process  # exactly
  assert seed0 != seed1
  loss = [float(row["loss"]) for row in
          csv.DictReader(io.StringIO(seed0))]
  assert np.isfinite(loss).all()


def _saved_run(model_dir: pathlib.Path, model: keras.Model, make_config):
  """A model_dir that run_dir.load accepts, holding `model` as model.keras."""
  model_dir.mkdir()
  run_dir.write_config(make_config(model_dir=model_dir), os.fspath(model_dir))
  run_dir.write_class_names(["normal", "pneumonia"], os.fspath(model_dir))
  model.save(model_dir / "model.keras")
  return os.fspath(model_dir)


def test_model_with_a_lambda_layer_is_refused(make_config, tmp_path):
  marker = os.fspath(tmp_path / "code_ran")
  # The lambda leaves a trace when called; Keras calls it while rebuilding
  # the model, so a loader that deserialized it would run it.
  inputs = keras.Input((32, 32, 1))
  hidden = keras.layers.Lambda(
      lambda x: (open(marker, "w").close(), x)[1])(inputs)
  outputs = keras.layers.Dense(1, activation="sigmoid")(
      keras.layers.GlobalAveragePooling2D()(hidden))
  unsafe_dir = _saved_run(tmp_path / "unsafe", keras.Model(inputs, outputs),
                          make_config)
  os.remove(marker)

  with pytest.raises(ValueError, match="safe_mode"):
    run_dir.load(unsafe_dir)
  image = tmp_path / "image.png"
  image.write_bytes(b"never read: the model is refused first")
  with pytest.raises(ValueError, match="safe_mode"):
    predict.predict([os.fspath(image)], unsafe_dir,
                    os.fspath(tmp_path / "scores.csv"))
  assert not os.path.exists(marker)
  # The refusal is what keeps the code from running: an unsafe load runs it.
  keras.saving.load_model(os.path.join(unsafe_dir, "model.keras"),
                          safe_mode=False)
  assert os.path.exists(marker)

  normal = models.build_model("blog_cnn", 32, 1, 2)
  normal_dir = _saved_run(tmp_path / "normal", normal, make_config)
  loaded = run_dir.load(normal_dir).model
  images = np.random.default_rng(0).random((2, 32, 32, 1), np.float32)
  np.testing.assert_allclose(loaded.predict(images, verbose=0),
                             normal.predict(images, verbose=0), atol=1e-6)


# Modules whose loading unpickles (or may: joblib, shelve, dill).
PICKLE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "cloudpickle",
                            "dill", "joblib", "shelve"})
PRODUCT_PACKAGES = ("pneumonia_tfds", "pipeline", "trainer")


def _dotted(node: ast.AST) -> str:
  """"np.load" for np.load, "" for a call of a call's result and the like."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    base = _dotted(node.value)
    return f"{base}.{node.attr}" if base else node.attr
  return ""


def _is_constant(node, value) -> bool:
  return isinstance(node, ast.Constant) and node.value is value


def unsafe_loading(source: str, filename: str = "<source>") -> list[str]:
  """"file:line: what" for each way `source` could unpickle or deserialize
  code: importing a pickle module, np.load(allow_pickle=...) unless
  literally False, safe_mode=... unless literally True, read_pickle, Keras'
  enable_unsafe_deserialization, or importing a pickle module by name."""
  findings = []

  def report(node, what):
    findings.append(f"{filename}:{node.lineno}: {what}")

  for node in ast.walk(ast.parse(source, filename)):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.split(".")[0] in PICKLE_MODULES:
          report(node, f"import {alias.name}")
    elif isinstance(node, ast.ImportFrom):
      if node.level == 0 and (node.module or "").split(".")[0] in (
          PICKLE_MODULES):
        report(node, f"from {node.module} import ...")
    elif isinstance(node, ast.Call):
      name = _dotted(node.func)
      last = name.rsplit(".", 1)[-1]
      keywords = {k.arg: k.value for k in node.keywords if k.arg}
      if "allow_pickle" in keywords and not _is_constant(
          keywords["allow_pickle"], False):
        report(node, f"{name}(allow_pickle=...)")
      if name in ("np.load", "numpy.load") and len(node.args) >= 3:
        report(node, f"{name} with a positional allow_pickle")
      if "safe_mode" in keywords and not _is_constant(keywords["safe_mode"],
                                                      True):
        report(node, f"{name}(safe_mode=...)")
      if last in ("read_pickle", "enable_unsafe_deserialization"):
        report(node, f"{name}()")
      if (last in ("__import__", "import_module") and node.args
          and isinstance(node.args[0], ast.Constant)
          and str(node.args[0].value).split(".")[0] in PICKLE_MODULES):
        report(node, f"{name}({node.args[0].value!r})")
  return findings


def _check_files(paths) -> list[str]:
  findings = []
  for path in paths:
    findings += unsafe_loading(pathlib.Path(path).read_text("utf-8"),
                               os.fspath(path))
  return findings


def test_product_code_never_unpickles_or_loads_unsafely():
  files = sorted(path for package in PRODUCT_PACKAGES
                 for path in (helpers.REPO / package).rglob("*.py"))
  # Not vacuous: the scan reads the packages, the model loader among them.
  assert helpers.REPO / "trainer" / "run_dir.py" in files
  assert {path.relative_to(helpers.REPO).parts[0] for path in files} == set(
      PRODUCT_PACKAGES)
  assert _check_files(files) == []


@pytest.mark.parametrize("line", [
    "import pickle",
    "import os, cPickle as p",
    "import joblib",
    "import shelve",
    "import dill.settings",
    "from pickle import loads",
    "from _pickle import load",
    "np.load('x.npy', allow_pickle=True)",
    "numpy.load(path, None, True)",
    "np.load(path, allow_pickle=flag)",
    "keras.saving.load_model('m.keras', safe_mode=False)",
    "keras.models.load_model(path, compile=False, safe_mode=unsafe)",
    "keras.config.enable_unsafe_deserialization()",
    "pd.read_pickle('frame.pkl')",
    "importlib.import_module('pickle')",
    "__import__('shelve')",
])
def test_checker_catches_a_planted_example(tmp_path, line):
  planted = tmp_path / "planted.py"
  planted.write_text(f'"""Harmless."""\n\nimport os\n{line}\n')
  findings = _check_files([planted])
  assert len(findings) == 1, findings
  assert findings[0].startswith(f"{planted}:4: "), findings


def test_checker_passes_safe_loading():
  safe = "\n".join([
      "import numpy as np",
      "import keras",
      "from trainer import run_dir",
      "np.load('x.npy')",
      "np.load('x.npy', allow_pickle=False)",
      "keras.saving.load_model('m.keras', compile=False, safe_mode=True)",
      "model.load_weights('m.keras')",
      "json.load(f)",
      "run_dir.load(model_dir)",
      "pickle_dir = 'not an import'",
  ])
  assert unsafe_loading(safe) == []
