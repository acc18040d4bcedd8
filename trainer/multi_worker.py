"""Two workarounds that let Keras 3 `Model.fit` run under multi-worker MWMS.

Keras 3 (checked on 3.15.1 with TF 2.21) fails in `fit` as soon as
MultiWorkerMirroredStrategy spans more than one worker; a known, open
problem (keras-team/keras#20585, ray-project/ray#47464, both with the same
"Attempt to convert a value (PerReplica...) to a Tensor" error):

1. `fit` first calls `_maybe_symbolic_build`, which averages the first input
   batch across replicas with `strategy.reduce("MEAN", (x, y), axis=None)`
   only to learn its shapes; the collective strategy cannot reduce a nested
   structure. Replaced here, on this one model instance, by a build from the
   first local replica's batch (same shapes, no collective).
2. Each step's logs go through `reduce_per_replica(..., "auto")`, which under
   multiple workers is `strategy.reduce("MEAN", v, axis=0)` and fails on the
   scalar loss and metric values. The train and test steps here return each
   value with a leading axis of 1, so that reduction is the mean over
   replicas it was meant to be. Epoch logs (what callbacks and history see)
   are not affected: they are read from the metric variables, which are
   summed across all workers.

Apply only when `strategy.is_multi_worker(strategy)`; single-process
strategies do not need them.
"""

import types

import keras
import tensorflow as tf


def patch_model(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
  """Applies both workarounds to `model` (built under `strategy.scope()`)."""
  first_local = lambda value: strategy.experimental_local_results(value)[0]

  def maybe_symbolic_build(self, iterator=None, data_batch=None):
    if iterator is not None:
      for _, _, batch_iterator in iterator:
        data_batch = tf.nest.map_structure(first_local, next(batch_iterator))
        break
    with strategy.scope():
      # pylint: disable-next=protected-access
      self._symbolic_build(data_batch=data_batch)

  def with_replica_axis(step):
    def wrapped(self, data):
      del self
      return {name: tf.reshape(value, [1])
              for name, value in step(data).items()}
    return wrapped

  # pylint: disable-next=protected-access
  model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
  model.train_step = types.MethodType(with_replica_axis(model.train_step),
                                      model)
  model.test_step = types.MethodType(with_replica_axis(model.test_step), model)
