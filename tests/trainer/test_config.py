"""TrainConfig: validation names the field; JSON round-trips."""

import dataclasses

import pytest

from trainer import config as config_lib
from trainer import run_dir


def _config(**overrides):
  overrides.setdefault("model_dir", "/tmp/m")
  return config_lib.TrainConfig(**overrides)


def test_defaults_are_valid():
  assert _config().validate() == _config()


@pytest.mark.parametrize("field,value", [
    ("model", "vgg"),
    ("strategy", "horovod"),
    ("precision", "float16"),
    ("target", "finding"),
    ("balance", "smote"),
    ("channels", 2),
    ("image_size", 16),
    ("epochs", 0),
    ("epochs", -3),
    ("per_replica_batch_size", 0),
    ("learning_rate", 0.0),
    ("learning_rate", float("nan")),
    ("num_gpus", -1),
    ("rotation_degrees", -1.0),
    ("zoom_fraction", 1.0),
    ("shift_fraction", -0.1),
    ("downscale", 3.0),
    ("sharpen", -0.5),
    ("jpeg_min_quality", 101),
    ("seed", -1),
    ("early_stopping_patience", -1),
    ("reduce_lr_patience", -2),
    ("shuffle_buffer", 0),
    ("dataset", "Not A Name!"),
    ("model_dir", ""),
])
def test_bad_value_names_its_field(field, value):
  values = {"model_dir": "/tmp/m", field: value}
  with pytest.raises(ValueError, match=rf"^{field}: "):
    config_lib.TrainConfig(**values).validate()


def test_tpu_address_goes_with_tpu_strategy():
  assert _config(strategy="tpu", tpu="local").validate()
  with pytest.raises(ValueError, match="^tpu: "):
    _config(strategy="tpu").validate()
  with pytest.raises(ValueError, match="^tpu: "):
    _config(strategy="mirrored", tpu="grpc://10.0.0.2:8470").validate()


def test_json_round_trip():
  config = _config(model="blog_cnn", data_dir=None, learning_rate=3e-4,
                   augment=False, target="pneumonia_type", channels=3)
  assert config_lib.TrainConfig.from_json(config.to_json()) == config


def test_file_round_trip(tmp_path):
  config = _config(model_dir=str(tmp_path), epochs=7, strategy="mirrored")
  run_dir.write_config(config, str(tmp_path))
  assert run_dir.read_config(str(tmp_path)) == config


def test_unknown_json_field_is_an_error():
  values = _config().to_dict()
  values["batch_size"] = 8
  with pytest.raises(ValueError, match="batch_size"):
    config_lib.TrainConfig.from_dict(values)


def test_from_json_validates():
  values = _config().to_dict()
  values["epochs"] = -1
  with pytest.raises(ValueError, match="^epochs: "):
    config_lib.TrainConfig.from_dict(values)


def test_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    _config().epochs = 3  # pytype: disable=not-writable


def test_default_augmentation_is_the_pipelines_default():
  # TrainConfig repeats AugmentConfig's fields flat (it stays TensorFlow-free
  # for fast flag parsing); the two sets of defaults must not drift apart.
  from pipeline import augment  # pylint: disable=g-import-not-at-top
  from trainer import inputs  # pylint: disable=g-import-not-at-top
  config = config_lib.TrainConfig(model_dir="unused")
  assert inputs.input_config(config, 32).augment == augment.AugmentConfig()
  assert inputs.input_config(
      dataclasses.replace(config, augment=False), 32).augment is None
  # TrainConfig names the pipeline's autotune modes without importing it.
  from pipeline import input as input_lib  # pylint: disable=g-import-not-at-top
  assert config_lib.AUTOTUNE_MODES == input_lib.AUTOTUNE_MODES
