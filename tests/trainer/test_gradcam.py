"""Grad-CAM maps: image-sized, in [0, 1], not constant, for both heads."""

import os

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from pipeline import preprocess
from tests.trainer import evaluation_helpers
from trainer import gradcam
from trainer import models
from trainer import run_dir

SIZE = evaluation_helpers.IMAGE_SIZE


@pytest.fixture(scope="module")
def images(tiny_data_dir) -> np.ndarray:
  """Real test images of the tiny build as model inputs (6, 64, 64, 1)."""
  builder = tfds.builder("pneumonia_xray/gray_96",
                         data_dir=os.fspath(tiny_data_dir))
  stored = np.stack([e["image"] for e in tfds.as_numpy(
      builder.as_dataset(split="test", shuffle_files=False).take(6))])
  return preprocess.to_model_input(stored, SIZE, 1).numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data_dir) -> run_dir.TrainedModel:
  return run_dir.load(evaluation_helpers.trained_run(tmp_path_factory,
                                                     tiny_data_dir))


def _check(maps: np.ndarray, images: np.ndarray) -> None:
  assert maps.shape == images.shape[:3]
  assert maps.dtype == np.float32
  assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6


def test_trained_model_maps_have_image_size_and_vary(trained, images):
  maps = gradcam.heatmaps(trained.model, images)  # the called class
  _check(maps, images)
  for heatmap in maps:
    assert heatmap.max() == pytest.approx(1.0)
    assert heatmap.std() > 0.01  # not constant
  # Different images, different maps.
  assert not np.allclose(maps[0], maps[1])


def test_pneumonia_and_normal_maps_are_opposite_evidence(trained, images):
  """With a GAP head the two maps split each image: where one is positive
  the other is zero (ReLU of opposite signs)."""
  pneumonia = gradcam.heatmaps(trained.model, images, gradcam.PNEUMONIA)
  normal = gradcam.heatmaps(trained.model, images, gradcam.NORMAL)
  _check(pneumonia, images)
  _check(normal, images)
  assert np.all(np.minimum(pneumonia, normal) < 1e-3)
  # Per-image class ids agree with the named targets of a sigmoid model.
  ids = gradcam.heatmaps(trained.model, images, [1, 0, 1, 0, 1, 0])
  np.testing.assert_allclose(ids[0::2], pneumonia[0::2], atol=1e-5)
  np.testing.assert_allclose(ids[1::2], normal[1::2], atol=1e-5)


@pytest.mark.parametrize("name", ["small_resnet", "blog_cnn"])
@pytest.mark.parametrize("classes", [2, 6])
def test_untrained_models_of_the_zoo(name, classes, images):
  keras.utils.set_random_seed(0)
  model = models.build_model(name, SIZE, 1, classes)
  maps = gradcam.heatmaps(model, images[:3])
  _check(maps, images[:3])
  assert all(m.std() > 0 for m in maps)
  layer = gradcam.last_conv_layer(model)
  assert len(layer.output.shape) == 4 and layer.output.shape[1] > 1


def test_other_image_sizes_and_an_explicit_layer(images):
  keras.utils.set_random_seed(1)
  model = models.build_model("small_resnet", 96, 3, 6)
  rgb = np.repeat(np.asarray(
      preprocess.to_model_input(images, 96, 1)), 3, axis=-1)
  maps = gradcam.heatmaps(model, rgb[:2], class_index=3,
                          layer_name="stage3_out")
  assert maps.shape == (2, 96, 96)


def test_refuses_what_it_cannot_explain(images):
  inputs = keras.Input((SIZE, SIZE, 1))
  flat = keras.layers.Flatten()(inputs)
  no_conv = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(
      flat))
  with pytest.raises(ValueError, match="no convolutional"):
    gradcam.heatmaps(no_conv, images[:1])
  conv = keras.layers.Conv2D(4, 3)(inputs)
  linear = keras.Model(inputs, keras.layers.Dense(1)(
      keras.layers.GlobalAveragePooling2D()(conv)))
  with pytest.raises(ValueError, match="sigmoid or softmax"):
    gradcam.heatmaps(linear, images[:1])
  with pytest.raises(ValueError, match="batch"):
    gradcam.heatmaps(linear, images[0])
