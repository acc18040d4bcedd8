"""The model zoo: the blog post's CNN, ported, and a small residual network.

Both take float32 images in [0, 1] of shape (size, size, channels) and end in
a Dense + activation computed in float32 whatever the dtype policy: one
sigmoid unit for two classes (P(class 1)), a softmax over the classes
otherwise.

Provenance of "blog_cnn": the blog post that merged Kaggle CoronaHack/Kermany
with the ieee8023 collection is Samuel Mohebban's (GitHub HeeebsInc, Medium
@HeeebsInc); its code is the repository HeeebsInc/NN_Pneumonia_Detection. Its
README points to CNN.ipynb for the "CNN Layers/Architecture"; the function
`get_conv_model_normal` there (stored commit b74fcc75, also in
.ipynb_checkpoints/CNN-checkpoint.ipynb and CNN2-Copy-OneColumn.ipynb) is the
stack ported below, layer by layer:

  Conv2D(128, 3x3, sigmoid, L2(0.001), he_uniform, same) - MaxPool(2x2)
  Conv2D(128, 3x3, sigmoid, dilation 2, L2(0.001), he_uniform, same)
  - MaxPool(2x2) - Flatten - Dropout(0.25) - Dense(512, relu) - Dropout(0.25)
  - Dense(1, sigmoid); Adam(0.001), binary cross-entropy, batch 32.

The stored notebooks run it on 28x28x3 RGB arrays (the README lists larger
inputs as future work); no 48x48 version of the notebook is in the searched
index. Two things change here, both forced: the input is (size, size,
channels) and the head follows the target. And to scale it to 204 px, each
MaxPool window grows with the image so that Flatten sees the same ~7x7 grid
as the 28 px original (28/2/2 = 7): pool = round(sqrt(size / 7)), which is 2
at 28 px and 5 at 204 px (204 -> 40 -> 8). Kept at 2x2, the Dense(512) layer
would have 51*51*128*512 = 170M weights at 204 px. Note that the original's
positive class was "Normal" (it predicted type_Normal); here class 1 is
whatever the dataset's label list says (pneumonia for target "label").
"""

import math

import keras
from keras import layers

from trainer import config as config_lib

_BLOG_L2 = 0.001
_BLOG_DROPOUT = 0.25
# Original grid size at Flatten: 28 px pooled twice by 2.
_BLOG_FLATTEN_GRID = 7
_RESNET_WIDTHS = (24, 48, 96, 192)


def build_model(name: str, image_size: int, channels: int,
                num_classes: int) -> keras.Model:
  """Builds an uncompiled model by name (one of `config.MODELS`).

  Raises:
    ValueError: unknown name, or sizes it cannot take.
  """
  if name not in config_lib.MODELS:
    raise ValueError(f"model: {name!r} is not one of "
                     f"{', '.join(config_lib.MODELS)}")
  if image_size < config_lib.MIN_IMAGE_SIZE:
    raise ValueError(f"image_size: {image_size} is below "
                     f"{config_lib.MIN_IMAGE_SIZE}")
  if num_classes < 2:
    raise ValueError(f"num_classes: {num_classes} must be at least 2")
  inputs = keras.Input((image_size, image_size, channels), name="image")
  body = _blog_cnn if name == "blog_cnn" else _small_resnet
  return keras.Model(inputs, _head(body(inputs), num_classes), name=name)


def blog_pool_size(image_size: int) -> int:
  """The MaxPool window that keeps blog_cnn's Flatten grid near 7x7."""
  return max(2, round(math.sqrt(image_size / _BLOG_FLATTEN_GRID)))


def _head(x, num_classes: int):
  """Dense + activation in float32, so outputs and the loss are float32."""
  if num_classes == 2:
    return layers.Dense(1, activation="sigmoid", dtype="float32",
                        name="output")(x)
  return layers.Dense(num_classes, activation="softmax", dtype="float32",
                      name="output")(x)


def _blog_conv(dilation: int, name: str) -> layers.Conv2D:
  return layers.Conv2D(
      128, (3, 3), activation="sigmoid", padding="same",
      dilation_rate=dilation, kernel_initializer="he_uniform",
      kernel_regularizer=keras.regularizers.L2(_BLOG_L2), name=name)


def _blog_cnn(inputs):
  pool = blog_pool_size(inputs.shape[1])
  x = _blog_conv(1, "conv1")(inputs)
  x = layers.MaxPooling2D(pool, name="pool1")(x)
  x = _blog_conv(2, "conv2")(x)
  x = layers.MaxPooling2D(pool, name="pool2")(x)
  x = layers.Flatten(name="flatten")(x)
  x = layers.Dropout(_BLOG_DROPOUT, name="dropout1")(x)
  x = layers.Dense(512, activation="relu", name="dense")(x)
  return layers.Dropout(_BLOG_DROPOUT, name="dropout2")(x)


def _conv_bn(x, filters: int, kernel: int, strides: int, name: str,
             relu: bool = True):
  x = layers.Conv2D(filters, kernel, strides=strides, padding="same",
                    use_bias=False, kernel_initializer="he_normal",
                    name=f"{name}_conv")(x)
  # Synchronized: batch statistics over the global batch, so the moving
  # statistics stay identical on every replica and worker (Keras 3 keeps
  # unsynchronized ones per replica, and workers would then validate with
  # different models). No effect without a distribution strategy.
  x = layers.BatchNormalization(synchronized=True, name=f"{name}_bn")(x)
  return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual_block(x, filters: int, strides: int, name: str):
  """Two 3x3 conv-BN layers and a shortcut (1x1 projection if shapes change)."""
  shortcut = x
  if strides != 1 or x.shape[-1] != filters:
    shortcut = _conv_bn(x, filters, 1, strides, f"{name}_proj", relu=False)
  x = _conv_bn(x, filters, 3, strides, f"{name}_a")
  x = _conv_bn(x, filters, 3, 1, f"{name}_b", relu=False)
  x = layers.Add(name=f"{name}_add")([x, shortcut])
  return layers.ReLU(name=f"{name}_out")(x)


def _small_resnet(inputs):
  """A ResNet-10-like net: strided stem, four one-block stages, GAP.

  The stem takes the image down by 4 at once, which is where it saves most
  of blog_cnn's cost (blog_cnn runs 128 filters at full resolution).
  """
  x = _conv_bn(inputs, _RESNET_WIDTHS[0], 5, 2, "stem")
  x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
  for stage, filters in enumerate(_RESNET_WIDTHS):
    x = _residual_block(x, filters, 1 if stage == 0 else 2, f"stage{stage + 1}")
  x = layers.GlobalAveragePooling2D(name="gap")(x)
  return layers.Dropout(0.2, name="dropout")(x)
