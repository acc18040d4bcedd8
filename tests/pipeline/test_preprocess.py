"""to_model_input on real stored images, eagerly and inside Dataset.map."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pipeline import preprocess


@pytest.fixture(scope="module")
def stored_images(tiny_data_dir) -> np.ndarray:
  """First validation images of the tiny gray_96 build, uint8 (N, 96, 96, 1)."""
  builder = tfds.builder("pneumonia_xray/gray_96",
                         data_dir=os.fspath(tiny_data_dir))
  dataset = builder.as_dataset(split="validation").take(8)
  return np.stack([example["image"] for example in tfds.as_numpy(dataset)])


@pytest.mark.parametrize("image_size,channels",
                         [(96, 1), (64, 1), (96, 3), (130, 3)])
def test_eager_equals_dataset_map(stored_images, image_size, channels):
  eager = [preprocess.to_model_input(image, image_size, channels).numpy()
           for image in stored_images]
  dataset = tf.data.Dataset.from_tensor_slices(stored_images).map(
      lambda image: preprocess.to_model_input(image, image_size, channels),
      num_parallel_calls=tf.data.AUTOTUNE)
  mapped = list(dataset.as_numpy_iterator())
  for expected, got in zip(eager, mapped, strict=True):
    np.testing.assert_array_equal(got, expected)


def test_unknown_spatial_shape_in_map_equals_eager(stored_images):
  """Inside tf.data the height and width may be unknown (e.g. gray_original)."""
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(stored_images),
      output_signature=tf.TensorSpec((None, None, 1), tf.uint8))
  for size in (96, 50):
    mapped = dataset.map(
        lambda image, size=size: preprocess.to_model_input(image, size, 1),
        num_parallel_calls=tf.data.AUTOTUNE)
    assert mapped.element_spec.shape == (size, size, 1)
    for image, got in zip(stored_images, mapped.as_numpy_iterator(),
                          strict=True):
      np.testing.assert_array_equal(
          got, preprocess.to_model_input(image, size, 1).numpy())


def test_same_size_keeps_exact_pixels(stored_images):
  got = preprocess.to_model_input(stored_images[0], 96, 1).numpy()
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, stored_images[0] / 255.0, rtol=0, atol=1e-7)


def test_batched_resize_and_gray_to_rgb(stored_images):
  got = preprocess.to_model_input(stored_images, 64, 3).numpy()
  assert got.shape == (len(stored_images), 64, 64, 3)
  assert got.dtype == np.float32
  assert 0.0 <= got.min() and got.max() <= 1.0
  np.testing.assert_array_equal(got[..., 0], got[..., 1])
  np.testing.assert_array_equal(got[..., 0], got[..., 2])
  # Batched and one at a time agree.
  single = preprocess.to_model_input(stored_images[3], 64, 3).numpy()
  np.testing.assert_allclose(got[3], single, atol=1e-6)


def test_rgb_to_gray_round_trip(stored_images):
  rgb = np.repeat(stored_images[0], 3, axis=-1)
  gray = preprocess.to_model_input(rgb, 96, 1).numpy()
  assert gray.shape == (96, 96, 1)
  # tf.image.rgb_to_grayscale's ITU-R 601 weights sum to 0.9999.
  np.testing.assert_allclose(gray, stored_images[0] / 255.0, atol=2e-4)


@pytest.mark.parametrize("shape,image_size,channels", [
    ((96, 96, 1), 96, 2),
    ((96, 96, 2), 96, 1),
    ((96, 96), 96, 1),
    ((96, 96, 1), 0, 1),
])
def test_bad_arguments_raise(shape, image_size, channels):
  with pytest.raises(ValueError):
    preprocess.to_model_input(np.zeros(shape, np.uint8), image_size, channels)
