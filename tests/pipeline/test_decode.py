"""pipeline.decode (TensorFlow ops) against pneumonia_tfds.images (Pillow):
the same stored pixels for the same file, to the bit, on the shared
originals and on files made to exercise each step."""

import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from pipeline import decode
from pneumonia_tfds import images
from tests import conftest


def _originals(shared_data, every: int = 1) -> list:
  return conftest.shared_originals(shared_data)[::every]


def _pillow_stored(data: bytes, size, channels, fit, encoding) -> np.ndarray:
  """The build's stored image, decoded as TFDS decodes it."""
  stored = images.process(data, size, channels, fit, encoding)
  return tf.io.decode_image(stored, channels=channels).numpy()


def _graph(size, channels, fit, encoding):
  return tf.function(
      lambda data: decode.to_stored(data, size, channels, fit, encoding),
      input_signature=[tf.TensorSpec([], tf.string)])


def _different_pixels(paths, size, channels, fit, encoding) -> list[str]:
  to_stored = _graph(size, channels, fit, encoding)
  different = []
  for path in paths:
    data = path.read_bytes()
    expected = _pillow_stored(data, size, channels, fit, encoding)
    actual = to_stored(tf.constant(data)).numpy()
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
      different.append(path.name)
  return different


def test_every_shared_original_gets_the_builds_pixels(shared_data):
  paths = _originals(shared_data)
  assert len(paths) == 432
  assert _different_pixels(paths, 204, 1, "resize", "jpeg") == []  # gray_204


@pytest.mark.parametrize("size,channels,fit,encoding", [
    (224, 3, "pad", "png"),       # RGB, aspect kept, lossless
    (96, 1, "resize", "jpeg"),    # a JPEG decoded at 1/8 scale
    (None, 1, "resize", "png"),   # original resolution: no draft, no fit
    (224, 1, "resize", "jpeg"),   # chest_xray_small's side
])
def test_other_geometries_on_a_sample(shared_data, size, channels, fit,
                                      encoding):
  paths = _originals(shared_data, every=18)
  assert _different_pixels(paths, size, channels, fit, encoding) == []


def _film(shared_data) -> Image.Image:
  """A real film, small and not square (orientation must show)."""
  path = sorted((shared_data / "chest_xray" / "test" / "NORMAL").iterdir())[0]
  image = Image.open(path).convert("L")
  return image.resize((image.width // 8, image.height // 10))


def _with_orientation(image: Image.Image, orientation: int,
                      file_format: str) -> bytes:
  exif = Image.Exif()
  exif[0x0112] = orientation
  buffer = io.BytesIO()
  image.save(buffer, format=file_format, exif=exif.tobytes())
  return buffer.getvalue()


@pytest.mark.parametrize("file_format", ["JPEG", "PNG"])
def test_exif_orientation_turns_the_image_as_pillow_does(shared_data,
                                                         file_format):
  film = _film(shared_data)
  for orientation in range(1, 9):
    data = _with_orientation(film, orientation, file_format)
    assert decode.exif_orientation(tf.constant(data)).numpy() == orientation
    expected = np.asarray(images.decode(data, 1))[..., np.newaxis]
    actual = decode.decode(tf.constant(data), 1).numpy()
    assert actual.shape == expected.shape, orientation
    np.testing.assert_array_equal(actual, expected, err_msg=str(orientation))
  # 5-8 swap the sides.
  turned = decode.decode(tf.constant(_with_orientation(film, 6, file_format)),
                         1)
  assert turned.shape[:2] == (film.width, film.height)


def test_no_exif_means_upright(shared_data):
  buffer = io.BytesIO()
  _film(shared_data).save(buffer, format="JPEG")
  assert decode.exif_orientation(tf.constant(buffer.getvalue())).numpy() == 1


def _png(array: np.ndarray, mode: str = None) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array, mode).save(buffer, format="PNG")
  return buffer.getvalue()


@pytest.mark.parametrize("channels", [1, 3])
def test_alpha_over_black_and_grayscale_use_pillows_integers(channels):
  # Every (value, alpha) pair, in the colour channels and in gray.
  value, alpha = np.meshgrid(np.arange(256, dtype=np.uint8),
                             np.arange(256, dtype=np.uint8))
  rng = np.random.default_rng(0)
  rgba = np.stack([value, rng.integers(0, 256, value.shape, np.uint8),
                   value[::-1], alpha], axis=-1).astype(np.uint8)
  cases = {"RGBA": _png(rgba), "LA": _png(np.stack([value, alpha], -1), "LA"),
           "RGB": _png(rgba[..., :3])}
  for name, data in cases.items():
    expected = np.asarray(images.decode(data, channels))
    expected = expected[..., np.newaxis] if expected.ndim == 2 else expected
    actual = decode.decode(tf.constant(data), channels).numpy()
    np.testing.assert_array_equal(actual, expected, err_msg=name)


@pytest.mark.parametrize("peak", [4095, 65535])
def test_16_bit_grayscale_png_is_scaled_by_its_bit_depth(peak):
  rng = np.random.default_rng(peak)
  array = rng.integers(0, peak + 1, (40, 50)).astype(np.uint16)
  array[0, 0] = peak
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  data = buffer.getvalue()
  expected = np.asarray(images.decode(data, 1))[..., np.newaxis]
  np.testing.assert_array_equal(decode.decode(tf.constant(data), 1).numpy(),
                                expected)


@pytest.mark.parametrize("shape,size", [
    ((300, 7), 204), ((5, 5), 204), ((1000, 999), 96), ((205, 203), 204),
    ((3001, 2999), 224), ((204, 300), 204)])
def test_resize_is_pillows_bilinear_to_the_bit(shape, size):
  rng = np.random.default_rng(sum(shape))
  array = rng.integers(0, 256, shape + (3,), np.uint8)
  expected = np.asarray(Image.fromarray(array).resize(
      (size, size), Image.Resampling.BILINEAR))
  actual = decode.fit(tf.constant(array), size, "resize").numpy()
  np.testing.assert_array_equal(actual, expected)


def test_neither_jpeg_nor_png_is_refused():
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="neither JPEG nor PNG"):
    decode.decode(tf.constant(b"GIF89a not a film"), 1)


def test_a_bomb_header_is_refused_before_decoding():
  data = bytearray(_png(np.zeros((4, 4), np.uint8)))
  data[16:24] = (40000).to_bytes(4, "big") * 2  # IHDR: 40000 x 40000
  with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
    decode.decode(tf.constant(bytes(data)), 1)


def test_palette_transparent_and_1_bit_pngs_match():
  rng = np.random.default_rng(1)
  indices = rng.integers(0, 16, (30, 40)).astype(np.uint8)
  palette = Image.fromarray(indices, "P")
  palette.putpalette([int(v) for v in rng.integers(0, 256, 48)])
  cases = {}
  for name, options in (("palette", {}), ("one transparent", {
      "transparency": 3}), ("alpha per entry", {
          "transparency": bytes(range(0, 256, 16))})):
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", **options)
    cases[name] = buffer.getvalue()
  cases["1 bit"] = _png(indices > 7)
  for name, data in cases.items():
    for channels in (1, 3):
      expected = np.asarray(images.decode(data, channels))
      expected = expected[..., np.newaxis] if expected.ndim == 2 else expected
      np.testing.assert_array_equal(
          decode.decode(tf.constant(data), channels).numpy(), expected,
          err_msg=f"{name}, {channels} channel(s)")
