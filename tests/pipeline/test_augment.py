"""augment: deterministic per seed, keeps shape and range, map == eager."""

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pipeline import augment
from pipeline import preprocess

SEED = tf.constant([7, 11], tf.int64)


@pytest.fixture(scope="module")
def images(tiny_data_dir) -> np.ndarray:
  """Four real validation images as model input, float32 (4, 96, 96, 1)."""
  builder = tfds.builder("pneumonia_xray/gray_96",
                         data_dir=os.fspath(tiny_data_dir))
  dataset = builder.as_dataset(split="validation").take(4)
  return np.stack([preprocess.to_model_input(example["image"], 96, 1).numpy()
                   for example in tfds.as_numpy(dataset)])


def test_deterministic_for_a_seed_and_different_across_seeds(images):
  config = augment.AugmentConfig()
  first = augment.augment(images[0], config, SEED).numpy()
  again = augment.augment(images[0], config, SEED).numpy()
  other = augment.augment(images[0], config, tf.constant([7, 12])).numpy()
  np.testing.assert_array_equal(first, again)
  assert np.abs(first - other).mean() > 1e-3
  assert np.abs(first - images[0]).mean() > 1e-3


def test_eager_equals_dataset_map(images):
  config = augment.AugmentConfig(horizontal_flip=True)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2)
  eager = [augment.augment(image, config, seed).numpy()
           for image, seed in zip(images, seeds)]
  dataset = tf.data.Dataset.from_tensor_slices((images, seeds)).map(
      lambda image, seed: augment.augment(image, config, seed),
      num_parallel_calls=tf.data.AUTOTUNE)
  for expected, got in zip(eager, dataset.as_numpy_iterator(), strict=True):
    np.testing.assert_array_equal(got, expected)


def test_batch_equals_each_image_by_its_seed(images):
  config = augment.AugmentConfig(horizontal_flip=True)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2) * 7919
  one_by_one = np.stack([augment.augment(image, config, seed).numpy()
                         for image, seed in zip(images, seeds)])
  # The input pipeline's way: seeds paired per example, then batched.
  batches = tf.data.Dataset.from_tensor_slices((images, seeds)).batch(3).map(
      lambda batch, batch_seeds: augment.augment_batch(batch, config,
                                                       batch_seeds))
  np.testing.assert_array_equal(
      np.concatenate(list(batches.as_numpy_iterator())), one_by_one)


GEOMETRY_ONLY = dict(rotation_degrees=20.0, shift_fraction=0.15,
                     zoom_fraction=0.3, brightness=0.0, contrast=0.0)


def _raw_op_reference(images, config, seeds) -> np.ndarray:
  """The geometry as augment drew it before keras.ops: the raw TF op, with
  each image's transform from the seed augment splits off for geometry."""
  height, width = images.shape[1:3]
  transforms = tf.concat([
      augment.affine_transform(height, width, config,
                               tf.random.experimental.stateless_split(
                                   tf.constant(seed, tf.int64), num=4)[0])
      for seed in seeds], axis=0)
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=(height, width),
      fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST").numpy()


def test_geometry_equals_the_raw_projective_transform(images):
  config = augment.AugmentConfig(**GEOMETRY_ONLY)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2) * 104729
  expected = _raw_op_reference(images, config, seeds)
  assert np.abs(expected - images).mean() > 1e-3  # it did move pixels
  eager = augment.augment_batch(images, config, seeds).numpy()
  # Graph mode, as the input pipeline runs it.
  mapped = tf.data.Dataset.from_tensors((images, seeds)).map(
      lambda batch, batch_seeds: augment.augment_batch(batch, config,
                                                       batch_seeds))
  # Keras's TF backend runs the same kernel on the same transforms: equal, not
  # merely close.
  np.testing.assert_array_equal(eager, expected)
  np.testing.assert_array_equal(next(mapped.as_numpy_iterator()), expected)


def test_one_transform_kernel_per_batch():
  config = augment.AugmentConfig()
  graph = tf.function(
      lambda batch, seeds: augment.augment_batch(batch, config, seeds)
  ).get_concrete_function(
      tf.TensorSpec((None, 96, 96, 1), tf.float32),
      tf.TensorSpec((None, 2), tf.int64)).graph.as_graph_def()
  is_transform = lambda node: node.op.startswith("ImageProjectiveTransform")
  at_top = sum(map(is_transform, graph.node))
  in_loops = sum(is_transform(node) for function in graph.library.function
                 for node in function.node_def)
  # One op outside the per-image map_fn loop, so one kernel launch per batch.
  assert (at_top, in_loops) == (1, 0)


@pytest.mark.parametrize("field, tf_image_op", [
    ("brightness", lambda image, seed: tf.image.stateless_random_brightness(
        image, 0.3, seed)),
    ("contrast", lambda image, seed: tf.image.stateless_random_contrast(
        image, 0.7, 1.3, seed)),
])
def test_photometric_changes_are_tf_images(images, field, tf_image_op):
  # Only `field` on; its seed is the one augment splits off for it.
  off = dict(rotation_degrees=0.0, shift_fraction=0.0, zoom_fraction=0.0,
             brightness=0.0, contrast=0.0)
  config = augment.AugmentConfig(**{**off, field: 0.3})
  field_seed = tf.random.experimental.stateless_split(
      tf.constant(SEED, tf.int64), num=4)[("brightness", "contrast").index(
          field) + 1]
  expected = tf.clip_by_value(tf_image_op(images[1], field_seed), 0.0, 1.0)
  np.testing.assert_allclose(augment.augment(images[1], config, SEED),
                             expected, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_keeps_shape_dtype_and_range(images, channels):
  image = np.repeat(images[1], channels, axis=-1)
  config = augment.AugmentConfig(rotation_degrees=20, shift_fraction=0.2,
                                 zoom_fraction=0.3, brightness=0.5,
                                 contrast=0.5, horizontal_flip=True)
  for seed in range(5):
    got = augment.augment(image, config, tf.constant([seed, 0])).numpy()
    assert got.shape == image.shape
    assert got.dtype == np.float32
    assert got.min() >= 0.0 and got.max() <= 1.0


def test_all_off_is_identity(images):
  config = augment.AugmentConfig(rotation_degrees=0, shift_fraction=0,
                                 zoom_fraction=0, brightness=0, contrast=0)
  np.testing.assert_array_equal(
      augment.augment(images[2], config, SEED).numpy(), images[2])


def test_flip_only_gives_image_or_mirror(images):
  config = augment.AugmentConfig(rotation_degrees=0, shift_fraction=0,
                                 zoom_fraction=0, brightness=0, contrast=0,
                                 horizontal_flip=True)
  outcomes = set()
  for seed in range(8):
    got = augment.augment(images[0], config, tf.constant([seed, 1])).numpy()
    if np.array_equal(got, images[0]):
      outcomes.add("same")
    else:
      np.testing.assert_array_equal(got, images[0][:, ::-1])
      outcomes.add("mirror")
  assert outcomes == {"same", "mirror"}


def test_shift_only_transform_is_a_translation():
  config = augment.AugmentConfig(rotation_degrees=0, shift_fraction=0.1,
                                 zoom_fraction=0, brightness=0, contrast=0)
  transform = augment.affine_transform(96, 80, config, SEED).numpy()[0]
  np.testing.assert_allclose(transform[[0, 1, 3, 4, 6, 7]],
                             [1, 0, 0, 1, 0, 0], atol=1e-6)
  assert abs(transform[2]) <= 0.1 * 80 + 1e-4  # x: width
  assert abs(transform[5]) <= 0.1 * 96 + 1e-4  # y: height
  assert np.abs(transform[[2, 5]]).min() > 0


def test_rotation_and_zoom_keep_the_center_fixed():
  config = augment.AugmentConfig(rotation_degrees=30, shift_fraction=0,
                                 zoom_fraction=0.5)
  a0, a1, a2, b0, b1, b2, _, _ = augment.affine_transform(
      96, 80, config, SEED).numpy()[0]
  center_x, center_y = (80 - 1) / 2, (96 - 1) / 2
  np.testing.assert_allclose(
      [a0 * center_x + a1 * center_y + a2, b0 * center_x + b1 * center_y + b2],
      [center_x, center_y], atol=1e-4)
  assert abs(a1) > 1e-3  # rotated
  np.testing.assert_allclose(a0, b1, atol=1e-6)
  np.testing.assert_allclose(a1, -b0, atol=1e-6)


@pytest.mark.parametrize("field,value", [
    ("rotation_degrees", -1.0), ("rotation_degrees", 180.0),
    ("shift_fraction", 1.0), ("zoom_fraction", -0.1), ("zoom_fraction", 1.0),
    ("brightness", 1.5), ("contrast", -0.2), ("horizontal_flip", "yes"),
])
def test_bad_config_raises(field, value):
  with pytest.raises(ValueError, match=field):
    augment.AugmentConfig(**{field: value})


def test_rejects_wrong_rank_and_uint8(images):
  with pytest.raises(ValueError):
    augment.augment(images, augment.AugmentConfig(), SEED)
  with pytest.raises(ValueError, match="batch"):
    augment.augment_batch(images[0], augment.AugmentConfig(), [SEED])
  with pytest.raises(ValueError):
    augment.augment(np.zeros((8, 8, 1), np.uint8), augment.AugmentConfig(),
                    SEED)
