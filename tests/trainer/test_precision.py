"""Precision: "auto" per device, explicit names, errors; policy setting."""

import keras
import pytest
import tensorflow as tf

from trainer import precision


def _cpuinfo(tmp_path, flags):
  path = tmp_path / "cpuinfo"
  path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\n"
                  f"flags\t\t: {' '.join(flags)}\n\nprocessor\t: 1\n")
  return str(path)


@pytest.mark.parametrize("name", ["float32", "mixed_float16",
                                  "mixed_bfloat16"])
def test_explicit_names_pass_through(name, tmp_path):
  assert precision.resolve(name, has_gpu=True,
                           cpuinfo_path=_cpuinfo(tmp_path, [])) == name


@pytest.mark.parametrize("name", ["float16", "bf16", "", "AUTO"])
def test_unknown_precision_raises(name):
  with pytest.raises(ValueError, match="^precision: "):
    precision.resolve(name)


def test_auto_on_gpu_is_float16(tmp_path):
  cpuinfo = _cpuinfo(tmp_path, ["avx512f", "avx512_bf16"])
  assert precision.resolve("auto", has_gpu=True,
                           cpuinfo_path=cpuinfo) == "mixed_float16"


def test_auto_on_amx_cpu_is_bfloat16(tmp_path):
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx512f", "avx512_bf16", "amx_bf16"])
  assert precision.resolve("auto", has_gpu=False,
                           cpuinfo_path=cpuinfo) == "mixed_bfloat16"


def test_auto_on_avx512_bf16_without_amx_is_float32(tmp_path):
  # Measured slower than float32 on such a CPU (bench section 4).
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx512f", "avx512_bf16"])
  assert precision.resolve("auto", has_gpu=False,
                           cpuinfo_path=cpuinfo) == "float32"


def test_auto_on_plain_cpu_is_float32(tmp_path):
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx2", "avx512f"])
  assert precision.resolve("auto", has_gpu=False,
                           cpuinfo_path=cpuinfo) == "float32"


def test_auto_without_cpuinfo_is_float32(tmp_path):
  assert precision.resolve("auto", has_gpu=False,
                           cpuinfo_path=str(tmp_path / "missing")) == "float32"


def test_auto_on_tpu_is_bfloat16(monkeypatch, tmp_path):
  class FakeTPUStrategy:
    pass
  monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
  assert precision.resolve("auto", FakeTPUStrategy(), has_gpu=False,
                           cpuinfo_path=_cpuinfo(tmp_path, [])) == (
                               "mixed_bfloat16")


def test_set_policy_returns_previous():
  previous = precision.set_policy("mixed_bfloat16")
  try:
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
  finally:
    assert precision.set_policy(previous) == "mixed_bfloat16"
  assert keras.config.dtype_policy().name == previous


def test_mixed_float16_compile_adds_loss_scaling():
  previous = precision.set_policy("mixed_float16")
  try:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(), "mse")
  finally:
    precision.set_policy(previous)
  assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
