"""Train-only augmentation of one preprocessed image, deterministic per seed.

Every random draw is a stateless op keyed by the example's seed, so the same
(image, config, seed) always gives the same output, eagerly or in tf.data.
First the "pixel path" remakes the file as another source may have made it
(downscale; blur or sharpen and JPEG at that size; back up). Then rotation,
shift and zoom are composed into one affine transform and sampled once
(bilinear), so the image is interpolated a single time; then brightness,
contrast and flip. The input pipeline augments whole batches
(`augment_batch`); `augment` is the same function on one image.
"""

import functools
import math
from typing import NamedTuple

import keras
import tensorflow as tf

from pipeline.augment_config import AugmentConfig

# Pixels the transform pulls from outside the image repeat the nearest edge:
# no black wedges that evaluation images never have. Spelled as the raw op's
# attribute (bench/input_stages.py times that op with it); keras takes it in
# lower case.
FILL_MODE = "NEAREST"

# The pixel path draws from its own stream of each seed (fold_in, then split),
# so the geometry and photometric draws are those of the code before it.
PIXEL_PATH_STREAM = 0x70697870  # "pixp"

# How a file's maker may have downscaled, as (tf.image.resize method,
# antialias): the usual tools' filters, prefiltered or aliased. Not Lanczos
# (Pillow's thumbnail): the slowest kernel, and close to antialiased bicubic;
# sharpen covers the difference.
DOWNSCALE_METHODS = (
    ("area", False),      # box average: cv2 INTER_AREA, Pillow reduce()
    ("bilinear", True),   # Pillow BILINEAR: our own build's resize
    ("bicubic", True),    # Pillow BICUBIC: its resize default since 7.0
    ("bilinear", False),  # cv2 INTER_LINEAR, tf.image.resize: aliased
    ("nearest", False),   # Pillow resize default before 7.0: aliased
)
# Back to the stored size; only the two smooth upsamplers: the way back is
# ours, not the maker's, and nearest would add blocks no file has.
UPSCALE_METHODS = ("bilinear", "bicubic")

# Unsharp masking's blur: the binomial [1, 4, 6, 4, 1] / 16, a Gaussian of
# sigma exactly 1 px in five taps.
_BLUR_TAPS = (1 / 16, 4 / 16, 6 / 16)  # outer pair, inner pair, center


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


class PixelPathDraws(NamedTuple):
  """One image's pixel-path changes (each drawn whether its field is on)."""
  factor: tf.Tensor  # downscale factor in [1, 1 + downscale]
  downscale_method: tf.Tensor  # index into DOWNSCALE_METHODS
  upscale_method: tf.Tensor  # index into UPSCALE_METHODS
  sharpen: tf.Tensor  # unsharp amount in [-sharpen, sharpen]
  jpeg_quality: tf.Tensor  # int32 in [jpeg_min_quality, 100]


def pixel_path_draws(config: AugmentConfig, seed: tf.Tensor) -> PixelPathDraws:
  """The pixel path's draws from one image's seed, on their own stream."""
  stream = tf.random.experimental.stateless_fold_in(
      tf.cast(seed, tf.int64), PIXEL_PATH_STREAM)
  seeds = tf.unstack(tf.random.experimental.stateless_split(stream, num=5))
  index = lambda seed, choices: tf.random.stateless_uniform(
      (), seed, 0, len(choices), dtype=tf.int32)
  return PixelPathDraws(
      factor=tf.random.stateless_uniform((), seeds[0], 1.0,
                                         1.0 + config.downscale),
      downscale_method=index(seeds[1], DOWNSCALE_METHODS),
      upscale_method=index(seeds[2], UPSCALE_METHODS),
      sharpen=_symmetric(seeds[3], config.sharpen),
      jpeg_quality=tf.random.stateless_uniform(
          (), seeds[4], config.jpeg_min_quality, 101, dtype=tf.int32))


def shrink(image: tf.Tensor, factor: tf.Tensor,
           method: tf.Tensor) -> tf.Tensor:
  """(H, W, C) downscaled by `factor` (at least 2 px a side, as blur needs)
  with DOWNSCALE_METHODS[method]."""
  size = tf.cast(tf.shape(image)[:2], tf.float32)
  small = tf.maximum(tf.cast(tf.round(size / factor), tf.int32), 2)
  return tf.switch_case(tf.convert_to_tensor(method, tf.int32), [
      functools.partial(tf.image.resize, image, small, name, antialias)
      for name, antialias in DOWNSCALE_METHODS])


def enlarge(image: tf.Tensor, size: tf.Tensor,
            method: tf.Tensor) -> tf.Tensor:
  """(h, w, C) resized up to `size` (H, W) with UPSCALE_METHODS[method]."""
  return tf.switch_case(tf.convert_to_tensor(method, tf.int32), [
      functools.partial(tf.image.resize, image, size, name)
      for name in UPSCALE_METHODS])


def _shifted(padded: tf.Tensor, axis: int, offset: int) -> tf.Tensor:
  """The window of `padded` (2 px added each side of `axis`) moved by
  `offset` px from the original image."""
  window = [slice(None)] * padded.shape.rank
  window[axis] = slice(2 + offset, offset - 2 or None)
  return padded[tuple(window)]


def blur(images: tf.Tensor) -> tf.Tensor:
  """(..., H, W, C) blurred by the binomial kernel along H and W; edges
  mirrored with the edge pixel repeated.

  Shifted slices summed rather than a convolution: elementwise ops give each
  image the same bits whatever else is in the batch (oneDNN's convolutions
  need not), and ran faster than conv2d or avg_pool2d here.
  """
  images = tf.convert_to_tensor(images)
  outer, inner, center = _BLUR_TAPS
  for axis in (-3, -2):
    paddings = [[0, 0]] * images.shape.rank
    paddings[axis] = [2, 2]
    padded = tf.pad(images, paddings, mode="SYMMETRIC")
    images = (outer * (_shifted(padded, axis, -2) + _shifted(padded, axis, 2))
              + inner * (_shifted(padded, axis, -1) +
                         _shifted(padded, axis, 1))
              + center * _shifted(padded, axis, 0))
  return images


def sharpen(images: tf.Tensor, amounts: tf.Tensor) -> tf.Tensor:
  """Unsharp masking of (..., H, W, C) by `amounts` (broadcast against it):
  above 0 sharpens, below 0 blurs (-1 gives `blur`), 0 is the identity
  (exactly: the difference is added times 0)."""
  images = tf.convert_to_tensor(images)
  return images + amounts * (images - blur(images))


def remake(image: tf.Tensor, config: AugmentConfig,
           seed: tf.Tensor) -> tf.Tensor:
  """One (H, W, C) image as another source might have made its file: shrunk,
  sharpened or blurred and JPEG-coded at that smaller size (the maker's),
  then resized back up (as our build resized it); each step where its field
  is on.
  """
  draws = pixel_path_draws(config, seed)
  size = tf.shape(image)[:2]
  remade = image
  if config.downscale:
    remade = shrink(remade, draws.factor, draws.downscale_method)
  if config.sharpen:
    remade = sharpen(remade, draws.sharpen)
  if config.jpeg_min_quality:
    # Through uint8, as a stored file is: clips to [0, 1] itself.
    remade = tf.image.adjust_jpeg_quality(remade, draws.jpeg_quality)
  if config.downscale:
    remade = enlarge(remade, size, draws.upscale_method)
  return tf.ensure_shape(remade, image.shape)


def pixel_path(images: tf.Tensor, config: AugmentConfig,
               seeds: tf.Tensor) -> tf.Tensor:
  """`remake` on each image of a (B, H, W, C) batch, by its seed; clipped to
  [0, 1], as a file is.

  Image by image: each has its own size and quality to encode at.
  """
  remade = tf.map_fn(lambda args: remake(args[0], config, args[1]),
                     (images, seeds),
                     fn_output_signature=tf.TensorSpec(images.shape[1:],
                                                       tf.float32))
  return tf.clip_by_value(remade, 0.0, 1.0)


def augment_batch(images: tf.Tensor, config: AugmentConfig,
                  seeds: tf.Tensor) -> tf.Tensor:
  """Randomly transforms float32 [0, 1] images (B, H, W, C), each by its seed.

  Image i comes out exactly as `augment(images[i], config, seeds[i])`. The
  changes after the pixel path are each one op over the whole batch: the
  transform kernel runs once per batch instead of once per image.

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
  if config.jpeg_min_quality and static_shape[-1] not in (1, 3):
    raise ValueError(f"JPEG (jpeg_min_quality) takes a static 1 or 3 "
                     f"channels, got shape {static_shape}")
  if config.has_pixel_path:
    images = pixel_path(images, config, seeds)
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
