"""Precision: "auto" per device, explicit names, errors; policy setting."""

import keras
import pytest
import tensorflow as tf

from trainer import precision

# What tf.config.experimental.get_device_details returns for NVIDIA GPUs.
V100 = {"device_name": "Tesla V100-SXM2-16GB", "compute_capability": (7, 0)}
T4 = {"device_name": "Tesla T4", "compute_capability": (7, 5)}
A100 = {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)}
H100 = {"device_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0)}
P4 = {"device_name": "Tesla P4", "compute_capability": (6, 1)}


def _cpuinfo(tmp_path, flags):
  path = tmp_path / "cpuinfo"
  path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\n"
                  f"flags\t\t: {' '.join(flags)}\n\nprocessor\t: 1\n")
  return str(path)


@pytest.fixture(name="amx_cpuinfo")
def fixture_amx_cpuinfo(tmp_path):
  # AMX on the host must not change what a GPU machine picks.
  return _cpuinfo(tmp_path, ["avx512f", "avx512_bf16", "amx_bf16"])


@pytest.mark.parametrize("name", ["float32", "mixed_float16",
                                  "mixed_bfloat16"])
@pytest.mark.parametrize("gpus", [[], [V100], [H100]])
def test_explicit_names_pass_through(name, gpus, amx_cpuinfo):
  resolution = precision.resolve_with_reason(name, gpus=gpus,
                                             cpuinfo_path=amx_cpuinfo)
  assert resolution == (name, f"--precision={name}")
  assert precision.resolve(name, gpus=gpus, cpuinfo_path=amx_cpuinfo) == name


def test_explicit_name_looks_up_no_device(monkeypatch):
  def fail():
    raise AssertionError("looked up GPUs for an explicit precision")
  monkeypatch.setattr(precision, "gpu_details", fail)
  assert precision.resolve("float32") == "float32"


@pytest.mark.parametrize("name", ["float16", "bf16", "", "AUTO"])
def test_unknown_precision_raises(name):
  with pytest.raises(ValueError, match="^precision: "):
    precision.resolve_with_reason(name)
  with pytest.raises(ValueError, match="^precision: "):
    precision.resolve(name)


@pytest.mark.parametrize("gpu, policy", [
    (V100, "mixed_float16"),
    (T4, "mixed_float16"),
    (A100, "mixed_bfloat16"),
    (H100, "mixed_bfloat16"),
    (P4, "float32"),
])
def test_auto_on_one_gpu_follows_compute_capability(gpu, policy, amx_cpuinfo):
  resolution = precision.resolve_with_reason("auto", gpus=[gpu],
                                             cpuinfo_path=amx_cpuinfo)
  assert resolution.policy == policy
  major, minor = gpu["compute_capability"]
  assert f"compute capability {major}.{minor}" in resolution.reason
  assert gpu["device_name"] in resolution.reason
  assert "\n" not in resolution.reason
  assert precision.resolve("auto", gpus=[gpu],
                           cpuinfo_path=amx_cpuinfo) == policy


def test_auto_reasons_name_the_numeric_format(amx_cpuinfo):
  reason = lambda gpu: precision.resolve_with_reason(
      "auto", gpus=[gpu], cpuinfo_path=amx_cpuinfo).reason
  assert "no loss scaling" in reason(A100)
  assert "scales the loss" in reason(T4)


@pytest.mark.parametrize("gpus, policy, lowest", [
    ([H100, A100], "mixed_bfloat16", "8.0"),
    ([A100, T4], "mixed_float16", "7.5"),
    ([H100, V100, A100], "mixed_float16", "7.0"),
    ([T4, P4], "float32", "6.1"),
    ([A100] * 8, "mixed_bfloat16", "8.0"),
])
def test_auto_on_mixed_gpus_the_lowest_capability_decides(gpus, policy, lowest,
                                                          amx_cpuinfo):
  resolution = precision.resolve_with_reason("auto", gpus=gpus,
                                             cpuinfo_path=amx_cpuinfo)
  assert resolution.policy == policy
  assert f"{len(gpus)} GPU(s), lowest compute capability {lowest}" in (
      resolution.reason)


def test_auto_on_gpu_without_capability_is_float16(amx_cpuinfo):
  # Only CUDA devices report one; float16 with loss scaling runs anywhere.
  gpus = [A100, {"device_name": "AMD Instinct MI250X"}]
  assert precision.resolve("auto", gpus=gpus,
                           cpuinfo_path=amx_cpuinfo) == "mixed_float16"
  assert precision.resolve("auto", gpus=[{}],
                           cpuinfo_path=amx_cpuinfo) == "mixed_float16"


def test_auto_on_amx_cpu_is_bfloat16(tmp_path):
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx512f", "avx512_bf16", "amx_bf16"])
  resolution = precision.resolve_with_reason("auto", gpus=[],
                                             cpuinfo_path=cpuinfo)
  assert resolution.policy == "mixed_bfloat16"
  assert "no GPU" in resolution.reason and "amx_bf16" in resolution.reason


def test_auto_on_avx512_bf16_without_amx_is_float32(tmp_path):
  # Measured slower than float32 on such a CPU (bench section 4).
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx512f", "avx512_bf16"])
  resolution = precision.resolve_with_reason("auto", gpus=[],
                                             cpuinfo_path=cpuinfo)
  assert resolution.policy == "float32"
  assert "without AMX" in resolution.reason


def test_auto_on_plain_cpu_is_float32(tmp_path):
  cpuinfo = _cpuinfo(tmp_path, ["sse2", "avx2", "avx512f"])
  assert precision.resolve("auto", gpus=[],
                           cpuinfo_path=cpuinfo) == "float32"


def test_auto_without_cpuinfo_is_float32(tmp_path):
  assert precision.resolve("auto", gpus=[],
                           cpuinfo_path=str(tmp_path / "missing")) == "float32"


def test_auto_on_tpu_is_bfloat16(monkeypatch, tmp_path):
  class FakeTPUStrategy:
    pass
  monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
  # A TPU VM's host has no GPU, but the TPU decides even if one were listed.
  resolution = precision.resolve_with_reason(
      "auto", FakeTPUStrategy(), gpus=[V100],
      cpuinfo_path=_cpuinfo(tmp_path, []))
  assert resolution.policy == "mixed_bfloat16"
  assert "TPU" in resolution.reason


def test_auto_looks_up_gpus_when_not_given(monkeypatch, amx_cpuinfo):
  monkeypatch.setattr(precision, "gpu_details", lambda: [T4, A100])
  assert precision.resolve("auto", cpuinfo_path=amx_cpuinfo) == (
      "mixed_float16")
  monkeypatch.setattr(precision, "gpu_details", lambda: [])
  assert precision.resolve("auto", cpuinfo_path=amx_cpuinfo) == (
      "mixed_bfloat16")


def test_gpu_details_of_this_machine():
  # Whatever is visible here (none on CI): one dict per GPU, each usable.
  details = precision.gpu_details()
  assert len(details) == len(tf.config.list_physical_devices("GPU"))
  assert precision.resolve("auto", gpus=details) in (
      "mixed_bfloat16", "mixed_float16", "float32")


def test_resolve_keeps_its_positional_call(monkeypatch):
  # trainer/training.py calls resolve(config.precision, strategy).
  monkeypatch.setattr(precision, "gpu_details", lambda: [H100])
  assert precision.resolve("auto", tf.distribute.get_strategy()) == (
      "mixed_bfloat16")


def test_resolution_unpacks_for_run_info(amx_cpuinfo):
  policy, reason = precision.resolve_with_reason("auto", gpus=[T4],
                                                 cpuinfo_path=amx_cpuinfo)
  assert policy == "mixed_float16" and reason.startswith("1 GPU(s)")
  assert precision.resolve_with_reason(
      "auto", gpus=[T4], cpuinfo_path=amx_cpuinfo)._asdict() == {
          "policy": policy, "reason": reason}


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
