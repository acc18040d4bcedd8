"""The one place a `tf.distribute` strategy is chosen, and who writes where.

`get_strategy` runs before any dataset or model is built (a
MultiWorkerMirroredStrategy must exist before other TensorFlow work starts).
"""

import tensorflow as tf

from trainer import config as config_lib
from trainer import run_dir


def get_strategy(name: str, tpu: str = "",
                 num_gpus: int = 0) -> tf.distribute.Strategy:
  """Maps a strategy name to a strategy.

  Args:
    name: one of `config.STRATEGIES`:
      "default": no distribution (the default strategy, one device);
      "mirrored": synchronous data parallelism over `num_gpus` local GPUs, or
        every local GPU when `num_gpus` is 0, or every logical CPU device when
        there is no GPU;
      "multi_worker_mirrored": synchronous data parallelism across the workers
        named in the TF_CONFIG environment variable (one local worker without
        it);
      "tpu": TPUStrategy on the TPU at address `tpu` ("local" on a TPU VM).
    tpu: the TPU name or grpc:// address, for "tpu" only.
    num_gpus: how many local GPUs "mirrored" uses; 0 means all.

  Raises:
    ValueError: unknown name, or arguments that do not fit it.
  """
  if name not in config_lib.STRATEGIES:
    raise ValueError(f"strategy: {name!r} is not one of "
                     f"{', '.join(config_lib.STRATEGIES)}")
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    return tf.distribute.MirroredStrategy(devices=_mirrored_devices(num_gpus))
  if name == "multi_worker_mirrored":
    return tf.distribute.MultiWorkerMirroredStrategy()
  if not tpu:
    raise ValueError("tpu: strategy 'tpu' needs the TPU address")
  # Resolves the TPU, connects to its cluster and initializes the TPU system.
  resolver = tf.distribute.cluster_resolver.TPUClusterResolver.connect(tpu=tpu)
  return tf.distribute.TPUStrategy(resolver)


def _mirrored_devices(num_gpus: int) -> list[str]:
  gpus = tf.config.list_logical_devices("GPU")
  if num_gpus > len(gpus):
    raise ValueError(f"num_gpus: {num_gpus} requested, {len(gpus)} present")
  if gpus:
    return [device.name for device in gpus[:num_gpus or len(gpus)]]
  if num_gpus:
    raise ValueError(f"num_gpus: {num_gpus} requested, no GPU present")
  return [device.name for device in tf.config.list_logical_devices("CPU")]


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
  """True for the strategies `get_strategy` makes other than "default"."""
  return isinstance(strategy, (tf.distribute.MirroredStrategy,
                               tf.distribute.MultiWorkerMirroredStrategy,
                               tf.distribute.TPUStrategy))


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
  """True when replicas live in more than one process."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
    return False
  spec = resolver.cluster_spec().as_dict()
  return sum(len(tasks) for tasks in spec.values()) > 1


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """The chief writes model_dir; other workers write a folder of their own."""
  if not is_multi_worker(strategy):
    return True
  resolver = strategy.cluster_resolver
  if resolver.task_type == "chief":
    return True
  has_chief = "chief" in resolver.cluster_spec().as_dict()
  return resolver.task_type == "worker" and resolver.task_id == 0 and (
      not has_chief)


def output_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
  """Where this process writes checkpoints, logs and exports.

  Every worker of a multi-worker job runs the same callbacks (saving reads
  synchronized variables, which takes all workers), but only the chief's
  files are the result; the others go to run_dir.worker_dir.
  """
  if is_chief(strategy):
    return model_dir
  resolver = strategy.cluster_resolver
  return run_dir.worker_dir(model_dir, resolver.task_type, resolver.task_id)
