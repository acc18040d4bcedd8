"""Model zoo: shapes, heads, float32 outputs under mixed precision, speed."""


import keras
import numpy as np
import pytest

from trainer import config as config_lib
from trainer import models
from trainer import precision


@pytest.fixture
def policy():
  """Sets a dtype policy for one test and restores the previous one."""
  previous = keras.config.dtype_policy().name
  yield precision.set_policy
  precision.set_policy(previous)


@pytest.mark.parametrize("name", config_lib.MODELS)
@pytest.mark.parametrize("channels,num_classes", [(1, 2), (3, 6)])
def test_output_shape_and_head(name, channels, num_classes):
  model = models.build_model(name, 64, channels, num_classes)
  assert model.input_shape == (None, 64, 64, channels)
  output = model.get_layer("output")
  if num_classes == 2:
    assert model.output_shape == (None, 1)
    assert output.activation is keras.activations.sigmoid
  else:
    assert model.output_shape == (None, num_classes)
    assert output.activation is keras.activations.softmax
  probabilities = model(np.zeros((2, 64, 64, channels), np.float32))
  assert probabilities.shape[0] == 2


def test_unknown_model_raises():
  with pytest.raises(ValueError, match="^model: "):
    models.build_model("vgg16", 64, 1, 2)


def test_too_small_image_raises():
  with pytest.raises(ValueError, match="^image_size: "):
    models.build_model("small_resnet", 16, 1, 2)


@pytest.mark.parametrize("name", config_lib.MODELS)
def test_mixed_bfloat16_convs_compute_in_bfloat16_output_float32(name,
                                                                  policy):
  policy("mixed_bfloat16")
  model = models.build_model(name, 64, 1, 2)
  convs = [layer for layer in model.layers
           if isinstance(layer, keras.layers.Conv2D)]
  assert convs
  for layer in convs:
    assert layer.compute_dtype == "bfloat16", layer.name
    assert layer.variable_dtype == "float32", layer.name
  assert model.get_layer("output").compute_dtype == "float32"
  output = model(np.random.rand(2, 64, 64, 1).astype(np.float32))
  assert keras.backend.standardize_dtype(output.dtype) == "float32"


def test_blog_cnn_pooling_keeps_the_original_flatten_grid():
  assert models.blog_pool_size(28) == 2  # the notebook's own input size
  assert models.blog_pool_size(204) == 5
  model = models.build_model("blog_cnn", 204, 1, 2)
  assert model.get_layer("flatten").output.shape[-1] == 8 * 8 * 128


def test_blog_cnn_layer_stack():
  model = models.build_model("blog_cnn", 204, 1, 2)
  conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
  for conv in (conv1, conv2):
    assert conv.filters == 128 and conv.kernel_size == (3, 3)
    assert conv.activation is keras.activations.sigmoid
    assert conv.padding == "same"
    assert isinstance(conv.kernel_regularizer, keras.regularizers.L2)
  assert conv1.dilation_rate == (1, 1) and conv2.dilation_rate == (2, 2)
  assert model.get_layer("dense").units == 512
  assert model.get_layer("dropout1").rate == 0.25
