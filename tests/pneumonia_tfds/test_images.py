"""images: decoding and fitting the awkward real files the sources hold."""

import io

import numpy as np
from PIL import Image
import pytest

from pneumonia_tfds import images

PNG_NAMED_JPG = "covid-chestxray-dataset/images/000001.jpg"  # PNG, RGBA.
UPPER_CASE_PNG = "covid-chestxray-dataset/images/16745_2_1.PNG"  # PNG, RGBA.
RGB_JPEG = "chest_xray/train/PNEUMONIA/person1_bacteria_1.jpeg"  # 712x439.
# 1344x864, progressive.
PROGRESSIVE_JPEG = "chest_xray/test/PNEUMONIA/person47_virus_99.jpeg"
GRAY_JPEG = "chest_xray/test/NORMAL/IM-0001-0001.jpeg"
ALL_FILES = (PNG_NAMED_JPG, UPPER_CASE_PNG, RGB_JPEG, PROGRESSIVE_JPEG,
             GRAY_JPEG)


def _read(shared_data, relative_path):
  return (shared_data / relative_path).read_bytes()


def test_the_awkward_files_are_what_the_readme_says(shared_data):
  # Guards the premise of the tests below: if the data changed, they would
  # pass without exercising the awkward cases.
  expected = {PNG_NAMED_JPG: ("PNG", "RGBA"), UPPER_CASE_PNG: ("PNG", "RGBA"),
              RGB_JPEG: ("JPEG", "RGB"), PROGRESSIVE_JPEG: ("JPEG", "L"),
              GRAY_JPEG: ("JPEG", "L")}
  for relative_path, (image_format, mode) in expected.items():
    with Image.open(shared_data / relative_path) as image:
      assert (image.format, image.mode) == (image_format, mode), relative_path
  with Image.open(shared_data / PROGRESSIVE_JPEG) as image:
    assert image.info.get("progressive")


@pytest.mark.parametrize("relative_path", ALL_FILES)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("method", images.FIT_METHODS)
def test_load_fitted_shape_and_dtype(shared_data, relative_path, channels,
                                     method):
  array = images.load_fitted(_read(shared_data, relative_path), 96, channels,
                             method)
  assert array.shape == (96, 96, channels)
  assert array.dtype == np.uint8
  assert array.max() > array.min()  # An X-ray, not a blank square.


@pytest.mark.parametrize("relative_path", ALL_FILES)
def test_rgb_of_a_gray_x_ray_is_gray(shared_data, relative_path):
  # All these X-rays are gray pictures whatever their storage mode, so the
  # three channels must carry the same picture as the grayscale decode.
  data = _read(shared_data, relative_path)
  rgb = images.load_fitted(data, 64, 3).astype(int)
  gray = images.load_fitted(data, 64, 1).astype(int)
  assert np.abs(rgb - gray).mean() < 2


def test_load_fitted_keeps_original_resolution_without_size(shared_data):
  array = images.load_fitted(_read(shared_data, RGB_JPEG), None, 1)
  assert array.shape == (439, 712, 1)


@pytest.mark.parametrize("relative_path", [RGB_JPEG, PROGRESSIVE_JPEG])
@pytest.mark.parametrize("min_size", [8, 64, 204, 300, 439, 500])
@pytest.mark.parametrize("channels", [1, 3])
def test_reduced_size_decode_keeps_both_sides_at_least_min_size(
    shared_data, relative_path, min_size, channels):
  data = _read(shared_data, relative_path)
  with Image.open(io.BytesIO(data)) as original:
    original_size = original.size
  decoded = images.decode(data, channels, min_size=min_size)
  assert decoded.mode == ("L" if channels == 1 else "RGB")
  # A side shorter than min_size to begin with can only stay as it is.
  for side, original_side in zip(decoded.size, original_size):
    assert min(min_size, original_side) <= side <= original_side


@pytest.mark.parametrize("relative_path", [RGB_JPEG, PROGRESSIVE_JPEG])
def test_reduced_size_decode_gives_nearly_the_full_decode_pixels(shared_data,
                                                                 relative_path):
  # A reduced decode must be a faster route to the same fitted picture.
  data = _read(shared_data, relative_path)
  reduced = images.load_fitted(data, 204, 1).astype(int)
  full = np.asarray(images.fit_image(images.decode(data, 1), 204)).astype(int)
  assert np.abs(reduced[..., 0] - full).mean() < 2


@pytest.mark.parametrize("channels", [1, 3])
def test_pad_keeps_black_borders_for_a_landscape_image(shared_data, channels):
  # 712x439 fitted into 204x204 keeps 204x126 of picture: 39 rows of
  # padding above and below it.
  array = images.load_fitted(_read(shared_data, RGB_JPEG), 204, channels, "pad")
  assert array.shape == (204, 204, channels)
  assert not array[:38].any()
  assert not array[-38:].any()
  rows_with_picture = np.flatnonzero(array.any(axis=(1, 2)))
  assert 120 <= len(rows_with_picture) <= 128
  # The picture spans the full width: padding is only top and bottom.
  assert array[102].any(axis=-1).sum() > 150


def test_resize_stretches_to_the_full_square(shared_data):
  array = images.load_fitted(_read(shared_data, RGB_JPEG), 204, 1, "resize")
  assert array[:10].any()
  assert array[-10:].any()


def test_transparent_pixels_become_black():
  # A screenshot-style RGBA PNG: transparent parts are the X-ray background.
  rgba = np.zeros((20, 20, 4), dtype=np.uint8)
  rgba[..., :3] = 255
  rgba[:10, :, 3] = 255
  buffer = io.BytesIO()
  Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
  array = images.load_fitted(buffer.getvalue(), None, 1)
  assert (array[:10] == 255).all()
  assert (array[10:] == 0).all()


@pytest.mark.parametrize("data", [
    b"", b"not an image at all" * 100, b"\x89PNG\r\n\x1a\n" + b"\x00" * 50,
    b"\xff\xd8\xff" + b"\x00" * 100,
])
def test_non_image_bytes_raise_image_error(data):
  with pytest.raises(images.ImageError):
    images.decode(data, 1)
  with pytest.raises(images.ImageError):
    images.load_fitted(data, 64, 3)


@pytest.mark.parametrize("relative_path", [RGB_JPEG, PROGRESSIVE_JPEG,
                                           GRAY_JPEG, PNG_NAMED_JPG])
@pytest.mark.parametrize("fraction", [0.3, 0.9])
@pytest.mark.parametrize("size", [None, 96])
def test_truncated_files_raise_image_error(shared_data, relative_path, fraction,
                                           size):
  data = _read(shared_data, relative_path)
  with pytest.raises(images.ImageError):
    images.load_fitted(data[:int(len(data) * fraction)], size, 1)


def test_image_error_is_a_value_error():
  # Callers that treat bad input generically catch ValueError.
  assert issubclass(images.ImageError, ValueError)


def test_over_max_pixels_is_refused_from_the_header(monkeypatch, shared_data):
  monkeypatch.setattr(images, "MAX_PIXELS", 1000)
  with pytest.raises(images.ImageError, match="pixel limit"):
    images.decode(_read(shared_data, GRAY_JPEG), 1)


@pytest.mark.parametrize("relative_path", ALL_FILES)
def test_same_file_gives_identical_results(shared_data, relative_path):
  data = _read(shared_data, relative_path)
  first = images.load_fitted(data, 204, 1)
  second = images.load_fitted(data, 204, 1)
  np.testing.assert_array_equal(first, second)
  assert (images.process(data, 204, 1, "resize", "jpeg") ==
          images.process(data, 204, 1, "resize", "jpeg"))


def test_process_encodes_what_load_fitted_returns(shared_data):
  # The stored PNG example must hold exactly the pixels prediction computes.
  data = _read(shared_data, PNG_NAMED_JPG)
  stored = images.process(data, 96, 1, "pad", "png")
  with Image.open(io.BytesIO(stored)) as image:
    assert image.format == "PNG"
    np.testing.assert_array_equal(np.asarray(image)[..., np.newaxis],
                                  images.load_fitted(data, 96, 1, "pad"))


def test_bad_fit_method_and_encoding_raise_value_error(shared_data):
  data = _read(shared_data, GRAY_JPEG)
  with pytest.raises(ValueError):
    images.load_fitted(data, 64, 1, "crop")
  with pytest.raises(ValueError):
    images.process(data, 64, 1, "resize", "webp")
