"""Helpers for trainer tests: tiny configs and subprocess runs of the CLI."""

import csv
import json
import os
import pathlib
import socket
import subprocess
import sys
from typing import Optional, Sequence

from trainer import config as config_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY_DATASET = "pneumonia_xray/gray_96"


def tiny_config(data_dir, model_dir, **overrides) -> config_lib.TrainConfig:
  """A config that trains in seconds on the tiny_data_dir build."""
  values = dict(model_dir=os.fspath(model_dir), data_dir=os.fspath(data_dir),
                dataset=TINY_DATASET, image_size=32, epochs=1,
                per_replica_batch_size=16, shuffle_buffer=256)
  values.update(overrides)
  return config_lib.TrainConfig(**values).validate()


def cli_flags(config: config_lib.TrainConfig) -> list[str]:
  """The command-line flags that reproduce `config`."""
  flags = []
  for name, value in config.to_dict().items():
    if value is None:
      continue
    if isinstance(value, bool):
      flags.append(f"--{name}" if value else f"--no{name}")
    else:
      flags.append(f"--{name}={value}")
  return flags


def subprocess_env(extra: Optional[dict] = None) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  env["PYTHONPATH"] = os.pathsep.join(
      filter(None, [os.fspath(REPO), env.get("PYTHONPATH")]))
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  env.update(extra or {})
  return env


def train_command(args: Sequence[str]) -> list[str]:
  return [sys.executable, "-m", "trainer.train", *args]


def run_cli(args: Sequence[str], timeout: float = 300,
            env: Optional[dict] = None) -> subprocess.CompletedProcess:
  return subprocess.run(train_command(args), cwd=REPO, env=env or
                        subprocess_env(), capture_output=True, text=True,
                        timeout=timeout)


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def history_rows(model_dir) -> list[dict]:
  """history.csv of a run, one dict per epoch."""
  with open(os.path.join(model_dir, "history.csv"), newline="") as f:
    return list(csv.DictReader(f))


def finished_epochs(model_dir) -> int:
  """Epochs BackupAndRestore has recorded as finished (0 before the first)."""
  path = os.path.join(model_dir, "backup", "training_metadata.json")
  try:
    with open(path) as f:
      return json.load(f)["epoch"]
  except (OSError, ValueError, KeyError):
    return 0


def train_uninterrupted(config: config_lib.TrainConfig, model_dir) -> None:
  """Trains `config` in a fresh process, start to end, into model_dir."""
  reference = config_lib.TrainConfig(**{**config.to_dict(),
                                        "model_dir": os.fspath(model_dir)})
  result = run_cli(cli_flags(reference))
  assert result.returncode == 0, result.stderr[-3000:]


def _h5_arrays(path) -> dict:
  import h5py  # pylint: disable=g-import-not-at-top
  arrays = {}
  with h5py.File(path, "r") as f:
    f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                 if isinstance(item, h5py.Dataset) else None)
  return arrays


def assert_same_training(model_dir, reference_dir, atol: float = 1e-6):
  """Same per-epoch history, best model and final weights (with optimizer
  state), within `atol`: a resumed run against an uninterrupted one."""
  rows, expected = history_rows(model_dir), history_rows(reference_dir)
  assert [row["epoch"] for row in rows] == [row["epoch"] for row in expected]
  for row, want in zip(rows, expected):
    assert set(row) == set(want)
    for key in want:
      assert abs(float(row[key]) - float(want[key])) <= atol, (
          f"epoch {row['epoch']} {key}: {row[key]} vs {want[key]}")
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  models = [keras.saving.load_model(os.path.join(d, "model.keras"),
                                    compile=False)
            for d in (model_dir, reference_dir)]
  for a, b in zip(*(m.get_weights() for m in models), strict=True):
    np.testing.assert_allclose(a, b, rtol=0, atol=atol)
  final = [_h5_arrays(os.path.join(d, "backup", "latest.weights.h5"))
           for d in (model_dir, reference_dir)]
  assert sorted(final[0]) == sorted(final[1]) and final[0]
  for name in final[1]:
    np.testing.assert_allclose(final[0][name], final[1][name], rtol=0,
                               atol=atol, err_msg=name)
