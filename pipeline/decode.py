"""A source image file -> the image the dataset stores, in TensorFlow ops.

The serving model's preprocessing. It repeats `pneumonia_tfds.images`
(the dataset build, in Pillow) step by step, so that a SavedModel can take a
JPEG or PNG file as a client has it and feed the model the pixels training
saw for that file:
  decode by content (a JPEG at the reduced scale Pillow's `draft` picks,
  with libjpeg's accurate IDCT as Pillow uses), EXIF orientation, alpha over
  black, grayscale/RGB by Pillow's integer formulas, fit to the stored
  square with Pillow's fixed-point bilinear filter, and the stored JPEG
  round trip (decoded as TFDS decodes it).
Every step is Pillow's arithmetic, not an approximation of it: the stored
pixels are equal, bit for bit (tests/pipeline/test_decode.py, on every
shared original). Pillow's other formats (TIFF, BMP, GIF, WebP...) and DICOM
are not decoded here: the build takes them, serving takes JPEG and PNG.
"""

from typing import Optional

import tensorflow as tf

from pneumonia_tfds import images

# The build's limits and codec, so that serving refuses what the build refuses.
MAX_PIXELS = images.MAX_PIXELS
JPEG_QUALITY = images.JPEG_QUALITY
FITS = images.FIT_METHODS
ENCODINGS = images.ENCODINGS

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Headers are read from the file padded with zeros, so that a read past the
# end of a short or broken file yields zeros instead of failing.
_PAD = 1024
_MAX_IFD_ENTRIES = 64
# Pillow decodes with libjpeg's accurate integer IDCT; TensorFlow's default is
# the fast one (up to 7 levels apart). The stored copy, though, is decoded as
# TFDS decodes it, with TensorFlow's default (round_trip).
_ACCURATE = "INTEGER_ACCURATE"


def _padded(data: tf.Tensor) -> tf.Tensor:
  return tf.strings.join([data, tf.constant(b"\0" * _PAD)])


def _bytes_at(padded: tf.Tensor, position: tf.Tensor, length: int) -> tf.Tensor:
  """`length` bytes from `position` (clamped into the file) as int32."""
  size = tf.strings.length(padded) - _PAD
  position = tf.clip_by_value(tf.cast(position, tf.int32), 0, size)
  raw = tf.io.decode_raw(tf.strings.substr(padded, position, length), tf.uint8)
  return tf.cast(tf.reshape(raw, [length]), tf.int32)


def _uint(padded, position, length: int, little_endian) -> tf.Tensor:
  """An unsigned big- or little-endian integer of 2 or 4 bytes, as int64."""
  values = tf.cast(_bytes_at(padded, position, length), tf.int64)
  values = tf.cond(little_endian, lambda: tf.reverse(values, [0]),
                   lambda: values)
  weights = tf.constant([256 ** (length - 1 - i) for i in range(length)],
                        tf.int64)
  return tf.reduce_sum(values * weights)


def _big(padded, position, length: int) -> tf.Tensor:
  return _uint(padded, position, length, tf.constant(False))


def _tiff_orientation(padded: tf.Tensor, start: tf.Tensor) -> tf.Tensor:
  """Orientation tag (0x0112) of IFD0 of the TIFF structure at `start`; 1 if
  there is none (what Pillow's getexif reads for exif_transpose)."""
  order = tf.strings.substr(padded, tf.cast(start, tf.int32), 2)
  little = tf.equal(order, b"II")
  valid = tf.logical_or(little, tf.equal(order, b"MM"))
  ifd = start + _uint(padded, start + 4, 4, little)
  count = tf.minimum(_uint(padded, ifd, 2, little), _MAX_IFD_ENTRIES)
  entries = tf.reshape(_bytes_at(padded, ifd + 2, 12 * _MAX_IFD_ENTRIES),
                       [_MAX_IFD_ENTRIES, 12])
  entries = tf.cast(entries, tf.int64)
  high, low = tf.cond(little, lambda: (1, 0), lambda: (0, 1))
  tags = entries[:, high] * 256 + entries[:, low]
  values = entries[:, 8 + high] * 256 + entries[:, 8 + low]
  is_orientation = tf.logical_and(tf.equal(tags, 0x0112),
                                  tf.range(_MAX_IFD_ENTRIES,
                                           dtype=tf.int64) < count)
  found = tf.logical_and(valid, tf.reduce_any(is_orientation))
  first = tf.argmax(tf.cast(is_orientation, tf.int32), output_type=tf.int32)
  return tf.where(found, values[first], tf.constant(1, tf.int64))


def _jpeg_exif_start(padded: tf.Tensor) -> tf.Tensor:
  """Where the TIFF structure of the first APP1 "Exif" segment starts; -1 if
  none comes before the image data."""
  size = tf.cast(tf.strings.length(padded) - _PAD, tf.int64)

  def keep_going(position, found):
    return tf.logical_and(found < 0, position + 4 <= size)

  def step(position, found):
    prefix, marker = tf.unstack(_bytes_at(padded, position, 2))
    length = _big(padded, position + 2, 2)
    is_exif = tf.logical_and(
        tf.equal(marker, 0xE1),
        tf.equal(tf.strings.substr(padded, tf.cast(position + 4, tf.int32), 6),
                 b"Exif\0\0"))
    # After start-of-scan (0xDA) or end-of-image (0xD9) no header follows;
    # a byte that is not a marker means the file is not what it claims.
    stop = tf.logical_or(tf.not_equal(prefix, 0xFF),
                         tf.reduce_any(tf.equal(marker, [0xDA, 0xD9])))
    fill = tf.equal(marker, 0xFF)
    found = tf.where(is_exif, position + 10,
                     tf.where(stop, tf.constant(-2, tf.int64), found))
    position = tf.where(fill, position + 1, position + 2 + length)
    return position, found

  _, found = tf.while_loop(keep_going, step,
                           (tf.constant(2, tf.int64), tf.constant(-1, tf.int64)))
  return tf.maximum(found, -1)


def _png_exif_start(padded: tf.Tensor) -> tf.Tensor:
  """Where the data of the PNG's eXIf chunk starts; -1 if it has none."""
  size = tf.cast(tf.strings.length(padded) - _PAD, tf.int64)

  def keep_going(position, found):
    return tf.logical_and(found < 0, position + 8 <= size)

  def step(position, found):
    length = _big(padded, position, 4)
    kind = tf.strings.substr(padded, tf.cast(position + 4, tf.int32), 4)
    found = tf.where(tf.equal(kind, b"eXIf"), position + 8,
                     tf.where(tf.equal(kind, b"IEND"),
                              tf.constant(-2, tf.int64), found))
    return position + 12 + length, found

  _, found = tf.while_loop(keep_going, step,
                           (tf.constant(8, tf.int64), tf.constant(-1, tf.int64)))
  return tf.maximum(found, -1)


def exif_orientation(data: tf.Tensor) -> tf.Tensor:
  """The EXIF orientation (1-8) of a JPEG or PNG file; 1 when it has none."""
  padded = _padded(data)
  is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
  start = tf.cond(is_jpeg, lambda: _jpeg_exif_start(padded),
                  lambda: _png_exif_start(padded))
  return tf.cond(start >= 0, lambda: _tiff_orientation(padded, start),
                 lambda: tf.constant(1, tf.int64))


def orient(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
  """Turns an (H, W, C) image upright as Pillow's ImageOps.exif_transpose."""
  def transposed():
    return tf.transpose(image, [1, 0, 2])
  branches = [
      lambda: image,                                  # 1: upright
      lambda: tf.reverse(image, [1]),                 # 2: mirrored
      lambda: tf.reverse(image, [0, 1]),              # 3: upside down
      lambda: tf.reverse(image, [0]),                 # 4: flipped
      transposed,                                     # 5
      lambda: tf.reverse(transposed(), [1]),          # 6: turned left
      lambda: tf.reverse(transposed(), [0, 1]),       # 7
      lambda: tf.reverse(transposed(), [0]),          # 8: turned right
  ]
  index = tf.cast(orientation, tf.int32) - 1
  # Values outside 1-8 are ignored, as Pillow ignores them.
  index = tf.where(tf.logical_and(index >= 0, index < 8), index, 0)
  return tf.switch_case(index, branches)


def _luma(rgb: tf.Tensor) -> tf.Tensor:
  """RGB -> L with Pillow's integer ITU-R 601 weights (Image.convert("L"))."""
  rgb = tf.cast(rgb, tf.int32)
  value = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471
           + 0x8000) // 65536
  return tf.cast(value[..., tf.newaxis], tf.uint8)


def _over_black(color: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
  """Color over an opaque black background, in Pillow's alpha_composite
  fixed point (7 bits of precision, rounded division by 255)."""
  # Shifts as floor divisions: every value here is non-negative.
  value = tf.cast(color, tf.int32) * tf.cast(alpha, tf.int32) * 128 + (
      0x80 << 7)
  value = ((value // 256 + value) // 256) // 128
  return tf.cast(value, tf.uint8)


def _to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
  """uint8 image of 1-4 channels (L, LA, RGB, RGBA) -> `channels` (1 or 3)."""
  def gray(luma):
    return luma if channels == 1 else tf.tile(luma, [1, 1, 3])

  def color(rgb):
    return _luma(rgb) if channels == 1 else rgb

  branches = [
      lambda: gray(image[..., :1]),
      lambda: gray(_over_black(image[..., :1], image[..., 1:2])),
      lambda: color(image[..., :3]),
      lambda: color(_over_black(image[..., :3], image[..., 3:4])),
  ]
  # A static count picks its branch now: the others' slices would not trace.
  if image.shape[-1] is not None:
    return branches[image.shape[-1] - 1]()
  return tf.switch_case(tf.shape(image)[2] - 1, branches)


def _check_size(height: tf.Tensor, width: tf.Tensor) -> list:
  height, width = tf.cast(height, tf.int64), tf.cast(width, tf.int64)
  return [
      tf.debugging.assert_less_equal(
          height * width, tf.constant(MAX_PIXELS, tf.int64),
          message=f"image too large: over the {MAX_PIXELS} pixel limit "
          "(decompression bomb guard)"),
      tf.debugging.assert_greater_equal(
          tf.minimum(height, width), tf.constant(2, tf.int64),
          message="image too small: under 2 pixels on a side"),
  ]


def _draft_ratio(height, width, min_size: int) -> tf.Tensor:
  """Pillow's JPEG draft scale: the largest of 8, 4, 2, 1 that keeps both
  sides at least `min_size` (min(W // s, H // s) rounded down to one of them)."""
  scale = tf.minimum(width // min_size, height // min_size)
  return tf.where(scale >= 8, 3, tf.where(scale >= 4, 2,
                                          tf.where(scale >= 2, 1, 0)))


def _decode_jpeg(data: tf.Tensor, channels: int,
                 min_size: Optional[int]) -> tf.Tensor:
  shape = tf.io.extract_jpeg_shape(data)
  with tf.control_dependencies(_check_size(shape[0], shape[1])):
    if min_size is None:
      # Pillow decodes at full size in the file's own mode, then converts.
      return _to_channels(tf.io.decode_jpeg(data, channels=0,
                                            dct_method=_ACCURATE), channels)
    # With draft, libjpeg itself outputs L (the Y plane) or RGB, scaled.
    branches = [lambda r=r: tf.io.decode_jpeg(data, channels=channels, ratio=r,
                                              dct_method=_ACCURATE)
                for r in (1, 2, 4, 8)]
    return tf.switch_case(_draft_ratio(shape[0], shape[1], min_size),
                          branches)


def _gray16_to_8bit(image: tf.Tensor) -> tf.Tensor:
  """16-bit grayscale -> 8 bits by its own bit depth (images._to_8bit)."""
  values = tf.cast(image, tf.float64)
  peak = tf.reduce_max(values)
  full_scale = tf.where(peak <= 4095, tf.constant(4095.0, tf.float64),
                        tf.constant(65535.0, tf.float64))
  scaled = tf.clip_by_value(values * (255.0 / full_scale), 0.0, 255.0)
  return tf.cast(tf.round(scaled), tf.uint8)


def _decode_png(data: tf.Tensor, channels: int) -> tf.Tensor:
  padded = _padded(data)
  width, height = _big(padded, 16, 4), _big(padded, 20, 4)
  depth, color_type = tf.unstack(_bytes_at(padded, 24, 2))
  with tf.control_dependencies(_check_size(height, width)):
    gray16 = tf.logical_and(tf.equal(depth, 16), tf.equal(color_type, 0))
    # Pillow opens 16-bit grayscale as I;16 (scaled by images._to_8bit) and
    # any other 16-bit PNG by its high bytes, as libpng's strip_16 does.
    return tf.cond(
        gray16,
        lambda: _to_channels(_gray16_to_8bit(
            tf.io.decode_png(data, channels=1, dtype=tf.uint16)), channels),
        lambda: _to_channels(tf.io.decode_png(data, channels=0), channels))


def decode(data: tf.Tensor, channels: int,
           min_size: Optional[int] = None) -> tf.Tensor:
  """JPEG or PNG bytes -> upright uint8 (H, W, channels), as images.decode.

  Raises (when run): InvalidArgumentError for bytes that are neither JPEG nor
  PNG, a declared size over MAX_PIXELS or under 2 pixels, or a broken file.
  """
  data = tf.convert_to_tensor(data, tf.string)
  is_jpeg = tf.equal(tf.strings.substr(data, 0, 3), _JPEG_MAGIC)
  is_png = tf.equal(tf.strings.substr(data, 0, 8), _PNG_MAGIC)
  known = tf.debugging.Assert(
      tf.logical_or(is_jpeg, is_png),
      ["undecodable image: the bytes are neither JPEG nor PNG"])
  with tf.control_dependencies([known]):
    image = tf.cond(is_jpeg, lambda: _decode_jpeg(data, channels, min_size),
                    lambda: _decode_png(data, channels))
  image = orient(image, exif_orientation(data))
  return tf.ensure_shape(image, [None, None, channels])


def fit(image: tf.Tensor, size: Optional[int], method: str = "resize"
        ) -> tf.Tensor:
  """uint8 (H, W, C) -> (size, size, C), as images.fit_image.

  "resize" stretches to the square; "pad" keeps the aspect ratio (the long
  side becomes `size`, the short side Python-rounded) and centres the image
  on black. The resize is antialiased bilinear (Pillow's BILINEAR).
  """
  if size is None:
    return image
  if method not in FITS:
    raise ValueError(f"fit method {method!r} is not one of {FITS}")
  if method == "resize":
    return tf.ensure_shape(_resize(image, size, size),
                           [size, size, image.shape[-1]])
  shape = tf.shape(image)
  height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
  # ImageOps.contain's sizes; tf.round rounds half to even, as Python does.
  new_height = tf.where(width > height,
                        tf.cast(tf.round(height / width * size), tf.int32),
                        size)
  new_width = tf.where(height > width,
                       tf.cast(tf.round(width / height * size), tf.int32),
                       size)
  resized = _resize(image, new_height, new_width)
  # ImageOps.pad centres with round((size - side) * 0.5).
  top = tf.cast(tf.round(tf.cast(size - new_height, tf.float64) * 0.5),
                tf.int32)
  left = tf.cast(tf.round(tf.cast(size - new_width, tf.float64) * 0.5),
                 tf.int32)
  padded = tf.pad(resized, [[top, size - new_height - top],
                            [left, size - new_width - left], [0, 0]])
  return tf.ensure_shape(padded, [size, size, image.shape[-1]])


# Pillow's resampling works in fixed point with this many fractional bits.
_PRECISION_BITS = 22


def _coefficients(in_size: tf.Tensor, out_size: tf.Tensor):
  """Pillow's bilinear (triangle) filter taps for one axis, in its arithmetic.

  Returns (first, weights): the first input index of each output pixel's
  taps, (out_size,), and the fixed-point weights, (out_size, taps), zero past
  each pixel's last tap. Same double-precision expressions, in the same
  order, as Pillow's precompute_coeffs and normalize_coeffs_8bpc.
  """
  f64 = tf.float64
  scale = tf.cast(in_size, f64) / tf.cast(out_size, f64)
  filter_scale = tf.maximum(scale, 1.0)
  support = filter_scale  # the triangle's support, 1, widened to antialias
  taps = tf.cast(tf.math.ceil(support), tf.int32) * 2 + 1
  center = (tf.cast(tf.range(out_size), f64) + 0.5) * scale
  # C's (int) truncates toward zero; so does a float-to-int cast.
  first = tf.maximum(tf.cast(center - support + 0.5, tf.int32), 0)
  count = tf.minimum(tf.cast(center + support + 0.5, tf.int32),
                     in_size) - first
  tap = tf.range(taps)
  position = tf.cast(first[:, tf.newaxis] + tap, f64)
  distance = tf.abs((position - center[:, tf.newaxis] + 0.5)
                    * (1.0 / filter_scale))
  weights = tf.where(tap < count[:, tf.newaxis],
                     tf.maximum(1.0 - distance, 0.0), 0.0)
  # Summed tap by tap, in Pillow's order: a float sum in another order may
  # differ in the last bit, and so move a rounded weight.
  total = tf.foldl(lambda acc, column: acc + column, tf.transpose(weights),
                   initializer=tf.zeros_like(center))
  weights = tf.where(tf.not_equal(total, 0.0)[:, tf.newaxis],
                     weights / total[:, tf.newaxis], weights)
  fixed = tf.cast(0.5 + weights * (1 << _PRECISION_BITS), tf.int32)
  return first, fixed


def _resample(image: tf.Tensor, axis: int, out_size: tf.Tensor) -> tf.Tensor:
  """One pass of Pillow's two-pass resize along `axis` (1: rows, 0: columns)."""
  in_size = tf.shape(image)[axis]
  first, fixed = _coefficients(in_size, out_size)
  pixels = tf.cast(image, tf.int32)
  last = in_size - 1

  def add_tap(total, tap):
    index = tf.minimum(first + tap, last)
    weight = fixed[:, tap]
    weight = (weight[tf.newaxis, :, tf.newaxis] if axis == 1
              else weight[:, tf.newaxis, tf.newaxis])
    # Integer sums: exact in any order (no overflow: weights sum to 2**22).
    return total + tf.gather(pixels, index, axis=axis) * weight

  shape = tf.tensor_scatter_nd_update(tf.shape(image), [[axis]], [out_size])
  total = tf.foldl(add_tap, tf.range(tf.shape(fixed)[1]),
                   initializer=tf.fill(shape, 1 << (_PRECISION_BITS - 1)))
  return tf.cast(tf.clip_by_value(total // (1 << _PRECISION_BITS), 0, 255),
                 tf.uint8)


def _resize(image: tf.Tensor, height, width) -> tf.Tensor:
  """Pillow's Image.resize(..., BILINEAR) of a uint8 image, to the bit:
  rows first, then columns, each rounded to 8 bits; an axis that keeps its
  size is left alone, as Pillow leaves it."""
  image = tf.cond(tf.equal(tf.shape(image)[1], width), lambda: image,
                  lambda: _resample(image, 1, width))
  return tf.cond(tf.equal(tf.shape(image)[0], height), lambda: image,
                 lambda: _resample(image, 0, height))


def round_trip(image: tf.Tensor, encoding: str) -> tf.Tensor:
  """The stored copy's codec: JPEG (quality 95) is lossy; PNG and raw
  pixels are not."""
  if encoding not in ENCODINGS:
    raise ValueError(f"encoding {encoding!r} is not one of {ENCODINGS}")
  if encoding != "jpeg":
    return image
  channels = image.shape[-1]
  encoded = tf.io.encode_jpeg(image, quality=JPEG_QUALITY)
  return tf.ensure_shape(tf.io.decode_jpeg(encoded, channels=channels),
                         image.shape)


def to_stored(data: tf.Tensor, size: Optional[int], channels: int, fit_method:
              str, encoding: str) -> tf.Tensor:
  """Source file bytes -> the uint8 image the dataset would store for it."""
  image = decode(data, channels, min_size=size)
  return round_trip(fit(image, size, fit_method), encoding)
