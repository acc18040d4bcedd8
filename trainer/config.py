"""The frozen, validated training configuration written to model_dir.

Flags are turned into a `TrainConfig` once, in `trainer/train.py`; everything
else reads this object. This module imports nothing heavy, so `--help` and
config checks stay fast.
"""

import dataclasses
import json
import math
import re
from typing import Any, Optional

from pipeline import augment_config

MODELS = ("blog_cnn", "small_resnet")
STRATEGIES = ("default", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
TARGETS = ("label", "pneumonia_type")
BALANCES = ("none", "class_weight", "resample")
CHANNELS = (1, 3)
AUTOTUNE_MODES = ("auto", "on", "off")  # pipeline.input.AUTOTUNE_MODES
# Where the augmentation's batch changes run; "auto": trainer.device_augment.
AUGMENT_PLACES = ("auto", "host", "device")
# small_resnet downsamples by 32 and blog_cnn pools twice; below this a
# feature map would vanish.
MIN_IMAGE_SIZE = 32
CONFIG_FILENAME = "config.json"

_AUGMENT_DEFAULTS = augment_config.AugmentConfig()
_DATASET_PATTERN = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)?(:[0-9.]+)?$")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything a training run depends on; see `--helpfull` for each field."""
  model_dir: str
  dataset: str = "pneumonia_xray/gray_204"
  data_dir: Optional[str] = None
  model: str = "small_resnet"
  image_size: int = 204
  channels: int = 1
  target: str = "label"
  epochs: int = 30
  per_replica_batch_size: int = 32
  learning_rate: float = 1e-3
  precision: str = "auto"
  strategy: str = "default"
  tpu: str = ""
  num_gpus: int = 0
  augment: bool = True
  augment_on: str = "auto"
  # The pipeline's AugmentConfig, flat: one flag per field.
  rotation_degrees: float = _AUGMENT_DEFAULTS.rotation_degrees
  shift_fraction: float = _AUGMENT_DEFAULTS.shift_fraction
  zoom_fraction: float = _AUGMENT_DEFAULTS.zoom_fraction
  brightness: float = _AUGMENT_DEFAULTS.brightness
  contrast: float = _AUGMENT_DEFAULTS.contrast
  horizontal_flip: bool = _AUGMENT_DEFAULTS.horizontal_flip
  downscale: float = _AUGMENT_DEFAULTS.downscale
  sharpen: float = _AUGMENT_DEFAULTS.sharpen
  jpeg_min_quality: int = _AUGMENT_DEFAULTS.jpeg_min_quality
  balance: str = "class_weight"
  seed: int = 0
  early_stopping_patience: int = 5
  reduce_lr_patience: int = 2
  deterministic: bool = False
  shuffle_buffer: int = 2048
  cache: bool = False
  tf_data_autotune: str = "auto"

  def validate(self) -> "TrainConfig":
    """Raises ValueError naming the first bad field; returns self."""
    _check(bool(self.model_dir), "model_dir", "must not be empty")
    _check(bool(_DATASET_PATTERN.match(self.dataset)), "dataset",
           f"{self.dataset!r} is not a TFDS name like "
           "'pneumonia_xray/gray_204'")
    _choice(self, "model", MODELS)
    _choice(self, "strategy", STRATEGIES)
    _choice(self, "precision", PRECISIONS)
    _choice(self, "target", TARGETS)
    _choice(self, "balance", BALANCES)
    _choice(self, "channels", CHANNELS)
    _choice(self, "tf_data_autotune", AUTOTUNE_MODES)
    _choice(self, "augment_on", AUGMENT_PLACES)
    _check(self.image_size >= MIN_IMAGE_SIZE, "image_size",
           f"{self.image_size} is below the minimum {MIN_IMAGE_SIZE}")
    _check(self.epochs >= 1, "epochs", f"{self.epochs} must be at least 1")
    _check(self.per_replica_batch_size >= 1, "per_replica_batch_size",
           f"{self.per_replica_batch_size} must be at least 1")
    _check(math.isfinite(self.learning_rate) and self.learning_rate > 0,
           "learning_rate", f"{self.learning_rate} must be positive")
    _check(self.num_gpus >= 0, "num_gpus", f"{self.num_gpus} is negative")
    _check(self.strategy != "tpu" or bool(self.tpu), "tpu",
           "strategy 'tpu' needs the TPU address (or 'local' on a TPU VM)")
    _check(self.strategy == "tpu" or not self.tpu, "tpu",
           f"given, but strategy is {self.strategy!r}")
    self.augment_ranges()  # AugmentConfig checks its own fields
    _check(self.seed >= 0, "seed", f"{self.seed} is negative")
    _check(self.early_stopping_patience >= 0, "early_stopping_patience",
           f"{self.early_stopping_patience} is negative (0 disables)")
    _check(self.reduce_lr_patience >= 0, "reduce_lr_patience",
           f"{self.reduce_lr_patience} is negative (0 disables)")
    _check(self.shuffle_buffer >= 1, "shuffle_buffer",
           f"{self.shuffle_buffer} must be at least 1")
    return self

  def augment_ranges(self) -> augment_config.AugmentConfig:
    """The augmentation fields as the pipeline's AugmentConfig."""
    return augment_config.AugmentConfig(
        **{field.name: getattr(self, field.name)
           for field in dataclasses.fields(augment_config.AugmentConfig)})

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
    """Builds and validates a config; unknown keys are an error."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
      raise ValueError(f"unknown config fields: {', '.join(unknown)}")
    return cls(**values).validate()

  @classmethod
  def from_json(cls, text: str) -> "TrainConfig":
    return cls.from_dict(json.loads(text))


def _check(condition: bool, field: str, message: str) -> None:
  if not condition:
    raise ValueError(f"{field}: {message}")


def _choice(config: TrainConfig, field: str, choices: tuple) -> None:
  value = getattr(config, field)
  _check(value in choices, field,
         f"{value!r} is not one of {', '.join(map(str, choices))}")
