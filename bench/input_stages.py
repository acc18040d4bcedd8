"""Section 2b: where the training input's time goes, stage by stage.

A profile by ablation on the small_gray_204 train split (204x204 JPEG
records, the same format as any 204 px build), batch 32, cache off: each row
adds one stage to the one above, or runs one stage alone, so the drop from
row to row is that stage's cost. Every row runs with the pipeline's own
tf.data options (pipeline.input.dataset_options) and all run back to back in
every repeat.

  read              TFDS reads and parses the records (image left encoded)
  + shuffle         shuffle(2048) of the encoded examples
  + decode          JPEG decode + to_model_input (float32 [0, 1]), per
                    example: make_for_train without augmentation
  + augment         make_for_train with the default augmentation
  plain reader      tf.data.TFRecordDataset + parse_single_example +
                    decode_jpeg: the same decode without TFDS, for reference
  augment alone     augment_batch on one in-memory batch, repeated
  transform alone   its ImageProjectiveTransformV3 (rotation + shift + zoom,
                    bilinear) on one in-memory batch, repeated
"""

import dataclasses
import glob
import os

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "2b input stages"
_STAGES = (
    ("read", "TFDS read + parse (image encoded)"),
    ("read_shuffle", "+ shuffle of encoded examples"),
    ("read_shuffle_decode", "+ decode + to_model_input (pipeline, no "
     "augmentation)"),
    ("pipeline_aug", "+ batch augmentation (pipeline, default augmentation)"),
    ("plain_reader", "plain TFRecordDataset + parse + decode_jpeg (no TFDS)"),
    ("augment_alone", "augment_batch alone, in-memory batch"),
    ("transform_alone", "projective transform alone, in-memory batch"),
)


def row_specs() -> list[report.Spec]:
  return [report.Spec(f"input_stages/{key}", SECTION, words, "examples/s")
          for key, words in _STAGES]


def _drain(dataset) -> int:
  count = 0
  for batch in dataset:
    count += int(batch[0].shape[0])
  return count


def _makers(config: config_lib.BenchConfig, small: data.SmallBuild) -> dict:
  """{stage: () -> tf.data.Dataset of (images, ...) batches, one pass}."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_datasets as tfds
  from pipeline import augment as augment_lib
  from pipeline import input as input_lib
  from pipeline import preprocess
  # pylint: enable=g-import-not-at-top

  data_dir, _ = small.get()
  builder = tfds.builder(small.dataset, data_dir=data_dir)
  count = builder.info.splits["train"].num_examples
  batch = config.batch_size
  image_feature = builder.info.features["image"]
  base = input_lib.InputConfig(dataset=small.dataset, data_dir=data_dir,
                               global_batch_size=batch)
  size = base.image_size

  def read():
    return builder.as_dataset(
        split="train", decoders=tfds.decode.PartialDecoding(
            {"image": True, "label": True},
            decoders={"image": tfds.decode.SkipDecoding()}),
        read_config=tfds.ReadConfig(try_autocache=False)).map(
            lambda e: (e["image"], e["label"]))

  def shuffled():
    return read().shuffle(base.shuffle_buffer, seed=0)

  def finish(dataset):
    return dataset.batch(batch).prefetch(tf.data.AUTOTUNE).with_options(
        input_lib.dataset_options())

  def plain_reader():
    files = sorted(glob.glob(os.path.join(builder.data_dir,
                                          "*-train.tfrecord*")))
    features = {"image": tf.io.FixedLenFeature([], tf.string),
                "label": tf.io.FixedLenFeature([], tf.int64)}

    def parse_decode(record):
      example = tf.io.parse_single_example(record, features)
      image = tf.io.decode_jpeg(example["image"], channels=1)
      return preprocess.to_model_input(image, size, 1), example["label"]

    return finish(tf.data.TFRecordDataset(files).map(
        parse_decode, num_parallel_calls=tf.data.AUTOTUNE))

  images = tf.random.stateless_uniform((batch, size, size, 1), seed=(0, 1))
  seeds = tf.random.stateless_uniform((batch, 2), seed=(0, 2),
                                      maxval=1 << 30, dtype=tf.int64)
  augment_config = augment_lib.AugmentConfig()
  transforms = tf.concat([augment_lib.affine_transform(
      size, size, augment_config, seeds[i]) for i in range(batch)], axis=0)

  def in_memory(function):
    batches = max(1, count // batch)
    return tf.data.Dataset.from_tensors(images).repeat(batches).map(
        lambda x: (function(x),), num_parallel_calls=tf.data.AUTOTUNE
    ).with_options(input_lib.dataset_options())

  def transform(x):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=(size, size),
        fill_value=0.0, interpolation="BILINEAR",
        fill_mode=augment_lib.FILL_MODE)

  return {
      "read": lambda: finish(read()),
      "read_shuffle": lambda: finish(shuffled()),
      "read_shuffle_decode": lambda: input_lib.make_for_train(
          dataclasses.replace(base, augment=None)),
      "pipeline_aug": lambda: input_lib.make_for_train(base),
      "plain_reader": plain_reader,
      "augment_alone": lambda: in_memory(
          lambda x: augment_lib.augment_batch(x, augment_config, seeds)),
      "transform_alone": lambda: in_memory(transform),
  }


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  makers = _makers(config, small)
  for make in makers.values():  # untimed: tracing, first reads
    _drain(make().take(2))
  rates = {key: [] for key in makers}
  counts = {}
  keys = list(makers)
  for repeat in range(config.repeats):
    shift = repeat % len(keys)
    for key in keys[shift:] + keys[:shift]:
      dataset = makers[key]()
      seconds, counts[key] = stats.timed(lambda dataset=dataset: _drain(
          dataset))
      rates[key].append(stats.rate(counts[key], seconds))
  return [spec.measured(
      stats.Stat.of(rates[spec.id.split("/", 1)[1]]),
      f"{counts[spec.id.split('/', 1)[1]]} examples, {config.repeats} repeats")
          for spec in row_specs()]
