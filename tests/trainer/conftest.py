"""Trainer test fixtures (tiny_data_dir comes from tests/conftest.py)."""

import pytest

from tests.trainer import helpers


@pytest.fixture
def make_config(tiny_data_dir, tmp_path):
  """TrainConfig factory: tiny data, model_dir under tmp_path by default."""
  def make(**overrides):
    model_dir = overrides.pop("model_dir", tmp_path / "model")
    return helpers.tiny_config(tiny_data_dir, model_dir, **overrides)
  return make
