"""Chooses and sets the Keras dtype policy.

Under "mixed_float16", `Model.compile` wraps the optimizer in a
`LossScaleOptimizer` by itself (`auto_scale_loss=True`, Keras 3
trainers/trainer.py), so nothing here touches the optimizer. bfloat16 has
float32's exponent range and needs no loss scaling.
"""

from typing import Any, Mapping, NamedTuple, Optional, Sequence

import keras
import tensorflow as tf

from trainer import config as config_lib

CPUINFO = "/proc/cpuinfo"
# x86 flags of CPUs where mixed_bfloat16 trains faster than float32: AMX tile
# units (Sapphire Rapids and later). AVX512-BF16 alone is not enough: on such a
# CPU both models trained 15-30% slower in bfloat16 (bench/results/results.md).
BF16_CPU_FLAGS = frozenset({"amx_bf16"})
# NVIDIA compute capabilities: bfloat16 Tensor Cores from Ampere (8.0) on;
# float16 Tensor Cores from Volta (7.0) on. Below 7.0 TensorFlow's mixed
# precision guide expects no math speedup from float16 (memory savings only),
# and 6.1 cards run float16 at 1/64 of float32's rate.
BF16_GPU_CAPABILITY = (8, 0)
FP16_GPU_CAPABILITY = (7, 0)


class Resolution(NamedTuple):
  """A dtype policy name and a one-line reason, e.g. for run_info.json."""
  policy: str
  reason: str


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


def gpu_details() -> list[dict[str, Any]]:
  """`tf.config.experimental.get_device_details` of every visible GPU."""
  return [tf.config.experimental.get_device_details(gpu)
          for gpu in tf.config.list_physical_devices("GPU")]


def _format(capability: tuple[int, int]) -> str:
  return f"{capability[0]}.{capability[1]}"


def _gpu_resolution(gpus: Sequence[Mapping[str, Any]]) -> Resolution:
  """The policy for these GPUs; the least capable one decides for all."""
  capabilities = [tuple(gpu["compute_capability"]) for gpu in gpus
                  if gpu.get("compute_capability")]
  if len(capabilities) < len(gpus):
    # Not NVIDIA (only CUDA reports a capability): float16 runs everywhere
    # and Keras scales its loss; bfloat16 may be emulated.
    return Resolution("mixed_float16",
                      f"{len(gpus)} GPU(s), not all with a compute "
                      "capability: float16 with loss scaling runs on any")
  lowest = min(capabilities)
  names = sorted({gpu.get("device_name", "?") for gpu in gpus
                  if tuple(gpu["compute_capability"]) == lowest})
  where = (f"{len(gpus)} GPU(s), lowest compute capability "
           f"{_format(lowest)} ({', '.join(names)})")
  # One policy for every replica: bfloat16 on a pre-Ampere card of a mixed
  # machine would be emulated there and slow the whole step.
  if lowest >= BF16_GPU_CAPABILITY:
    return Resolution("mixed_bfloat16",
                      f"{where} >= {_format(BF16_GPU_CAPABILITY)}: bfloat16 "
                      "Tensor Cores, no loss scaling")
  if lowest >= FP16_GPU_CAPABILITY:
    return Resolution("mixed_float16",
                      f"{where} < {_format(BF16_GPU_CAPABILITY)}: float16 "
                      "Tensor Cores, Keras scales the loss")
  return Resolution("float32",
                    f"{where} < {_format(FP16_GPU_CAPABILITY)}: no Tensor "
                    "Cores, float16 math is no faster")


def resolve_with_reason(
    precision: str,
    strategy: Optional[tf.distribute.Strategy] = None,
    gpus: Optional[Sequence[Mapping[str, Any]]] = None,
    cpuinfo_path: str = CPUINFO) -> Resolution:
  """Turns a `--precision` value into a Keras dtype policy and says why.

  "auto": mixed_bfloat16 on a TPU; on GPUs, by the lowest compute capability
  among them, mixed_bfloat16 from 8.0 (Ampere), mixed_float16 from 7.0
  (Volta, Turing), float32 below; with no GPU, mixed_bfloat16 on a CPU with
  AMX bfloat16 units, float32 otherwise.

  Args:
    precision: one of `config.PRECISIONS`.
    strategy: the run's strategy; a TPUStrategy means TPU.
    gpus: `tf.config.experimental.get_device_details` of each visible GPU
      (keys "compute_capability", "device_name"); looked up when None, [] for
      none (a parameter for tests).
    cpuinfo_path: where to read CPU flags (a parameter for tests).

  Returns:
    The policy name and a one-line reason.

  Raises:
    ValueError: unknown precision.
  """
  if precision not in config_lib.PRECISIONS:
    raise ValueError(f"precision: {precision!r} is not one of "
                     f"{', '.join(config_lib.PRECISIONS)}")
  if precision != "auto":
    return Resolution(precision, f"--precision={precision}")
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return Resolution("mixed_bfloat16",
                      "TPU: bfloat16 is its native matmul type")
  if gpus is None:
    gpus = gpu_details()
  if gpus:
    return _gpu_resolution(gpus)
  flags = cpu_flags(cpuinfo_path) & BF16_CPU_FLAGS
  if flags:
    return Resolution("mixed_bfloat16",
                      f"no GPU; CPU with AMX ({', '.join(sorted(flags))})")
  return Resolution("float32", "no GPU; CPU without AMX bfloat16 units "
                    "(AVX512-BF16 alone trained slower, bench section 4)")


def resolve(precision: str,
            strategy: Optional[tf.distribute.Strategy] = None,
            gpus: Optional[Sequence[Mapping[str, Any]]] = None,
            cpuinfo_path: str = CPUINFO) -> str:
  """The policy name of `resolve_with_reason`."""
  return resolve_with_reason(precision, strategy, gpus, cpuinfo_path).policy


def set_policy(policy: str) -> str:
  """Sets the global Keras dtype policy; returns the previous one's name."""
  previous = keras.config.dtype_policy().name
  keras.config.set_dtype_policy(policy)
  return previous
