"""Train-only augmentation of one preprocessed image, deterministic per seed.

Every random draw is a function of the example's seed, so the same
(image, config, seed) always gives the same output, eagerly, in tf.data or
in a compiled training step on an accelerator (trainer.device_augment).
First the "pixel path" remakes the file as another source may have made it
(downscale; blur or sharpen and JPEG at that size; back up). Then rotation,
shift and zoom are composed into one affine transform and sampled once
(bilinear), so the image is interpolated a single time; then brightness,
contrast and flip. The input pipeline augments whole batches
(`augment_batch`); `augment` is the same function on one image. The pixel
path needs the host (a JPEG codec, per-image sizes); the rest
(`transform_batch`) can run on the host or in the training step.
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

# The pixel path's stateless draws name their algorithm: "auto_select" may
# pick another one on another device.
RNG = "philox"

# The draws of the changes after the pixel path, per image, in this order:
# an integer hash of the image's seed (`uniforms`).
_ANGLE, _SHIFT_X, _SHIFT_Y, _ZOOM, _BRIGHTNESS, _CONTRAST, _FLIP = range(7)
_NUM_DRAWS = 7
# lowbias32's constants (C. Wellons' hash-prospector), and the golden ratio.
_MIX = (0x7FEB352D, 0x846CA68B)
_GOLDEN = 0x9E3779B9

# Unsharp masking's blur: the binomial [1, 4, 6, 4, 1] / 16, a Gaussian of
# sigma exactly 1 px in five taps.
_BLUR_TAPS = (1 / 16, 4 / 16, 6 / 16)  # outer pair, inner pair, center


def _symmetric(seed: tf.Tensor, limit: float, shape=()) -> tf.Tensor:
  return tf.random.stateless_uniform(shape, seed, -limit, limit, alg=RNG)


def _xor_shifted(x: tf.Tensor, bits: int) -> tf.Tensor:
  return tf.bitwise.bitwise_xor(
      x, tf.bitwise.right_shift(x, tf.constant(bits, tf.uint32)))


def _mix(x: tf.Tensor) -> tf.Tensor:
  """lowbias32, a bijective hash of uint32 words."""
  x = _xor_shifted(x, 16) * tf.constant(_MIX[0], tf.uint32)
  x = _xor_shifted(x, 15) * tf.constant(_MIX[1], tf.uint32)
  return _xor_shifted(x, 16)


def uniforms(seeds: tf.Tensor, count: int) -> tf.Tensor:
  """(B, 2) integer seeds -> (B, count) float32 uniform in [0, 1).

  An integer hash of each image's seed and the draw's index, in 32-bit
  words: the same bits on a CPU, a GPU or a TPU, in an XLA-compiled step or
  not, one op per batch. (TensorFlow's stateless random ops take one seed per
  call, so a batch needs a loop of them, and their Philox gives other numbers
  under XLA than without it.)
  """
  seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
  words = tf.reshape(tf.bitcast(seeds, tf.uint32), [-1, 4])
  state = tf.zeros_like(words[:, 0])
  for i in range(4):
    state = _mix(tf.bitwise.bitwise_xor(state, words[:, i])
                 + tf.constant(_GOLDEN, tf.uint32))
  draws = [_mix(tf.bitwise.bitwise_xor(
      state, tf.constant((_GOLDEN * (k + 1)) % (1 << 32), tf.uint32)))
           for k in range(count)]
  # The top 24 bits: exact in float32.
  bits = tf.bitwise.right_shift(tf.stack(draws, axis=1),
                                tf.constant(8, tf.uint32))
  return tf.cast(bits, tf.float32) * (1.0 / (1 << 24))


def _between(u: tf.Tensor, low: float, high: float) -> tf.Tensor:
  return low + (high - low) * u


def affine_transforms(height: tf.Tensor, width: tf.Tensor,
                      config: AugmentConfig, draws: tf.Tensor) -> tf.Tensor:
  """The random rotation + shift + zoom of each image as one projective
  transform, from its uniforms (B, _NUM_DRAWS).

  Returns (B, 8) float32 `[a0, a1, a2, b0, b1, b2, 0, 0]` mapping each output
  pixel (x, y) to the input point it samples, as
  keras.ops.image.affine_transform expects:
  input = center + rotate(output - center) / scale - shift.
  """
  limit = math.radians(config.rotation_degrees)
  angle = _between(draws[:, _ANGLE], -limit, limit)
  shift_x = _between(draws[:, _SHIFT_X], -config.shift_fraction,
                     config.shift_fraction)
  shift_y = _between(draws[:, _SHIFT_Y], -config.shift_fraction,
                     config.shift_fraction)
  scale = 1.0 + _between(draws[:, _ZOOM], -config.zoom_fraction,
                         config.zoom_fraction)
  height = tf.cast(height, tf.float32)
  width = tf.cast(width, tf.float32)
  center_x, center_y = (width - 1.0) / 2.0, (height - 1.0) / 2.0
  shift_x, shift_y = shift_x * width, shift_y * height
  cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
  a2 = center_x - cos * center_x + sin * center_y - shift_x
  b2 = center_y - sin * center_x - cos * center_y - shift_y
  zero = tf.zeros_like(cos)
  return tf.stack([cos, -sin, a2, sin, cos, b2, zero, zero], axis=1)


def affine_transform(height: tf.Tensor, width: tf.Tensor,
                     config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
  """`affine_transforms` of one image by its seed ([2]): [1, 8] float32."""
  seed = tf.convert_to_tensor(seed)
  return affine_transforms(height, width, config,
                           uniforms(seed[tf.newaxis], _NUM_DRAWS))


def batch_draws(config: AugmentConfig, height: tf.Tensor, width: tf.Tensor,
                seeds: tf.Tensor) -> tuple[tf.Tensor, ...]:
  """Each image's changes after the pixel path, from its own seed:
  transforms (B, 8), brightness deltas (B,), contrast factors (B,), flips
  (B,) bool; uniform over each field's range."""
  draws = uniforms(seeds, _NUM_DRAWS)
  transforms = affine_transforms(height, width, config, draws)
  deltas = _between(draws[:, _BRIGHTNESS], -config.brightness,
                    config.brightness)
  factors = _between(draws[:, _CONTRAST], 1.0 - config.contrast,
                     1.0 + config.contrast)
  flips = draws[:, _FLIP] < 0.5
  return transforms, deltas, factors, flips


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
      tf.cast(seed, tf.int64), PIXEL_PATH_STREAM, alg=RNG)
  seeds = tf.unstack(
      tf.random.experimental.stateless_split(stream, num=5, alg=RNG))
  index = lambda seed, choices: tf.random.stateless_uniform(
      (), seed, 0, len(choices), dtype=tf.int32, alg=RNG)
  return PixelPathDraws(
      factor=tf.random.stateless_uniform((), seeds[0], 1.0,
                                         1.0 + config.downscale, alg=RNG),
      downscale_method=index(seeds[1], DOWNSCALE_METHODS),
      upscale_method=index(seeds[2], UPSCALE_METHODS),
      sharpen=_symmetric(seeds[3], config.sharpen),
      jpeg_quality=tf.random.stateless_uniform(
          (), seeds[4], config.jpeg_min_quality, 101, dtype=tf.int32,
          alg=RNG))


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


WARPS = ("kernel", "gather")


def warp(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
  """keras.ops.image.affine_transform(images, transforms, "bilinear",
  fill_mode="nearest") in gathers and arithmetic.

  TensorFlow's projective-transform kernel has no XLA lowering: it cannot
  run in an XLA-compiled training step (Keras compiles one on GPUs by
  default) or on a TPU. This is the kernel's own arithmetic (the sampled
  point clamped into the image, then the four neighbours weighted in the
  same order), so the two agree to float rounding.

  Args:
    images: float32 (B, H, W, C).
    transforms: float32 (B, 8), as affine_transform takes them.
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  batch, height, width = shape[0], shape[1], shape[2]
  channels = images.shape[-1]
  x = tf.cast(tf.range(width), tf.float32)[tf.newaxis, tf.newaxis, :]
  y = tf.cast(tf.range(height), tf.float32)[tf.newaxis, :, tf.newaxis]
  t = tf.unstack(tf.reshape(transforms, [-1, 8, 1, 1]), axis=1)
  projection = t[6] * x + t[7] * y + 1.0
  in_x = (t[0] * x + t[1] * y + t[2]) / projection
  in_y = (t[3] * x + t[4] * y + t[5]) / projection
  last_x = tf.cast(width - 1, tf.float32)
  last_y = tf.cast(height - 1, tf.float32)
  in_x = tf.minimum(tf.maximum(in_x, 0.0), last_x)
  in_y = tf.minimum(tf.maximum(in_y, 0.0), last_y)
  x0, y0 = tf.floor(in_x), tf.floor(in_y)
  x1, y1 = x0 + 1.0, y0 + 1.0
  flat = tf.reshape(images, [batch, height * width, channels])

  def read(row, column):
    # A neighbour past the last pixel has weight 0: clamping its index
    # reads a finite value to multiply by 0, where the kernel reads 0.
    index = (tf.cast(tf.minimum(row, last_y), tf.int32) * width
             + tf.cast(tf.minimum(column, last_x), tf.int32))
    values = tf.gather(flat, tf.reshape(index, [batch, -1]), batch_dims=1)
    return tf.reshape(values, [batch, height, width, channels])

  weight = lambda values: values[..., tf.newaxis]
  top = (weight(x1 - in_x) * read(y0, x0) + weight(in_x - x0) * read(y0, x1))
  bottom = (weight(x1 - in_x) * read(y1, x0) +
            weight(in_x - x0) * read(y1, x1))
  return weight(y1 - in_y) * top + weight(in_y - y0) * bottom


def _checked(images: tf.Tensor) -> tf.Tensor:
  images = tf.convert_to_tensor(images)
  if images.shape.rank != 4:
    raise ValueError(f"augment_batch takes a (B, H, W, C) batch, got shape "
                     f"{images.shape}")
  if images.dtype != tf.float32:
    raise ValueError(f"augment takes float32 images, got {images.dtype}")
  return images


def transform_batch(images: tf.Tensor, config: AugmentConfig,
                    seeds: tf.Tensor, warp_with: str = "kernel") -> tf.Tensor:
  """The changes after the pixel path: rotation, shift and zoom as one
  affine transform, then brightness, contrast and flip; each one op over
  the batch, each image's draws from its own seed.

  Fixed shapes and no codec: this part runs where the model runs, inside
  the compiled training step (trainer.device_augment), as well as on the
  host.

  Args:
    images: float32 batch (B, H, W, C) in [0, 1].
    config: the ranges of the random changes.
    seeds: shape [B, 2] integer tensor, one seed per image.
    warp_with: "kernel" (TensorFlow's transform kernel, the fastest on a
      CPU host) or "gather" (`warp`: compiles with XLA, for accelerators).

  Returns:
    The transformed batch, clipped to [0, 1]; same shape and dtype.
  """
  if warp_with not in WARPS:
    raise ValueError(f"warp_with must be one of {WARPS}, got {warp_with!r}")
  images = _checked(images)
  static_shape = images.shape
  seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
  size = tf.shape(images)[1:3]
  transforms, deltas, factors, flips = batch_draws(config, size[0], size[1],
                                                   seeds)
  per_image = lambda values: values[:, tf.newaxis, tf.newaxis, tf.newaxis]

  if config.has_geometry:
    if warp_with == "gather":
      images = warp(images, transforms)
    else:
      # All B transforms in one call; the layout is fixed rather than taken
      # from keras.config, which a model's settings must not be able to flip.
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


def pixel_path_batch(images: tf.Tensor, config: AugmentConfig,
                     seeds: tf.Tensor) -> tf.Tensor:
  """The pixel path of a batch (`pixel_path`) where config has one, else the
  batch unchanged. Host only: JPEG coding has no accelerator kernel, and
  each image's shrunk size is a shape XLA cannot compile."""
  images = _checked(images)
  if not config.has_pixel_path:
    return images
  if config.jpeg_min_quality and images.shape[-1] not in (1, 3):
    raise ValueError(f"JPEG (jpeg_min_quality) takes a static 1 or 3 "
                     f"channels, got shape {images.shape}")
  seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
  return tf.ensure_shape(pixel_path(images, config, seeds), images.shape)


def augment_batch(images: tf.Tensor, config: AugmentConfig,
                  seeds: tf.Tensor) -> tf.Tensor:
  """Randomly transforms float32 [0, 1] images (B, H, W, C), each by its seed.

  Image i comes out exactly as `augment(images[i], config, seeds[i])`:
  `pixel_path_batch`, then `transform_batch`. The host path; with the
  augmentation on the device, the pipeline runs the first half and the
  training step the second, from the same seeds.

  Args:
    images: float32 batch in [0, 1], as `preprocess.to_model_input` makes it.
    config: the ranges of the random changes.
    seeds: shape [B, 2] integer tensor, one seed per image.

  Returns:
    The augmented batch, clipped to [0, 1]; same shape and dtype.
  """
  images = pixel_path_batch(images, config, seeds)
  return transform_batch(images, config, seeds)


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
