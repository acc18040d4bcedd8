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
