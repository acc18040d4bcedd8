"""Train and validation inputs of a run, built with the pipeline package.

Default strategy: the training set is one finite pass per epoch, as the
pipeline makes it.

Other strategies: each input pipeline builds its own shard with the
per-replica batch size (`strategy.distribute_datasets_from_function`), an
endless stream of epochs, and an epoch is `steps_per_epoch` full global
batches (floor(train examples / global batch)) drawn from that epoch's pass
(repeated if a shard runs short); partial batches are dropped. This
is what keeps every replica fed in every step: with a finite shard, the last
step can leave a replica an empty batch (odd batch counts over two local
replicas, or unequal worker shards), and on CPU a zero-sized batch breaks
chained convolutions (oneDNN, TF 2.21: "input depth must be evenly divisible
by filter depth"); an infinite input also spares the step count Keras would
take from the first pipeline's cardinality, which counts per-replica
batches, not steps.

Either way the training input's random draws follow the epoch variable the
trainer sets (`pipeline.input.make_for_train`), so a restarted run sees the
epochs an uninterrupted one sees.

Validation is a plain, unsharded dataset of the whole split, evaluated by
`trainer.validation.Validation` (the same for every strategy), so no
validation example is dropped or padded.
"""

import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from pipeline import input as input_lib
from trainer import config as config_lib
from trainer import strategy as strategy_lib


@dataclasses.dataclass(frozen=True)
class Inputs:
  train: object  # tf.data.Dataset or tf.distribute.DistributedDataset
  # None: one pass of `train` per epoch; else steps of a repeated `train`.
  steps_per_epoch: Optional[int]
  validation: tf.data.Dataset
  class_names: tuple[str, ...]
  # For `fit(class_weight=...)` with a plain dataset; None otherwise.
  class_weight: Optional[dict[int, float]]


def input_config(config: config_lib.TrainConfig, global_batch_size: int,
                 drop_remainder: bool = False,
                 augment_on: str = "host") -> input_lib.InputConfig:
  """The pipeline's view of a TrainConfig; `augment_on` is config.augment_on
  resolved (trainer.device_augment.resolve)."""
  augment = config.augment_ranges() if config.augment else None
  return input_lib.InputConfig(
      dataset=config.dataset, data_dir=config.data_dir,
      image_size=config.image_size, channels=config.channels,
      target=config.target, global_batch_size=global_batch_size,
      shuffle_buffer=config.shuffle_buffer, cache=config.cache,
      augment=augment, balance=config.balance, seed=config.seed,
      drop_remainder=drop_remainder, autotune=config.tf_data_autotune,
      augment_on=augment_on)


def make_inputs(config: config_lib.TrainConfig,
                strategy: tf.distribute.Strategy,
                epoch: tf.Variable, augment_on: str = "host") -> Inputs:
  """Builds the train and validation inputs of a run; `epoch` is the
  variable the trainer sets to the epoch about to run, `augment_on` where
  the augmentation's batch changes run ("host" or "device")."""
  global_batch_size = (config.per_replica_batch_size
                       * strategy.num_replicas_in_sync)
  distributed = strategy_lib.is_distributed(strategy)
  pipeline_config = input_config(config, global_batch_size,
                                 drop_remainder=distributed,
                                 augment_on=augment_on)
  class_names = tuple(input_lib.class_names(pipeline_config))
  counts = input_lib.class_counts(pipeline_config, split="train")
  weights = None
  if config.balance == "class_weight":
    weights = input_lib.class_weights(counts)
  validation = input_lib.make_for_eval(
      dataclasses.replace(pipeline_config, drop_remainder=False))
  if not distributed:
    return Inputs(train=input_lib.make_for_train(pipeline_config,
                                                 epoch=epoch),
                  steps_per_epoch=None, validation=validation,
                  class_names=class_names, class_weight=weights)
  steps = int(counts.sum()) // global_batch_size
  if steps < 1:
    raise ValueError(
        f"per_replica_batch_size: a global batch of {global_batch_size} is "
        f"larger than the {int(counts.sum())} training examples")

  def train_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
    dataset = input_lib.make_for_train(pipeline_config, input_context=context,
                                       epoch=epoch, steps_per_epoch=steps)
    if weights is not None:
      dataset = dataset.map(_sample_weight_fn(weights),
                            num_parallel_calls=tf.data.AUTOTUNE)
    return dataset

  return Inputs(train=strategy.distribute_datasets_from_function(train_fn),
                steps_per_epoch=steps, validation=validation,
                class_names=class_names, class_weight=None)


def _sample_weight_fn(weights: dict[int, float]):
  """(inputs, target) -> (inputs, target, weight of target's class); the
  inputs are an image batch, or (images, seeds) with augmentation on the
  device.

  `fit(class_weight=...)` cannot be used with a distributed dataset (Keras
  maps it with `Dataset.map`, which a DistributedDataset lacks), so the same
  weights go in as per-example sample weights.
  """
  table = tf.constant(
      np.array([weights.get(i, 1.0) for i in range(max(weights) + 1)],
               dtype=np.float32))

  def add_weight(inputs, target):
    return inputs, target, tf.gather(table, tf.cast(target, tf.int32))
  return add_weight
