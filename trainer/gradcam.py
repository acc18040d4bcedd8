"""Grad-CAM heat maps (Selvaraju et al. 2017) for the trainer's Keras models.

The map of class c weights the channels of the last convolutional feature
map by the spatial mean of d(score_c)/d(features), sums them, keeps the
positive part, upsamples to the image size and scales to [0, 1]. The score
is the pre-activation logit, recomputed from the output Dense layer: the
gradient of a saturated sigmoid or softmax probability is close to zero and
would give noise.
"""

from typing import Optional

import keras
import numpy as np
import tensorflow as tf

# class_index=PNEUMONIA explains the logit of P(pneumonia): the logit itself
# for a sigmoid model, that of "any class but 0" for a softmax model over
# pneumonia types (class 0 is normal); NORMAL explains its negation.
PNEUMONIA = "pneumonia"
NORMAL = "normal"


def last_conv_layer(model: keras.Model) -> keras.layers.Layer:
  """The last layer with a 4-D (batch, height, width, channels) output of
  spatial size > 1 (a 1x1 map cannot say where)."""
  for layer in reversed(model.layers):
    if isinstance(layer, keras.layers.InputLayer):
      break  # the image itself is no feature map
    shape = getattr(layer, "output", None)
    shape = getattr(shape, "shape", None)
    if shape is not None and len(shape) == 4 and (
        (shape[1] or 0) > 1 or (shape[2] or 0) > 1):
      return layer
  raise ValueError(f"model {model.name!r} has no convolutional feature map")


def _head(model: keras.Model) -> keras.layers.Dense:
  head = model.layers[-1]
  activation = getattr(getattr(head, "activation", None), "__name__", "")
  if not isinstance(head, keras.layers.Dense) or activation not in (
      "sigmoid", "softmax"):
    raise ValueError("Grad-CAM here needs a model ending in a Dense layer with "
                     f"a sigmoid or softmax activation; {model.name!r} ends in "
                     f"{type(head).__name__} ({activation or 'no activation'})")
  return head


def _scores(logits: tf.Tensor, class_index) -> tf.Tensor:
  """The scalar score per example whose gradient Grad-CAM follows."""
  if class_index is None:  # the class each image is called
    if logits.shape[-1] == 1:
      return tf.abs(logits[:, 0])
    class_index = tf.argmax(logits, axis=-1)
  if isinstance(class_index, str):
    if class_index not in (PNEUMONIA, NORMAL):
      raise ValueError(f"class_index must be None, an int, ints, {PNEUMONIA!r} "
                       f"or {NORMAL!r}, got {class_index!r}")
    if logits.shape[-1] == 1:
      pneumonia = logits[:, 0]
    else:
      pneumonia = tf.reduce_logsumexp(logits[:, 1:], axis=-1) - logits[:, 0]
    return pneumonia if class_index == PNEUMONIA else -pneumonia
  index = tf.broadcast_to(tf.cast(class_index, tf.int32), tf.shape(logits)[:1])
  if logits.shape[-1] == 1:  # sigmoid: class 1 is the logit, class 0 minus it
    return tf.where(index == 0, -logits[:, 0], logits[:, 0])
  return tf.gather(logits, index, axis=1, batch_dims=1)


def heatmaps(model: keras.Model, images, class_index=None,
             layer_name: Optional[str] = None) -> np.ndarray:
  """Grad-CAM maps of a batch, at the images' spatial size.

  Args:
    model: a functional Keras model ending in Dense + sigmoid/softmax.
    images: float32 model inputs, shape (B, H, W, C).
    class_index: which score to explain: None for the class each image is
      called (at 0.5 for a sigmoid model, the arg max for softmax), an int
      class id (for a sigmoid model 1 is the logit, 0 its negation), an int
      array with one id per image, PNEUMONIA (the positive class of a
      sigmoid model; "not class 0" of a softmax model) or NORMAL (the
      negation of PNEUMONIA).
    layer_name: the feature map to use; default `last_conv_layer(model)`.

  Returns:
    float32 array (B, H, W) in [0, 1]; an image whose map has no positive
    part (nothing speaks for the class) gets all zeros.
  """
  images = tf.convert_to_tensor(images, tf.float32)
  if images.shape.rank != 4:
    raise ValueError(f"images must be a batch (B, H, W, C), got {images.shape}")
  layer = (model.get_layer(layer_name) if layer_name
           else last_conv_layer(model))
  head = _head(model)
  grad_model = keras.Model(model.inputs, [layer.output, head.input])
  with tf.GradientTape() as tape:
    features, hidden = grad_model(images, training=False)
    tape.watch(features)
    # Mixed precision: the head's own float32 math, on float32 inputs.
    logits = tf.matmul(tf.cast(hidden, tf.float32),
                       tf.cast(head.kernel, tf.float32))
    if head.bias is not None:
      logits += tf.cast(head.bias, tf.float32)
    scores = _scores(logits, class_index)
  gradients = tf.cast(tape.gradient(scores, features), tf.float32)
  features = tf.cast(features, tf.float32)
  weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
  cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
  cam = tf.image.resize(cam, tf.shape(images)[1:3], method="bilinear")[..., 0]
  peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
  cam = tf.math.divide_no_nan(cam, peak)
  return cam.numpy().astype(np.float32)
