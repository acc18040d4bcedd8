"""The one preprocessing function shared by training, evaluation and prediction.

A model sees the pixels `to_model_input` makes from the stored image, whichever
path the image takes; augmentation (train only) starts from its output.
"""

import tensorflow as tf

CHANNELS = (1, 3)


def _needs_resize(image: tf.Tensor, image_size: int):
  """Python bool when height and width are static, else a scalar bool tensor."""
  height, width = image.shape[-3], image.shape[-2]
  if height is not None and width is not None:
    return height != image_size or width != image_size
  shape = tf.shape(image)
  return tf.logical_or(shape[-3] != image_size, shape[-2] != image_size)


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
  return tf.image.resize(image, (image_size, image_size),
                         method=tf.image.ResizeMethod.BILINEAR, antialias=True)


def to_model_input(image: tf.Tensor, image_size: int,
                   channels: int) -> tf.Tensor:
  """uint8 (H, W, C) or (B, H, W, C) -> float32 in [0, 1] at the model's shape.

  Scales to [0, 1]; converts RGB to grayscale (ITU-R 601 weights) or
  grayscale to RGB (three equal channels) when C differs from `channels`;
  resizes (bilinear, antialiased) only when H or W differ from `image_size`,
  so a stored image already at the model's size keeps its exact pixels.

  Args:
    image: uint8 image or batch with a static channel count of 1 or 3 (a float
      image is taken to be in [0, 1] already).
    image_size: the model's square input side.
    channels: the model's input channels, 1 or 3.

  Returns:
    float32 tensor of shape (image_size, image_size, channels), with a leading
    batch dimension if the input had one.

  Raises:
    ValueError: bad rank, channel count or size.
  """
  if channels not in CHANNELS:
    raise ValueError(f"channels must be one of {CHANNELS}, got {channels}")
  if image_size < 1:
    raise ValueError(f"image_size must be positive, got {image_size}")
  image = tf.convert_to_tensor(image)
  if image.shape.rank not in (3, 4):
    raise ValueError(f"image must have rank 3 (H, W, C) or 4 (B, H, W, C), "
                     f"got shape {image.shape}")
  in_channels = image.shape[-1]
  if in_channels not in CHANNELS:
    raise ValueError(f"image must have a static channel count in {CHANNELS}, "
                     f"got shape {image.shape}")

  # uint8 scaled to float is in [0, 1] exactly; only arithmetic after it
  # (or a float input) can leave the range, and only then is it clipped: a
  # pass over every pixel saved on the common path.
  needs_clip = image.dtype != tf.uint8
  image = tf.image.convert_image_dtype(image, tf.float32)
  # Channel reduction before resizing and expansion after it: the resize then
  # always works on the fewest channels.
  if in_channels == 3 and channels == 1:
    image = tf.image.rgb_to_grayscale(image)
    needs_clip = True
  needs_resize = _needs_resize(image, image_size)
  if isinstance(needs_resize, bool):
    if needs_resize:
      image = _resize(image, image_size)
      needs_clip = True
  else:
    image = tf.cond(needs_resize,
                    lambda: tf.clip_by_value(_resize(image, image_size), 0.0,
                                             1.0),
                    lambda: image)
  if in_channels == 1 and channels == 3:
    image = tf.image.grayscale_to_rgb(image)
  if needs_clip:
    image = tf.clip_by_value(image, 0.0, 1.0)
  static_shape = image.shape[:-3].concatenate(
      [image_size, image_size, channels])
  return tf.ensure_shape(image, static_shape)
