"""Section 8: feeding an accelerator: raw vs JPEG records, host vs device
augmentation, against the pickle and the directory loader, per CPU core.

All on the train split of small_gray_204 (chest_xray_small) and its twin
small_gray_204_raw (the same examples stored as raw uint8 pixels), batch 32,
every contender back to back in every repeat, epoch 1 and epoch 2 of one
fresh dataset (as section 2):

  pickle          the blog's pickle -> Dataset.from_tensor_slices (section 2)
  directory       image_dataset_from_directory, grayscale, 204 px
  jpeg            make_for_train over the JPEG records, no augmentation
  raw             make_for_train over the raw records, no augmentation
  raw_host        raw records, the default augmentation on the host
  raw_host_batch  raw records, only the batch changes (pixel path off), host
  raw_device      raw records, augment_on="device": the host runs the pixel
                  path only and yields the seeds; the rest is the step's
  raw_device_batch  the same with the pixel path off: nothing left on the
                  host

No contender caches. Each figure is examples/s divided by the CPUs the
process may use. Two more rows time the batch changes on one in-memory batch
per core: the host's transform kernel and the step's gather warp under XLA
(what a CPU "device" would pay inside the step).

The stage rows profile the raw pipeline (epoch 2, in the same rotation),
each adding one stage to the one before it:

  stage_fixed_length  the raw shards' bytes, read in as many pieces as they
                      hold records by FixedLengthRecordDataset: the file
                      system's floor, no record framing, no checksum
  stage_tfrecord      TFRecordDataset over the same shards, batch 32: the
                      record reader, which checks a CRC-32C per record
  stage_shuffled      + the pipeline's shuffle of the serialized records
  stage_parsed        + parse_example and the raw decode per batch (uint8):
                      the pipeline without its float32 conversion
"""

import functools
import os
import shutil
import time

from bench import baselines
from bench import config as config_lib
from bench import data
from bench import inputs
from bench import report
from bench import stats

SECTION = "8 feed"
EPOCHS = inputs.EPOCHS
UNIT = "examples/s per core"
# (key, words, records, augment: None / "default" / "batch", augment_on)
_PIPELINES = (
    ("jpeg", "pipeline, JPEG records, no augmentation", "jpeg", None, "host"),
    ("raw", "pipeline, raw records, no augmentation", "raw", None, "host"),
    ("raw_host", "raw records, default augmentation on the host", "raw",
     "default", "host"),
    ("raw_host_batch", "raw records, batch changes only (pixel path off), "
     "host", "raw", "batch", "host"),
    ("raw_device", "raw records, default augmentation, augment_on=device "
     "(pixel path on the host)", "raw", "default", "device"),
    ("raw_device_batch", "raw records, augment_on=device, pixel path off "
     "(nothing on the host)", "raw", "batch", "device"),
)
_BASELINES = (
    ("pickle", "pickle -> from_tensor_slices"),
    ("directory", "image_dataset_from_directory, grayscale"),
)
_STAGES = (
    ("stage_fixed_length", "stage profile, raw shards' bytes as fixed-length "
     "pieces, no framing or CRC"),
    ("stage_tfrecord", "stage profile, TFRecordDataset over the raw shards"),
    ("stage_shuffled", "stage profile, + shuffle of the serialized records"),
    ("stage_parsed", "stage profile, + parse_example and raw decode per "
     "batch (uint8)"),
)
# (id, numerator, its epoch, denominator, its epoch, words, target)
_RATIOS = (
    ("raw_epoch1_vs_pickle_epoch2", "raw", "epoch1", "pickle", "epoch2",
     "raw records, no augmentation, epoch 1 / pickle epoch 2",
     report.Target(">=", 2.0)),
    ("raw_epoch2_vs_pickle_epoch2", "raw", "epoch2", "pickle", "epoch2",
     "raw records, no augmentation, epoch 2 / pickle epoch 2",
     report.Target(">=", 2.0)),
    ("jpeg_vs_pickle_epoch2", "jpeg", "epoch2", "pickle", "epoch2",
     "JPEG records, no augmentation / pickle, epoch 2", None),
    ("raw_vs_jpeg_epoch2", "raw", "epoch2", "jpeg", "epoch2",
     "raw / JPEG records, no augmentation, epoch 2", None),
    ("raw_vs_directory_epoch2", "raw", "epoch2", "directory", "epoch2",
     "raw records / image_dataset_from_directory, epoch 2", None),
    ("raw_device_batch_vs_raw_epoch2", "raw_device_batch", "epoch2", "raw",
     "epoch2", "augment_on=device, pixel path off / no augmentation, epoch 2",
     report.Target(">=", 0.95)),
    ("raw_device_vs_raw_epoch2", "raw_device", "epoch2", "raw", "epoch2",
     "augment_on=device, default augmentation / no augmentation, epoch 2",
     report.Target(">=", 0.95)),
    ("raw_device_vs_raw_host_epoch2", "raw_device", "epoch2", "raw_host",
     "epoch2", "default augmentation, device / host input, epoch 2", None),
    ("raw_host_vs_raw_epoch2", "raw_host", "epoch2", "raw", "epoch2",
     "default augmentation on the host / none, epoch 2", None),
    ("stage_tfrecord_vs_pickle_epoch2", "stage_tfrecord", "epoch2", "pickle",
     "epoch2", "stage profile: TFRecordDataset alone / pickle, epoch 2", None),
    ("stage_parsed_vs_pickle_epoch2", "stage_parsed", "epoch2", "pickle",
     "epoch2", "stage profile: records parsed to uint8 / pickle, epoch 2",
     None),
)
_KERNELS = (
    ("batch_changes_host_kernel", "batch changes, host transform kernel, "
     "one in-memory batch"),
    ("batch_changes_gather_xla", "batch changes, the step's gather warp "
     "under XLA, on this CPU"),
)


def _contenders():
  return [(key, words) for key, words, *_ in _PIPELINES] + list(_BASELINES)


def row_specs() -> list[report.Spec]:
  specs = [report.Spec(f"feed/{key}_{epoch}", SECTION,
                       f"{words}, epoch {epoch[-1]}", UNIT)
           for key, words in _contenders() for epoch in EPOCHS]
  specs += [report.Spec(f"feed/{key}", SECTION, words, "images/s per core")
            for key, words in _KERNELS]
  specs += [report.Spec(f"feed/{key}", SECTION, f"{words}, epoch 2", UNIT)
            for key, words in _STAGES]
  specs += [report.Spec(f"feed/ratio_{ratio_id}", SECTION, words, "x",
                        target)
            for ratio_id, _, _, _, _, words, target in _RATIOS]
  return specs


def _augment_config(kind):
  from pipeline import augment as augment_lib  # pylint: disable=g-import-not-at-top
  if kind is None:
    return None
  if kind == "batch":
    return augment_lib.AugmentConfig(downscale=0.0, sharpen=0.0,
                                     jpeg_min_quality=0)
  return augment_lib.AugmentConfig()


def _makers(config: config_lib.BenchConfig, small: data.SmallBuild,
            work: str) -> dict:
  # pylint: disable=g-import-not-at-top
  from pipeline import input as input_lib
  # pylint: enable=g-import-not-at-top
  data_dir = small.get_raw()
  paths = small.train_files()
  directory, pickle_dir = inputs.baseline_files(paths, work)
  datasets = {"jpeg": small.dataset, "raw": small.raw_dataset}

  def pipeline(records, augment, augment_on):
    input_config = input_lib.InputConfig(
        dataset=datasets[records], data_dir=data_dir,
        global_batch_size=config.batch_size,
        augment=_augment_config(augment), augment_on=augment_on)
    return lambda: input_lib.make_for_train(input_config)

  makers = {key: pipeline(records, augment, augment_on)
            for key, _, records, augment, augment_on in _PIPELINES}
  makers["pickle"] = lambda: baselines.pickle_dataset(
      pickle_dir, config.batch_size, input_lib.InputConfig().shuffle_buffer)
  makers["directory"] = lambda: baselines.directory_dataset(
      directory, data.IMAGE_SIZE, config.batch_size, color_mode="grayscale")
  makers.update(_stage_makers(config, data_dir, small.raw_dataset))
  return makers


def _stage_makers(config: config_lib.BenchConfig, data_dir: str,
                  dataset: str) -> dict:
  """The raw pipeline's stages, each adding one to the last (see above)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  import tensorflow_datasets as tfds
  from pipeline import input as input_lib
  # pylint: enable=g-import-not-at-top
  builder = tfds.builder(dataset, data_dir=data_dir)
  split = builder.info.splits["train"]
  paths = [os.fspath(i.filename) for i in split.file_instructions]
  records = [i.examples_in_shard for i in split.file_instructions]
  parse = input_lib.raw_batch_parser(builder, "label")
  buffer = input_lib.InputConfig().shuffle_buffer

  def shuffled():
    return tf.data.TFRecordDataset(paths).shuffle(buffer, seed=0)

  def fixed_length():
    # Each file in as many equal pieces as it holds records, what is left
    # over read as a footer.
    pieces = []
    for path, count in zip(paths, records):
      size = os.path.getsize(path)
      pieces.append(tf.data.FixedLengthRecordDataset(
          path, size // count, footer_bytes=size % count))
    return functools.reduce(tf.data.Dataset.concatenate, pieces)

  batch = config.batch_size
  stages = {
      "stage_fixed_length": lambda: fixed_length().batch(batch),
      "stage_tfrecord": lambda: tf.data.TFRecordDataset(paths).batch(batch),
      "stage_shuffled": lambda: shuffled().batch(batch),
      "stage_parsed": lambda: shuffled().batch(batch).map(
          parse, num_parallel_calls=tf.data.AUTOTUNE),
  }
  # With the pipeline's options (its autotuner setting) and its prefetch.
  return {key: lambda make=make: make().prefetch(tf.data.AUTOTUNE).with_options(
      input_lib.dataset_options()) for key, make in stages.items()}


def _kernel_rates(config: config_lib.BenchConfig) -> dict[str, list[float]]:
  """images/s of the batch changes on one in-memory batch, per repeat."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf
  from pipeline import augment as augment_lib
  # pylint: enable=g-import-not-at-top
  changes = _augment_config("batch")
  size, batch = data.IMAGE_SIZE, config.batch_size
  images = tf.random.stateless_uniform((batch, size, size, 1), seed=(0, 1))
  seeds = tf.random.stateless_uniform((batch, 2), seed=(0, 2), minval=None,
                                      maxval=None, dtype=tf.int64)
  functions = {
      "batch_changes_host_kernel": tf.function(
          lambda x, s: augment_lib.transform_batch(x, changes, s)),
      "batch_changes_gather_xla": tf.function(
          lambda x, s: augment_lib.transform_batch(x, changes, s,
                                                   warp_with="gather"),
          jit_compile=True),
  }
  rates = {key: [] for key in functions}
  calls = 10
  for function in functions.values():
    function(images, seeds).numpy()  # trace and compile
  for _ in range(config.repeats):
    for key, function in functions.items():
      start = time.perf_counter()
      for _ in range(calls):
        function(images, seeds).numpy()
      rates[key].append(stats.rate(calls * batch,
                                   time.perf_counter() - start))
  return rates


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  from pneumonia_tfds import cpus  # pylint: disable=g-import-not-at-top

  cores = cpus.available_cpus()
  work = os.path.join(config.work_dir, "feed")
  rates, counts = inputs.time_contenders(_makers(config, small, work),
                                         config.repeats)
  rates = {key: [rate / cores for rate in values]
           for key, values in rates.items()}
  shutil.rmtree(work, ignore_errors=True)
  kernels = {key: [rate / cores for rate in values]
             for key, values in _kernel_rates(config).items()}

  values = {}
  for key, _ in _contenders():
    for epoch in EPOCHS:
      values[f"{key}_{epoch}"] = (
          stats.Stat.of(rates[key, epoch]),
          f"{counts[key]} examples, {config.repeats} repeats, {cores} CPUs")
  for key, _ in _STAGES:
    values[key] = (stats.Stat.of(rates[key, "epoch2"]),
                   f"{counts[key]} records, {config.repeats} repeats, "
                   f"{cores} CPUs")
  for key, _ in _KERNELS:
    values[key] = (stats.Stat.of(kernels[key]),
                   f"batch {config.batch_size}, {data.IMAGE_SIZE} px, "
                   f"{cores} CPUs")
  for ratio_id, numerator, n_epoch, denominator, d_epoch, _, _ in _RATIOS:
    values[f"ratio_{ratio_id}"] = (
        stats.paired_ratio(rates[numerator, n_epoch],
                           rates[denominator, d_epoch]), "per-repeat ratio")
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
