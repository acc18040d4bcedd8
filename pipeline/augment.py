"""Train-only augmentation of one preprocessed image, deterministic per seed.

Every random draw is a stateless op keyed by the example's seed, so the same
(image, config, seed) always gives the same output, eagerly or in tf.data.
Rotation, shift and zoom are composed into one affine transform and sampled
once (bilinear), so the image is interpolated a single time. The input
pipeline augments whole batches (`augment_batch`); `augment` is the same
function on one image.
"""

import math

import keras
import tensorflow as tf

from pipeline.augment_config import AugmentConfig

# Pixels the transform pulls from outside the image repeat the nearest edge:
# no black wedges that evaluation images never have. Spelled as the raw op's
# attribute (bench/input_stages.py times that op with it); keras takes it in
# lower case.
FILL_MODE = "NEAREST"


def _symmetric(seed: tf.Tensor, limit: float, shape=()) -> tf.Tensor:
  return tf.random.stateless_uniform(shape, seed, -limit, limit)


def affine_transform(height: tf.Tensor, width: tf.Tensor,
                     config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
  """The random rotation + shift + zoom as one projective transform row.

  Returns [1, 8] float32 `[a0, a1, a2, b0, b1, b2, 0, 0]` mapping each output
  pixel (x, y) to the input point it samples, as
  keras.ops.image.affine_transform expects:
  input = center + rotate(output - center) / scale - shift.
  """
  rotation_seed, shift_seed, zoom_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=3))
  angle = _symmetric(rotation_seed, math.radians(config.rotation_degrees))
  shift = _symmetric(shift_seed, config.shift_fraction, shape=(2,))
  scale = 1.0 + _symmetric(zoom_seed, config.zoom_fraction)
  height = tf.cast(height, tf.float32)
  width = tf.cast(width, tf.float32)
  center_x, center_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
  shift_x, shift_y = shift[0] * width, shift[1] * height
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  a2 = center_x - cos * center_x + sin * center_y - shift_x
  b2 = center_y - sin * center_x - cos * center_y - shift_y
  zero = tf.zeros_like(cos)
  return tf.reshape(tf.stack([cos, -sin, a2, sin, cos, b2, zero, zero]),
                    (1, 8))


def _draws(config: AugmentConfig, height: tf.Tensor, width: tf.Tensor,
           seed: tf.Tensor) -> tuple[tf.Tensor, ...]:
  """One image's random changes from its own seed: (transform [8], brightness
  delta, contrast factor, flip), drawn as tf.image's stateless_random_* would.
  """
  geometry_seed, brightness_seed, contrast_seed, flip_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, num=4))
  transform = affine_transform(height, width, config, geometry_seed)[0]
  delta = _symmetric(brightness_seed, config.brightness)
  factor = tf.random.stateless_uniform((), contrast_seed, 1.0 - config.contrast,
                                       1.0 + config.contrast)
  flip = tf.random.stateless_uniform((), flip_seed, 0.0, 1.0) < 0.5
  return transform, delta, factor, flip


def augment_batch(images: tf.Tensor, config: AugmentConfig,
                  seeds: tf.Tensor) -> tf.Tensor:
  """Randomly transforms float32 [0, 1] images (B, H, W, C), each by its seed.

  Image i comes out exactly as `augment(images[i], config, seeds[i])`, but
  each change is one op over the whole batch: the transform kernel runs once
  per batch instead of once per image.

  Args:
    images: float32 batch in [0, 1], as `preprocess.to_model_input` makes it.
    config: the ranges of the random changes.
    seeds: shape [B, 2] integer tensor, one seed per image.

  Returns:
    The augmented batch, clipped to [0, 1]; same shape and dtype.
  """
  images = tf.convert_to_tensor(images)
  if images.shape.rank != 4:
    raise ValueError(f"augment_batch takes a (B, H, W, C) batch, got shape "
                     f"{images.shape}")
  if images.dtype != tf.float32:
    raise ValueError(f"augment takes float32 images, got {images.dtype}")
  static_shape = images.shape
  seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
  size = tf.shape(images)[1:3]
  transforms, deltas, factors, flips = tf.map_fn(
      lambda seed: _draws(config, size[0], size[1], seed), seeds,
      fn_output_signature=(tf.float32, tf.float32, tf.float32, tf.bool))
  per_image = lambda values: values[:, tf.newaxis, tf.newaxis, tf.newaxis]

  if config.has_geometry:
    # All B transforms in one call; the layout is fixed rather than taken from
    # keras.config, which a model's settings must not be able to flip.
    images = keras.ops.image.affine_transform(
        images, transforms, interpolation="bilinear",
        fill_mode=FILL_MODE.lower(), fill_value=0.0,
        data_format="channels_last")
  if config.brightness:
    images = images + per_image(deltas)
  if config.contrast:
    # tf.image.adjust_contrast: each channel of each image about its own mean.
    means = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
    images = (images - means) * per_image(factors) + means
  if config.horizontal_flip:
    images = tf.where(per_image(flips), tf.reverse(images, axis=[2]), images)
  images = tf.clip_by_value(images, 0.0, 1.0)
  return tf.ensure_shape(images, static_shape)


def augment(image: tf.Tensor, config: AugmentConfig,
            seed: tf.Tensor) -> tf.Tensor:
  """Randomly transforms one float32 [0, 1] image (H, W, C); same shape, dtype.

  Args:
    image: float32 image in [0, 1], as `preprocess.to_model_input` makes it.
    config: the ranges of the random changes.
    seed: shape [2] integer tensor; the same seed gives the same output.

  Returns:
    The augmented image, clipped to [0, 1].
  """
  image = tf.convert_to_tensor(image)
  if image.shape.rank != 3:
    raise ValueError(f"augment takes one (H, W, C) image, got shape "
                     f"{image.shape}")
  seed = tf.convert_to_tensor(seed)
  return augment_batch(image[tf.newaxis], config, seed[tf.newaxis])[0]
