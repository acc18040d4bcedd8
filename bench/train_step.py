"""Section 4: images/s of a training step, per model, precision and input.

Each model of trainer.models.build_model (blog_cnn, small_resnet) at 204x204,
batch 32, compiled as the trainer compiles it (Adam 1e-3, the target's loss
and metrics), under the Keras dtype policy float32 or mixed_bfloat16, is fed
by:

  pipeline   make_for_train over the small_gray_204 train split (the
             trainer's defaults: augmentation on, cache off), repeated: the
             real input, whose threads share the CPU with the step.
  raw        the same over small_gray_204_raw (raw pixels, no decoding).
  raw_device raw records with augment_on="device": the pipeline runs the
             pixel path, the step the batch changes (trainer.device_augment),
             as a GPU or TPU run does by default; on this CPU the "device"
             is the same cores.
  constant   one in-memory batch repeated (Dataset.from_tensors): the step
             alone.

One Model.fit per combination: a few warm-up steps (tracing, first batches),
then `repeats` timed windows of a few steps each (time between batch ends).
A figure is the median over windows; a ratio pairs window i of two fits run
back to back. With --quick only QUICK_FITS are fitted, and the other rows
say so.
"""

import dataclasses
import time

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "4 training step"
MODELS = ("blog_cnn", "small_resnet")
PRECISIONS = ("float32", "mixed_bfloat16")
INPUTS = ("pipeline", "raw", "raw_device", "constant")
# The ratios between models and precisions are of these two inputs only.
_COMPARED_INPUTS = ("pipeline", "constant")
# --quick fits these only (each fit's tracing is most of its time): every
# model, precision and input once, and one ratio of each kind.
QUICK_FITS = (("blog_cnn", "float32", "constant"),
              ("small_resnet", "float32", "constant"),
              ("blog_cnn", "mixed_bfloat16", "constant"),
              ("blog_cnn", "float32", "pipeline"),
              ("blog_cnn", "float32", "raw"),
              ("blog_cnn", "float32", "raw_device"))


def _key(model: str, precision: str, source: str) -> str:
  return f"{model}_{precision}_{source}"


def _ratios():
  """(id, numerator key, denominator key, words, target)."""
  ratios = []
  for precision in PRECISIONS:
    for source in _COMPARED_INPUTS:
      ratios.append((
          f"ratio_small_resnet_vs_blog_cnn_{precision}_{source}",
          _key("small_resnet", precision, source),
          _key("blog_cnn", precision, source),
          f"small_resnet / blog_cnn, {precision}, {source} input",
          report.Target(">=", 1.5)))
  for model in MODELS:
    for source in _COMPARED_INPUTS:
      ratios.append((
          f"ratio_bf16_vs_f32_{model}_{source}",
          _key(model, "mixed_bfloat16", source),
          _key(model, "float32", source),
          f"mixed_bfloat16 / float32, {model}, {source} input",
          report.Target(">", 1.0)))
  for source in INPUTS[:-1]:
    for model in MODELS:
      for precision in PRECISIONS:
        ratios.append((
            f"ratio_{source}_vs_constant_{model}_{precision}",
            _key(model, precision, source),
            _key(model, precision, "constant"),
            f"{source} / constant input, {model}, {precision}",
            report.Target(">=", 0.95)))
  return ratios


def row_specs() -> list[report.Spec]:
  specs = [report.Spec(f"train_step/{_key(m, p, s)}", SECTION,
                       f"{m}, {p}, {s} input", "images/s")
           for m in MODELS for p in PRECISIONS for s in INPUTS]
  return specs + [report.Spec(f"train_step/{ratio_id}", SECTION, words, "x",
                              target)
                  for ratio_id, _, _, words, target in _ratios()]


def _batch_clock():
  """A Keras callback recording the time at the end of every training batch."""
  import keras  # pylint: disable=g-import-not-at-top

  class BatchClock(keras.callbacks.Callback):

    def on_train_begin(self, logs=None):
      self.times = []

    def on_train_batch_end(self, batch, logs=None):
      self.times.append(time.perf_counter())

  return BatchClock()


def _window_rates(times: list[float], warmup: int, windows: int,
                  steps: int, batch_size: int) -> list[float]:
  """images/s of each window of `steps` batches after `warmup` batches."""
  rates = []
  for w in range(windows):
    start = times[warmup - 1 + w * steps]
    end = times[warmup - 1 + (w + 1) * steps]
    rates.append(stats.rate(steps * batch_size, end - start))
  return rates


def _measure(model_name: str, precision: str, dataset,
             config: config_lib.BenchConfig,
             device_augment=None) -> list[float]:
  import keras  # pylint: disable=g-import-not-at-top
  from trainer import models  # pylint: disable=g-import-not-at-top
  from trainer import objectives  # pylint: disable=g-import-not-at-top

  previous = keras.config.dtype_policy().name
  keras.config.set_dtype_policy(precision)
  try:
    keras.utils.set_random_seed(0)
    model = models.build_model(model_name, config.train_image_size, 1, 2)
    loss, metrics = objectives.loss_and_metrics("label", 2)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=loss, metrics=metrics)
    if device_augment is not None:
      # pylint: disable-next=g-import-not-at-top
      from trainer import device_augment as device_augment_lib
      device_augment_lib.patch_model(model, device_augment)
    warmup = config.train_warmup_steps
    steps = config.train_steps_per_window
    windows = config.repeats
    clock = _batch_clock()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + windows * steps,
              verbose=0, callbacks=[clock])
    return _window_rates(clock.times, warmup, windows, steps,
                         config.train_batch_size)
  finally:
    keras.config.set_dtype_policy(previous)


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from pipeline import input as input_lib  # pylint: disable=g-import-not-at-top

  data_dir = small.get_raw()
  input_config = input_lib.InputConfig(
      dataset=small.dataset, data_dir=data_dir,
      image_size=config.train_image_size,
      global_batch_size=config.train_batch_size)
  raw_config = dataclasses.replace(input_config, dataset=small.raw_dataset)
  device_config = dataclasses.replace(raw_config, augment_on="device")
  size, batch = config.train_image_size, config.train_batch_size
  images = tf.random.stateless_uniform((batch, size, size, 1), seed=(0, 1))
  targets = tf.random.stateless_uniform((batch,), seed=(0, 2), maxval=2,
                                        dtype=tf.int32)
  sources = {
      "pipeline": lambda: input_lib.make_for_train(input_config).repeat(),
      "raw": lambda: input_lib.make_for_train(raw_config).repeat(),
      "raw_device": lambda: input_lib.make_for_train(device_config).repeat(),
      "constant": lambda: tf.data.Dataset.from_tensors(
          (images, targets)).repeat(),
  }
  fits = (QUICK_FITS if config.quick else
          [(model, precision, source) for precision in PRECISIONS
           for model in MODELS for source in INPUTS])
  rates = {}
  for model, precision, source in fits:
    rates[_key(model, precision, source)] = _measure(
        model, precision, sources[source](), config,
        device_config.augment if source == "raw_device" else None)

  note = (f"{size}x{size}, batch {batch}; {config.repeats} windows of "
          f"{config.train_steps_per_window} steps after "
          f"{config.train_warmup_steps} warm-up steps")
  values = {key: (stats.Stat.of(window_rates), note)
            for key, window_rates in rates.items()}
  for ratio_id, numerator, denominator, _, _ in _ratios():
    if numerator in rates and denominator in rates:
      values[ratio_id] = (
          stats.paired_ratio(rates[numerator], rates[denominator]),
          "per-window ratio, fits run back to back")
  return report.rows_of(row_specs(), values)
