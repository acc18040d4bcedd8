"""The SavedModel a run serves: image files in, P(pneumonia) and a call out.

Signatures (saved_model/, loadable by TensorFlow alone: no Keras, no project
code):
  serving_default  image_bytes: string (batch,), each a JPEG or PNG file as
                   it is (any size; grayscale, RGB or RGBA) ->
                   p_pneumonia (batch,), label (batch,: "pneumonia"/"normal"),
                   threshold (batch,: the run's, the same in every row), and
                   for a multi-class model probabilities (batch, classes) and
                   predicted_type (batch,).
  preprocess       image_bytes -> model_input (batch, size, size, channels),
                   float32 in [0, 1]: what the model is fed.
  serve            the model on model_input tensors (Keras' own endpoint).
The input is called image_bytes so that TF Serving's REST API takes
{"b64": ...} values for it and Vertex AI's *_bytes convention applies.
Decoding, orientation, fit and the stored codec run in the graph
(`pipeline.decode`), with the build's arithmetic: the pixels equal those
`trainer.predict` feeds the model for the same file.
serving.json beside saved_model.pb records the threshold and where it came
from, the classes and the input geometry.
"""

import dataclasses
from typing import Any, Optional

import keras
import tensorflow as tf

from pipeline import decode
from pipeline import preprocess
from pneumonia_tfds import labels
from pneumonia_tfds import per_file
from trainer import calibration
from trainer import storage

INPUT = "image_bytes"
INFO = "serving.json"


@dataclasses.dataclass(frozen=True)
class Spec:
  """What the serving graph needs besides the model's weights.

  Attributes:
    stored: how the run's dataset stores images (the build's geometry).
    image_size, channels: the model's input.
    class_names: output index -> class name.
    threshold: call pneumonia at P(pneumonia) >= this.
    threshold_source: where the threshold came from, in words.
    temperature: the calibration's temperature (trainer.calibration); None
      serves the raw outputs.
  """
  stored: per_file.Geometry
  image_size: int
  channels: int
  class_names: tuple[str, ...]
  threshold: float
  threshold_source: str
  temperature: Optional[float] = None

  def to_dict(self) -> dict[str, Any]:
    values = dataclasses.asdict(self)
    values["input"] = INPUT
    return values


def _model_inputs(spec: Spec, image_bytes: tf.Tensor) -> tf.Tensor:
  stored = spec.stored

  def one(data):
    image = decode.to_stored(data, stored.size, stored.channels, stored.fit,
                             stored.encoding)
    return preprocess.to_model_input(image, spec.image_size, spec.channels)

  return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec(
      [spec.image_size, spec.image_size, spec.channels], tf.float32))


def _calibrated(spec: Spec, outputs: tf.Tensor) -> tf.Tensor:
  """(batch, classes) probabilities, temperature-scaled as
  trainer.calibration.scale does (in float64, as numpy does there)."""
  outputs = tf.cast(outputs, tf.float64)
  if outputs.shape[-1] == 1:
    outputs = tf.concat([1.0 - outputs, outputs], axis=-1)
  if spec.temperature is None:
    return outputs
  p = tf.clip_by_value(outputs, calibration.EPSILON, 1.0 - calibration.EPSILON)
  if len(spec.class_names) == 2:
    z = tf.math.log(p[:, 1]) - tf.math.log1p(-p[:, 1])
    logits = tf.stack([tf.zeros_like(z), z], axis=1)
  else:
    logits = tf.math.log(p)
  return tf.nn.softmax(logits / spec.temperature, axis=-1)


def _outputs(spec: Spec, outputs: tf.Tensor) -> dict[str, tf.Tensor]:
  """The same columns trainer.predict writes, per image."""
  probabilities = _calibrated(spec, outputs)
  multiclass = len(spec.class_names) > 2
  if multiclass:
    p = 1.0 - probabilities[:, spec.class_names.index("normal")]
  else:
    p = probabilities[:, 1]
  # Called in float64, as trainer.predict calls it; served in float32.
  called = p >= tf.constant(spec.threshold, tf.float64)
  p = tf.cast(p, tf.float32)
  # Every output has the batch as its first axis: TF Serving's row format
  # ("instances") requires it.
  threshold = tf.fill(tf.shape(p), tf.constant(spec.threshold, tf.float32))
  outputs = {"p_pneumonia": p, "threshold": threshold,
             "label": tf.where(called, labels.LABELS[1], labels.LABELS[0])}
  if multiclass:
    outputs["probabilities"] = tf.cast(probabilities, tf.float32)
    outputs["predicted_type"] = tf.gather(tf.constant(spec.class_names),
                                          tf.argmax(probabilities, axis=1))
  return outputs


def write(model: keras.Model, path: str, spec: Spec) -> str:
  """Exports `model` with the signatures above to `path` (replacing it)."""
  bytes_spec = tf.TensorSpec([None], tf.string, name=INPUT)
  tensor_spec = tf.TensorSpec(
      [None, spec.image_size, spec.image_size, spec.channels], tf.float32,
      name="inputs")

  # One concrete function for both endpoints: the decoding graph is traced
  # once (a tf.function would trace it again on its second call). Its
  # control flow is explicit (tf.cond, tf.while_loop): no AutoGraph.
  decode_files = tf.function(
      lambda image_bytes: _model_inputs(spec, image_bytes),
      input_signature=[bytes_spec], autograph=False).get_concrete_function()

  # The model's forward pass, traced once too.
  forward = tf.function(lambda inputs: model(inputs, training=False),
                        input_signature=[tensor_spec],
                        autograph=False).get_concrete_function()

  def model_input(image_bytes):
    return {"model_input": decode_files(image_bytes)}

  def serve_files(image_bytes):
    return _outputs(spec, forward(decode_files(image_bytes)))

  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint("serve", forward, input_signature=[tensor_spec])
  archive.add_endpoint("preprocess", model_input, input_signature=[bytes_spec])
  archive.add_endpoint("serving_default", serve_files,
                       input_signature=[bytes_spec])
  # A re-export must not leave a file of the old one (e.g. a variables
  # shard the new one does not write) beside the new.
  storage.remove(path)
  archive.write_out(path, verbose=False)
  storage.write_json(storage.join(path, INFO), spec.to_dict())
  return path


def read_info(path: str) -> Optional[dict[str, Any]]:
  """serving.json of an exported model; None for an older export."""
  info = storage.join(path, INFO)
  return storage.read_json(info) if storage.exists(info) else None
