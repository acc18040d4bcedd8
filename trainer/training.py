"""One training run: strategy, precision, data, model, fit, export.

Called through `trainer.train.run`; never reads flags.
"""

import contextlib
import sys
import warnings
from typing import Optional

from absl import logging
import keras
import tensorflow as tf

from trainer import callbacks as callbacks_lib
from trainer import config as config_lib
from trainer import device_augment
from trainer import export
from trainer import inputs as inputs_lib
from trainer import models
from trainer import multi_worker
from trainer import objectives
from trainer import precision as precision_lib
from trainer import rerun
from trainer import run_dir
from trainer import storage
from trainer import strategy as strategy_lib
from trainer import validation


def run(config: config_lib.TrainConfig,
        strategy: Optional[tf.distribute.Strategy] = None,
        overwrite: bool = False) -> Optional[keras.callbacks.History]:
  """Trains, checkpoints and exports one model (see trainer.rerun for what
  happens on a model_dir that already holds a run).

  Args:
    config: a TrainConfig (validated again here).
    strategy: a tf.distribute.Strategy; chosen from config.strategy if None.
    overwrite: start over, removing a run already in model_dir.

  Returns:
    The History of the epochs run by this call (a resumed run holds only the
    epochs after the resume point; history.csv in model_dir holds all), or
    None when model_dir holds this run finished already: nothing is touched.

  Raises:
    ValueError: a bad config, or a model_dir holding a run this config may
      not go on with.
  """
  config.validate()
  if strategy is None:
    strategy = strategy_lib.get_strategy(config.strategy, tpu=config.tpu,
                                         num_gpus=config.num_gpus)
  chief = strategy_lib.is_chief(strategy)
  decision = rerun.decide(config, overwrite=overwrite, remove=chief)
  logging.info("%s.", decision.message)
  if decision.action == rerun.FINISHED:
    print(decision.message)
    return None
  output_dir = strategy_lib.output_dir(config.model_dir, strategy)
  storage.makedirs(output_dir)
  keras.utils.set_random_seed(config.seed)
  if config.deterministic:
    tf.config.experimental.enable_op_determinism()
  policy, reason = precision_lib.resolve_with_reason(config.precision,
                                                     strategy)
  previous_policy = precision_lib.set_policy(policy)
  augment_on, augment_on_reason = device_augment.resolve(
      config.augment_on, strategy, config.augment)
  try:
    global_batch_size = (config.per_replica_batch_size
                         * strategy.num_replicas_in_sync)
    if chief:
      if decision.action == rerun.CONTINUE:
        run_dir.unfinish(config.model_dir)
      run_dir.write_config(config, config.model_dir)
      run_dir.write_run_info({
          "precision": policy,
          "precision_reason": reason,
          "augment_on": augment_on,
          "augment_on_reason": augment_on_reason,
          "strategy": type(strategy).__name__,
          "num_replicas_in_sync": strategy.num_replicas_in_sync,
          "global_batch_size": global_batch_size,
          "multi_worker": strategy_lib.is_multi_worker(strategy),
          "tensorflow": tf.__version__,
          "keras": keras.__version__,
      }, config.model_dir)
    # Set by a callback to the epoch about to run; the training input's
    # random draws follow it. On the host: tf.data reads it there.
    with tf.device("/cpu:0"):
      epoch = tf.Variable(0, dtype=tf.int64, trainable=False,
                          name="input_epoch")
    data = inputs_lib.make_inputs(config, strategy, epoch, augment_on)
    if chief:
      run_dir.write_class_names(data.class_names, config.model_dir)
    logging.info("Training %s with %s: %d replica(s), global batch %d, %s "
                 "(%s), augmentation on the %s (%s).", config.model,
                 type(strategy).__name__, strategy.num_replicas_in_sync,
                 global_batch_size, policy, reason, augment_on,
                 augment_on_reason)
    num_classes = len(data.class_names)
    model = build_and_compile(config, num_classes, strategy, augment_on)
    validation_callback = validation.Validation(
        data.validation, config.target, num_classes,
        strategy if strategy_lib.is_multi_worker(strategy) else None)
    with _quiet_end_of_data():
      history = model.fit(
          data.train, epochs=config.epochs,
          steps_per_epoch=data.steps_per_epoch,
          class_weight=data.class_weight, shuffle=False,
          verbose=fit_verbosity(sys.stdout),
          callbacks=callbacks_lib.make_callbacks(config, output_dir,
                                                 validation_callback, epoch))
    export.export_best(model, output_dir,
                       export.serving_spec(config, data.class_names))
    if chief:
      run_dir.finish(config.model_dir, config)
    return history
  finally:
    precision_lib.set_policy(previous_policy)


def build_and_compile(config: config_lib.TrainConfig, num_classes: int,
                      strategy: tf.distribute.Strategy,
                      augment_on: str = device_augment.HOST) -> keras.Model:
  """The compiled model, its variables placed by `strategy`; with
  `augment_on` "device", its training step augments (trainer.device_augment).
  """
  with strategy.scope():
    model = models.build_model(config.model, config.image_size,
                               config.channels, num_classes)
    loss, metrics = objectives.loss_and_metrics(config.target, num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=loss, metrics=metrics)
  if augment_on == device_augment.DEVICE:
    device_augment.patch_model(model, config.augment_ranges())
  if strategy_lib.is_multi_worker(strategy):
    multi_worker.patch_model(model, strategy)
  return model


def fit_verbosity(stream) -> int:
  """Keras' per-batch progress bar in a terminal (1), one line per epoch in a
  log file or a pipe (2), where a bar's carriage returns would be noise."""
  isatty = getattr(stream, "isatty", None)
  return 1 if isatty is not None and isatty() else 2


@contextlib.contextmanager
def _quiet_end_of_data():
  """Hides Keras' "input ran out of data" warning.

  An epoch is one pass over a finite training set by design; Keras warns
  when such a set's length is unknown beforehand (balance="resample").
  """
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    yield
