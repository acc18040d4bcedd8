"""The training augmentation inside the compiled training step.

With augmentation on the device, the input pipeline runs only the pixel path
(JPEG coding and per-image sizes need the host) and yields
((images, seeds), targets); the training step then applies
`pipeline.augment.transform_batch` (rotation, shift, zoom, brightness,
contrast, flip) from the same per-image seeds, on the replica's device, with
the gather warp that XLA compiles. Only `train_step` changes, on this one
model instance: evaluation never augments, and the saved model.keras and the
exported SavedModel are the plain model.

The default ("auto") puts it on the device when the replicas are GPUs or a
TPU, and on the host otherwise: on a CPU the "device" is the cores tf.data
already uses, and in the step the augmentation waits for the step instead
of overlapping with it (bench section 8: host vs device augmentation).
"""

import types
from typing import Optional

import keras
import tensorflow as tf

from pipeline import augment as augment_lib
from pipeline import augment_config

HOST, DEVICE = "host", "device"


def _accelerator(strategy: tf.distribute.Strategy) -> Optional[str]:
  """"TPU" or "GPU" when the strategy's replicas run on one, else None."""
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return "TPU"
  try:
    devices = strategy.extended.worker_devices
  except RuntimeError:
    # The default strategy: ops go to the first GPU when there is one.
    return "GPU" if tf.config.list_logical_devices("GPU") else None
  kinds = {tf.DeviceSpec.from_string(device).device_type for device in devices}
  return "GPU" if "GPU" in kinds else None


def resolve(requested: str, strategy: tf.distribute.Strategy,
            augment: bool = True) -> tuple[str, str]:
  """Where the augmentation's batch changes run, and why.

  Args:
    requested: "auto", "host" or "device" (TrainConfig.augment_on).
    strategy: the run's strategy; its replicas' device decides "auto".
    augment: whether the run augments at all.
  """
  if not augment:
    return HOST, "no augmentation"
  if requested != "auto":
    return requested, f"asked for ({requested})"
  accelerator = _accelerator(strategy)
  if accelerator is not None:
    return DEVICE, (f"{accelerator}: the batch changes run in the compiled "
                    "training step, off the host's cores")
  return HOST, ("no GPU or TPU: on CPUs tf.data overlaps the augmentation "
                "with the training step, which running it inside the step "
                "would not")


def _without_seeds(data):
  """((images, seeds), y[, weights]) -> (images, y[, weights])."""
  x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
  return keras.utils.pack_x_y_sample_weight(x[0], y, sample_weight)


def patch_model(model: keras.Model,
                config: augment_config.AugmentConfig) -> None:
  """Makes `model`'s training step augment its ((images, seeds), y) input.

  Keras compiles train_step (with XLA on GPUs by default), so the changes
  run where the step runs. The first-batch build Keras does under a
  distribution strategy sees the plain images.
  """
  train_step = model.train_step
  symbolic_build = model._symbolic_build  # pylint: disable=protected-access

  def augmented_train_step(self, data):
    del self
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    images, seeds = x
    images = augment_lib.transform_batch(images, config, seeds,
                                         warp_with="gather")
    return train_step(keras.utils.pack_x_y_sample_weight(images, y,
                                                         sample_weight))

  def build_without_seeds(self, iterator=None, data_batch=None):
    del self
    if data_batch is not None:
      data_batch = _without_seeds(data_batch)
    return symbolic_build(iterator=iterator, data_batch=data_batch)

  model.train_step = types.MethodType(augmented_train_step, model)
  # pylint: disable-next=protected-access
  model._symbolic_build = types.MethodType(build_without_seeds, model)
