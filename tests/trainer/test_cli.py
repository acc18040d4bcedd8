"""The command line: --helpfull, and bad values stopped before any work."""

import dataclasses
import os

import pytest

from tests.trainer import helpers
from trainer import config as config_lib


def test_helpfull_lists_every_flag():
  result = helpers.run_cli(["--helpfull"], timeout=60)  # absl exits 1 here
  assert "trainer/train.py:" in result.stdout, result.stderr
  for field in dataclasses.fields(config_lib.TrainConfig):
    assert f"--{field.name}" in result.stdout or (
        f"--[no]{field.name}" in result.stdout), field.name


@pytest.mark.parametrize("flag,expected", [
    ("--model=vgg16", "--model"),
    ("--epochs=-2", "--epochs"),
    ("--strategy=horovod", "--strategy"),
    ("--precision=half", "--precision"),
    ("--strategy=tpu", "tpu: strategy 'tpu' needs"),
    ("--zoom_fraction=1.5", "zoom_fraction: "),
    ("--jpeg_min_quality=101", "jpeg_min_quality: "),
    ("--learning_rate=0", "learning_rate: "),
])
def test_bad_value_exits_before_training(tmp_path, flag, expected):
  model_dir = tmp_path / "model"
  result = helpers.run_cli([f"--model_dir={model_dir}", flag], timeout=60)
  assert result.returncode != 0
  assert expected in result.stderr + result.stdout
  assert "Traceback" not in result.stderr
  assert not model_dir.exists()


def test_model_dir_is_required(tmp_path):
  result = helpers.run_cli(["--epochs=1"], timeout=60)
  assert result.returncode != 0
  assert "--model_dir" in result.stderr


def test_stray_arguments_are_rejected(tmp_path):
  result = helpers.run_cli([f"--model_dir={tmp_path / 'm'}", "extra"],
                           timeout=60)
  assert result.returncode != 0
  assert "unexpected arguments: extra" in result.stderr + result.stdout
  assert not os.path.exists(tmp_path / "m")
