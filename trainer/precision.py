"""Chooses and sets the Keras dtype policy.

Under "mixed_float16", `Model.compile` wraps the optimizer in a
`LossScaleOptimizer` by itself (`auto_scale_loss=True`, Keras 3
trainers/trainer.py), so nothing here touches the optimizer. bfloat16 has
float32's exponent range and needs no loss scaling.
"""

from typing import Optional

import keras
import tensorflow as tf

from trainer import config as config_lib

CPUINFO = "/proc/cpuinfo"
# x86 flags of CPUs where mixed_bfloat16 trains faster than float32: AMX tile
# units (Sapphire Rapids and later). AVX512-BF16 alone is not enough: on such a
# CPU both models trained 15-30% slower in bfloat16 (bench/results/results.md).
BF16_CPU_FLAGS = frozenset({"amx_bf16"})


def cpu_flags(cpuinfo_path: str = CPUINFO) -> frozenset[str]:
  """The `flags` of the first CPU in /proc/cpuinfo; empty if unreadable."""
  try:
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
      for line in f:
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
          return frozenset(value.split())
  except OSError:
    pass
  return frozenset()


def resolve(precision: str,
            strategy: Optional[tf.distribute.Strategy] = None,
            has_gpu: Optional[bool] = None,
            cpuinfo_path: str = CPUINFO) -> str:
  """Turns a `--precision` value into a Keras dtype policy name.

  "auto" is mixed_float16 on a GPU, mixed_bfloat16 on a TPU or on a CPU with
  AMX bfloat16 units, float32 otherwise.

  Args:
    precision: one of `config.PRECISIONS`.
    strategy: the run's strategy; a TPUStrategy means TPU.
    has_gpu: whether a GPU is visible; looked up when None.
    cpuinfo_path: where to read CPU flags (a parameter for tests).

  Raises:
    ValueError: unknown precision.
  """
  if precision not in config_lib.PRECISIONS:
    raise ValueError(f"precision: {precision!r} is not one of "
                     f"{', '.join(config_lib.PRECISIONS)}")
  if precision != "auto":
    return precision
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return "mixed_bfloat16"
  if has_gpu is None:
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
  if has_gpu:
    return "mixed_float16"
  if cpu_flags(cpuinfo_path) & BF16_CPU_FLAGS:
    return "mixed_bfloat16"
  return "float32"


def set_policy(policy: str) -> str:
  """Sets the global Keras dtype policy; returns the previous one's name."""
  previous = keras.config.dtype_policy().name
  keras.config.set_dtype_policy(policy)
  return previous
