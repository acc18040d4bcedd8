"""Validation metrics at each epoch end, on the whole validation split.

Runs the model in inference mode on one device, outside `strategy.run`, over
a plain dataset of the validation split, and adds val_loss, val_accuracy and
val_auc to the epoch logs before any other callback reads them. Every worker
of a multi-worker job computes the same numbers from the same weights, so
early stopping and the learning-rate schedule decide alike everywhere, and no
validation example is dropped, padded or split into empty per-replica
batches (see `trainer.inputs`). The metrics are those of `model.compile`
(`objectives.loss_and_metrics`); val_loss includes the weight
regularization, as Keras' own evaluation does.
"""

from typing import Optional

import keras
import tensorflow as tf

from trainer import objectives


class Validation(keras.callbacks.Callback):
  """Puts val_* metrics of `dataset` into the logs of every epoch.

  Must be the first callback, so that the others see its values.
  """

  def __init__(self, dataset: tf.data.Dataset, target: str,
               num_classes: int,
               strategy: Optional[tf.distribute.Strategy] = None):
    """Args: the validation split; the target and its class count; the
    run's strategy, if its workers' results are to be averaged (multi-worker
    only: it makes every worker's logs, and so its callbacks' decisions,
    identical even if floating point differed between processes)."""
    super().__init__()
    self.dataset = dataset
    self.strategy = strategy
    self.loss_fn, self.metrics = objectives.loss_and_metrics(target,
                                                             num_classes)
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self._step = None

  def _make_step(self):
    @tf.function
    def step(images, targets):
      predictions = self.model(images, training=False)
      batch = tf.cast(tf.shape(targets)[0], tf.float32)
      self.loss_tracker.update_state(self.loss_fn(targets, predictions),
                                     sample_weight=batch)
      for metric in self.metrics:
        metric.update_state(targets, predictions)
    return step

  def evaluate(self) -> dict[str, float]:
    """Metric name -> value over the whole dataset, for the current weights."""
    if self._step is None:
      self._step = self._make_step()
    self.loss_tracker.reset_state()
    for metric in self.metrics:
      metric.reset_state()
    for images, targets in self.dataset:
      self._step(images, targets)
    regularization = sum(float(loss) for loss in self.model.losses)
    results = {"loss": float(self.loss_tracker.result()) + regularization}
    for metric in self.metrics:
      results[metric.name] = float(metric.result())
    if self.strategy is not None:
      results = {name: float(self.strategy.reduce(
          "MEAN", tf.constant(value, tf.float32), axis=None))
                 for name, value in sorted(results.items())}
    return results

  def on_epoch_end(self, epoch: int, logs: Optional[dict] = None):
    results = self.evaluate()
    if logs is not None:
      logs.update({f"val_{name}": value for name, value in results.items()})
