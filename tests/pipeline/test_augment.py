"""augment: deterministic per seed, keeps shape and range, map == eager ==
XLA for the device path; the pixel path does what it says and, off, leaves
the other changes as they are."""

import os

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pipeline import augment
from pipeline import preprocess

SEED = tf.constant([7, 11], tf.int64)
# The pixel path (downscale, sharpen, JPEG) off; the old changes as given.
PIXEL_PATH_OFF = dict(downscale=0.0, sharpen=0.0, jpeg_min_quality=0)
# Everything off but what a test turns on.
ALL_OFF = dict(rotation_degrees=0.0, shift_fraction=0.0, zoom_fraction=0.0,
               brightness=0.0, contrast=0.0, **PIXEL_PATH_OFF)


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


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("overrides", [
    dict(horizontal_flip=True),
    dict(downscale=2.0, sharpen=0.9, jpeg_min_quality=10),
])
def test_batch_equals_each_image_by_its_seed(images, channels, overrides):
  images = np.repeat(images, channels, axis=-1)
  config = augment.AugmentConfig(**overrides)
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
                     zoom_fraction=0.3, brightness=0.0, contrast=0.0,
                     **PIXEL_PATH_OFF)


def _raw_op_reference(images, config, seeds) -> np.ndarray:
  """The geometry through the raw TF op, with each image's transform as
  batch_draws draws it from its seed."""
  height, width = images.shape[1:3]
  transforms = augment.batch_draws(config, height, width, seeds)[0]
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
    ("brightness", tf.image.adjust_brightness),
    ("contrast", tf.image.adjust_contrast),
])
def test_photometric_changes_are_tf_images(images, field, tf_image_op):
  # Only `field` on; its amount is the one batch_draws draws for the seed.
  config = augment.AugmentConfig(**{**ALL_OFF, field: 0.3})
  _, deltas, factors, _ = augment.batch_draws(config, 96, 96, SEED[None])
  amount = (deltas if field == "brightness" else factors)[0]
  expected = tf.clip_by_value(tf_image_op(images[1], amount), 0.0, 1.0)
  np.testing.assert_allclose(augment.augment(images[1], config, SEED),
                             expected, atol=1e-6)


def test_uniforms_are_the_same_bits_eager_in_tf_data_and_under_xla():
  seeds = tf.constant(np.arange(64, dtype=np.int64).reshape(-1, 2) * 7919 - 99)
  eager = augment.uniforms(seeds, 7).numpy()
  mapped = next(tf.data.Dataset.from_tensors(seeds).map(
      lambda s: augment.uniforms(s, 7)).as_numpy_iterator())
  compiled = tf.function(lambda s: augment.uniforms(s, 7),
                         jit_compile=True)(seeds).numpy()
  np.testing.assert_array_equal(mapped, eager)
  np.testing.assert_array_equal(compiled, eager)
  # One seed's draws do not depend on the others in its batch.
  np.testing.assert_array_equal(augment.uniforms(seeds[5:6], 7).numpy(),
                                eager[5:6])


def test_uniforms_are_uniform_and_independent():
  rng = np.random.default_rng(0)
  seeds = rng.integers(-2**62, 2**62, size=(20000, 2), dtype=np.int64)
  draws = augment.uniforms(seeds, 7).numpy()
  assert draws.min() >= 0.0 and draws.max() < 1.0
  # Mean 1/2 and variance 1/12 per draw, to 5 standard errors.
  np.testing.assert_allclose(draws.mean(axis=0), 0.5, atol=5 * 0.289 / 141)
  np.testing.assert_allclose(draws.var(axis=0), 1 / 12, atol=0.004)
  for column in range(7):
    counts = np.histogram(draws[:, column], bins=10, range=(0, 1))[0]
    assert scipy.stats.chisquare(counts).pvalue > 1e-4
  correlations = np.corrcoef(draws.T)[np.triu_indices(7, 1)]
  assert np.abs(correlations).max() < 0.04
  # Neighbouring seeds (as counters would give) are as unrelated.
  neighbours = augment.uniforms(
      np.stack([np.arange(20000), np.zeros(20000)], 1).astype(np.int64), 1)
  assert abs(np.corrcoef(neighbours.numpy()[:-1, 0],
                         neighbours.numpy()[1:, 0])[0, 1]) < 0.04


def test_gather_warp_is_the_transform_kernel(images):
  config = augment.AugmentConfig(**GEOMETRY_ONLY)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2) * 104729
  transforms = augment.batch_draws(config, 96, 96, seeds)[0]
  expected = _raw_op_reference(images, config, seeds)
  np.testing.assert_allclose(augment.warp(images, transforms), expected,
                             atol=1e-6)
  # Far outside the image: every output pixel repeats an edge pixel.
  away = tf.constant([[1, 0, 500, 0, 1, -500, 0, 0]] * 4, tf.float32)
  np.testing.assert_allclose(
      augment.warp(images, away),
      tf.raw_ops.ImageProjectiveTransformV3(
          images=images, transforms=away, output_shape=(96, 96),
          fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST"),
      atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_device_path_compiles_with_xla_and_matches_the_host(images, channels):
  images = np.repeat(images, channels, axis=-1)
  config = augment.AugmentConfig(rotation_degrees=20.0, shift_fraction=0.15,
                                 zoom_fraction=0.3, brightness=0.3,
                                 contrast=0.4, horizontal_flip=True)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2) * 31337
  host = augment.augment_batch(images, config, seeds).numpy()
  remade = augment.pixel_path_batch(images, config, seeds)
  device = tf.function(
      lambda batch, batch_seeds: augment.transform_batch(
          batch, config, batch_seeds, warp_with="gather"),
      jit_compile=True)(remade, seeds).numpy()
  # XLA's sin, cos and fused arithmetic differ from the host's in the last
  # bits of a transform; a pixel moves by far less than one grey level.
  np.testing.assert_allclose(device, host, atol=2e-4)
  assert np.abs(device - host).mean() < 1e-5


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("pixel_path", [
    PIXEL_PATH_OFF, dict(downscale=2.5, sharpen=0.9, jpeg_min_quality=5),
    dict(downscale=2.5, sharpen=0.9, jpeg_min_quality=0),
])
def test_keeps_shape_dtype_and_range(images, channels, pixel_path):
  image = np.repeat(images[1], channels, axis=-1)
  config = augment.AugmentConfig(rotation_degrees=20, shift_fraction=0.2,
                                 zoom_fraction=0.3, brightness=0.5,
                                 contrast=0.5, horizontal_flip=True,
                                 **pixel_path)
  for seed in range(5):
    got = augment.augment(image, config, tf.constant([seed, 0])).numpy()
    assert got.shape == image.shape
    assert got.dtype == np.float32
    assert got.min() >= 0.0 and got.max() <= 1.0


@pytest.mark.parametrize("channels", [1, 3])
def test_graph_keeps_the_static_shape(channels):
  config = augment.AugmentConfig(sharpen=0.5, jpeg_min_quality=50)
  graph = tf.function(
      lambda batch, seeds: augment.augment_batch(batch, config, seeds)
  ).get_concrete_function(tf.TensorSpec((None, 64, 48, channels), tf.float32),
                          tf.TensorSpec((None, 2), tf.int64))
  assert graph.structured_outputs.shape.as_list() == [None, 64, 48, channels]


def test_all_off_is_identity(images):
  config = augment.AugmentConfig(**ALL_OFF)
  np.testing.assert_array_equal(
      augment.augment(images[2], config, SEED).numpy(), images[2])


def test_flip_only_gives_image_or_mirror(images):
  config = augment.AugmentConfig(**ALL_OFF, horizontal_flip=True)
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
    ("downscale", -0.5), ("downscale", 3.0), ("sharpen", -0.1),
    ("sharpen", 1.0), ("jpeg_min_quality", -1), ("jpeg_min_quality", 101),
    ("jpeg_min_quality", 50.5), ("jpeg_min_quality", True),
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
  # JPEG holds 1 or 3 channels; without it, any count goes.
  two_channels = np.zeros((8, 8, 2), np.float32)
  with pytest.raises(ValueError, match="jpeg_min_quality"):
    augment.augment(two_channels, augment.AugmentConfig(), SEED)
  assert augment.augment(two_channels, augment.AugmentConfig(
      jpeg_min_quality=0), SEED).shape == two_channels.shape


def _without_pixel_path(images, config, seeds) -> np.ndarray:
  """augment_batch without the pixel path, step by step: geometry (the raw
  op), brightness, contrast, flip and clip, each from batch_draws."""
  _, deltas, factors, flips = augment.batch_draws(config, *images.shape[1:3],
                                                  seeds)
  per_image = lambda values: tf.reshape(values, (-1, 1, 1, 1))
  images = _raw_op_reference(images, config, seeds) + per_image(deltas)
  means = tf.reduce_mean(images, axis=(1, 2), keepdims=True)
  images = (images - means) * per_image(factors) + means
  images = tf.where(per_image(flips), tf.reverse(images, axis=[2]), images)
  return tf.clip_by_value(images, 0.0, 1.0).numpy()


def test_pixel_path_off_is_the_batch_changes_alone(images):
  # Its draws come from another stream: the other draws, bit for bit.
  config = augment.AugmentConfig(rotation_degrees=20.0, shift_fraction=0.15,
                                 zoom_fraction=0.3, brightness=0.3,
                                 contrast=0.4, horizontal_flip=True,
                                 **PIXEL_PATH_OFF)
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2) * 31337
  expected = _without_pixel_path(images, config, seeds)
  np.testing.assert_array_equal(
      augment.augment_batch(images, config, seeds).numpy(), expected)
  mapped = tf.data.Dataset.from_tensors((images, seeds)).map(
      lambda batch, batch_seeds: augment.augment_batch(batch, config,
                                                       batch_seeds))
  np.testing.assert_array_equal(next(mapped.as_numpy_iterator()), expected)


@pytest.mark.parametrize("field, value", [
    ("downscale", 1.0), ("sharpen", 0.5), ("jpeg_min_quality", 60)])
def test_each_pixel_path_field_changes_the_output(images, field, value):
  seeds = np.arange(2 * len(images), dtype=np.int64).reshape(-1, 2)
  off = augment.AugmentConfig(**PIXEL_PATH_OFF)
  on = augment.AugmentConfig(**{**PIXEL_PATH_OFF, field: value})
  changed = (augment.augment_batch(images, on, seeds).numpy() -
             augment.augment_batch(images, off, seeds).numpy())
  assert np.abs(changed).mean() > 1e-3


def test_pixel_path_draws_are_in_range_and_their_own():
  config = augment.AugmentConfig(downscale=1.5, sharpen=0.4,
                                 jpeg_min_quality=95)
  draws = [augment.pixel_path_draws(config, tf.constant([seed, 5], tf.int64))
           for seed in range(200)]
  factors = np.array([d.factor for d in draws])
  amounts = np.array([d.sharpen for d in draws])
  qualities = {int(d.jpeg_quality) for d in draws}
  assert 1.0 <= factors.min() and factors.max() <= 2.5
  assert -0.4 <= amounts.min() < 0 < amounts.max() <= 0.4
  assert qualities == set(range(95, 101))  # 100 included
  assert ({int(d.downscale_method) for d in draws} ==
          set(range(len(augment.DOWNSCALE_METHODS))))
  assert ({int(d.upscale_method) for d in draws} ==
          set(range(len(augment.UPSCALE_METHODS))))
  # A field's draw does not move when another field changes.
  other = augment.pixel_path_draws(
      augment.AugmentConfig(downscale=1.5, sharpen=0.0, jpeg_min_quality=0),
      tf.constant([0, 5], tf.int64))
  assert (float(other.factor), int(other.downscale_method)) == (
      float(draws[0].factor), int(draws[0].downscale_method))


def _high_frequency_share(image) -> float:
  """The share of the spectrum's energy above half the Nyquist frequency."""
  power = np.abs(np.fft.fft2(np.asarray(image)[..., 0])) ** 2
  fy = np.fft.fftfreq(power.shape[0])[:, np.newaxis]
  fx = np.fft.fftfreq(power.shape[1])[np.newaxis, :]
  return power[np.hypot(fy, fx) > 0.25].sum() / power.sum()


@pytest.fixture(scope="module")
def noisy(images) -> np.ndarray:
  """A real image with fine noise: high frequencies to lose."""
  noise = np.random.default_rng(0).normal(0.0, 0.03, images[0].shape)
  return np.clip(images[0] + noise, 0, 1).astype(np.float32)


@pytest.mark.parametrize("downscale_method",
                         range(len(augment.DOWNSCALE_METHODS)))
@pytest.mark.parametrize("upscale_method", range(len(augment.UPSCALE_METHODS)))
def test_downscale_lowers_high_frequencies(noisy, downscale_method,
                                           upscale_method):
  before = _high_frequency_share(noisy)
  for factor in (1.25, 2.0):
    small = augment.shrink(noisy, tf.constant(factor), downscale_method)
    assert small.shape[0] == round(noisy.shape[0] / factor)
    got = augment.enlarge(small, noisy.shape[:2], upscale_method)
    assert got.shape == noisy.shape
    assert _high_frequency_share(got) < 0.9 * before


def test_downscale_through_augment_lowers_high_frequencies(noisy):
  config = augment.AugmentConfig(**{**ALL_OFF, "downscale": 1.0})
  shares = [_high_frequency_share(augment.augment(noisy, config,
                                                  tf.constant([seed, 2])))
            for seed in range(12)]
  assert np.mean(shares) < 0.8 * _high_frequency_share(noisy)


def test_jpeg_is_adjust_jpeg_quality_at_the_drawn_quality(images):
  config = augment.AugmentConfig(**{**ALL_OFF, "jpeg_min_quality": 30})
  qualities = []
  for i in range(4):
    seed = tf.constant([i, 9], tf.int64)
    quality = augment.pixel_path_draws(config, seed).jpeg_quality
    expected = tf.image.adjust_jpeg_quality(images[3], quality).numpy()
    got = augment.augment(images[3], config, seed).numpy()
    np.testing.assert_array_equal(got, expected)
    error = np.abs(got - images[3])
    # Lossy, within what quality 30 loses on an X-ray.
    assert 1e-3 < error.mean() < 0.03 and error.max() < 0.25
    qualities.append(int(quality))
  assert min(qualities) < 60  # low qualities among them


def test_sharpen_by_zero_is_the_identity(images):
  np.testing.assert_array_equal(augment.sharpen(images, 0.0).numpy(), images)


def test_blur_is_the_binomial_kernel_with_mirrored_edges(images):
  taps = np.array([1, 4, 6, 4, 1]) / 16
  # scipy's "reflect" repeats the edge pixel, as tf.pad's SYMMETRIC does.
  expected = scipy.ndimage.convolve1d(
      scipy.ndimage.convolve1d(images, taps, axis=1, mode="reflect"), taps,
      axis=2, mode="reflect")
  np.testing.assert_allclose(augment.sharpen(images, -1.0).numpy(), expected,
                             atol=1e-6)


def test_sharpen_raises_and_blur_lowers_high_frequencies(noisy):
  before = _high_frequency_share(noisy)
  assert _high_frequency_share(augment.sharpen(noisy, 0.5)) > 1.2 * before
  assert _high_frequency_share(augment.sharpen(noisy, -0.5)) < 0.8 * before
