"""get_strategy: names, errors, the TPU sequence; chief and output folders."""

import types

import pytest
import tensorflow as tf

from trainer import strategy as strategy_lib


def test_default_strategy():
  strategy = strategy_lib.get_strategy("default")
  assert strategy is tf.distribute.get_strategy()
  assert not strategy_lib.is_distributed(strategy)
  assert not strategy_lib.is_multi_worker(strategy)
  assert strategy_lib.is_chief(strategy)
  assert strategy_lib.output_dir("/m", strategy) == "/m"


@pytest.mark.parametrize("name",
                         ["horovod", "", "Mirrored", "parameter_server"])
def test_unknown_strategy_raises(name):
  with pytest.raises(ValueError, match="^strategy: "):
    strategy_lib.get_strategy(name)


def test_mirrored_without_gpus_uses_the_cpus():
  strategy = strategy_lib.get_strategy("mirrored")
  assert isinstance(strategy, tf.distribute.MirroredStrategy)
  assert strategy.num_replicas_in_sync == len(
      tf.config.list_logical_devices("CPU"))
  assert strategy_lib.is_distributed(strategy)
  assert strategy_lib.is_chief(strategy)


def test_mirrored_asking_for_missing_gpus_raises():
  if tf.config.list_logical_devices("GPU"):
    pytest.skip("this machine has GPUs")
  with pytest.raises(ValueError, match="^num_gpus: "):
    strategy_lib.get_strategy("mirrored", num_gpus=1)


def test_tpu_needs_an_address():
  with pytest.raises(ValueError, match="^tpu: "):
    strategy_lib.get_strategy("tpu")


def test_tpu_connects_through_the_resolver_then_builds(monkeypatch):
  calls = []

  class FakeResolver:
    @staticmethod
    def connect(tpu):
      calls.append(("connect", tpu))
      return FakeResolver()

  class FakeTPUStrategy:
    def __init__(self, resolver):
      calls.append(("strategy", type(resolver).__name__))

  monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver",
                      FakeResolver)
  monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
  strategy = strategy_lib.get_strategy("tpu", tpu="grpc://10.1.2.3:8470")
  assert isinstance(strategy, FakeTPUStrategy)
  assert calls == [("connect", "grpc://10.1.2.3:8470"),
                   ("strategy", "FakeResolver")]


def _fake_multi_worker(task_type, task_id, cluster):
  resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
      tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
  return types.SimpleNamespace(cluster_resolver=resolver)


WORKERS = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


def test_worker_zero_is_chief_without_a_chief_task():
  chief = _fake_multi_worker("worker", 0, WORKERS)
  other = _fake_multi_worker("worker", 1, WORKERS)
  assert strategy_lib.is_multi_worker(chief)
  assert strategy_lib.is_chief(chief) and not strategy_lib.is_chief(other)
  assert strategy_lib.output_dir("/m", chief) == "/m"
  assert strategy_lib.output_dir("/m", other) == "/m/workers/worker_1"


def test_chief_task_is_chief():
  cluster = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}
  assert strategy_lib.is_chief(_fake_multi_worker("chief", 0, cluster))
  assert not strategy_lib.is_chief(_fake_multi_worker("worker", 0, cluster))


def test_one_task_cluster_is_not_multi_worker():
  single = _fake_multi_worker("worker", 0, {"worker": ["127.0.0.1:1"]})
  assert not strategy_lib.is_multi_worker(single)
  assert strategy_lib.is_chief(single)
