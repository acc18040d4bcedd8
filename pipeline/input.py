"""tf.data input pipelines over pneumonia_xray: train, eval, class balance.

make_for_train: read (files shuffled) -> shuffle encoded -> decode +
  preprocess [or, with cache: decode + preprocess -> cache -> shuffle]
  [or per-class resampling] -> batch -> augment the batch -> prefetch.
  Raw-pixel TFRecords are shuffled still serialized, then parsed and decoded
  once per batch.
make_for_eval: read in stored order -> decode + preprocess [-> cache] ->
  batch -> prefetch; never shuffled or augmented.

Both yield one finite pass per iteration, so a Keras epoch is one pass over the
split (for balance="resample", as many balanced examples as the split has); for
distributed training make_for_train can instead yield an endless stream of
fixed-length epochs. Random draws (file order, shuffles, resampling,
augmentation) are seeded from (InputConfig.seed, epoch number): two pipelines
built from one config give the same epochs, and epoch k is the same whether
it is a process's first or its k-th. The image is
decoded here, after any per-class filtering, never by TFDS; text features are
not even parsed unless asked for.
"""

import dataclasses
import math
import os
from typing import Optional, Union

import numpy as np
from sklearn.utils import class_weight
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pneumonia_tfds import cpus
from pipeline import augment as augment_lib
from pipeline import preprocess

TARGETS = ("label", "pneumonia_type")
BALANCE_MODES = ("none", "class_weight", "resample")
# Where the training augmentation's batch changes run (see InputConfig).
AUGMENT_PLACES = ("host", "device")
METADATA_KEYS = ("source", "view", "patient_id", "file_name", "label",
                 "pneumonia_type")

# Purposes folded into config.seed, so no two random streams share a seed.
_SHUFFLE, _AUGMENT, _SAMPLE, _KEEP, _FILES = range(1, 6)
AUTOTUNE_MODES = ("auto", "on", "off")
# Graph-level seed inside a training pass (see make_for_train); any nonzero.
_GRAPH_SEED = 1
# "auto" turns tf.data's autotuner off on machines with at most this many
# CPUs (see autotune_enabled).
AUTOTUNE_MAX_CPUS_OFF = 4
# TFDS's reader defaults (ReadConfig.interleave_cycle_length, block_length).
_INTERLEAVE_CYCLE = 16
_INTERLEAVE_BLOCK = 16


@dataclasses.dataclass(frozen=True)
class InputConfig:
  """What the input pipeline reads and how it feeds the model.

  Attributes:
    dataset: TFDS name with config, e.g. "pneumonia_xray/gray_204".
    data_dir: TFDS data_dir (local path or gs://); None for TFDS's default.
    image_size: square side the model takes; images are resized if the
      stored size differs.
    channels: channels the model takes (1 or 3); grayscale is expanded to
      RGB and RGB reduced to grayscale as needed.
    target: "label" (normal/pneumonia) or "pneumonia_type" (6 classes).
    global_batch_size: batch size over all replicas.
    shuffle_buffer: examples in the shuffle buffer (per class in resample
      mode); at least the split size for a uniform shuffle.
    cache: keep preprocessed images in memory after the first pass
      (float32: image_size**2 * channels * 4 bytes per example).
    augment: augmentation ranges; None turns augmentation off.
    balance: "none", "class_weight" (the trainer weights the loss with
      `class_weights`; the data are unchanged) or "resample" (balanced
      classes drawn per epoch).
    seed: seed of every random draw in the pipeline.
    drop_remainder: drop the last partial batch, for static shapes (TPUs).
    autotune: tf.data's autotuner: "on", "off", or "auto" (see
      autotune_enabled).
    augment_on: "host" augments here; "device" runs only the pixel path
      here and yields ((images, seeds), targets), the batch changes left to
      the training step (trainer.device_augment), from the same seeds.
  """
  dataset: str = "pneumonia_xray/gray_204"
  data_dir: Optional[str] = None
  image_size: int = 204
  channels: int = 1
  target: str = "label"
  global_batch_size: int = 32
  shuffle_buffer: int = 2048
  cache: bool = False
  augment: Optional[augment_lib.AugmentConfig] = augment_lib.AugmentConfig()
  balance: str = "class_weight"
  seed: int = 0
  drop_remainder: bool = False
  autotune: str = "auto"
  augment_on: str = "host"

  def __post_init__(self):
    if not isinstance(self.dataset, str) or not self.dataset:
      raise ValueError(f"dataset must be a TFDS name such as "
                       f"'pneumonia_xray/gray_204', got {self.dataset!r}")
    if self.data_dir is not None and not isinstance(self.data_dir, str):
      raise ValueError(f"data_dir must be a path string or None, got "
                       f"{self.data_dir!r}")
    if not _is_int(self.image_size) or self.image_size < 8:
      raise ValueError(f"image_size must be an int >= 8, got "
                       f"{self.image_size!r}")
    if self.channels not in preprocess.CHANNELS:
      raise ValueError(f"channels must be one of {preprocess.CHANNELS}, got "
                       f"{self.channels!r}")
    if self.target not in TARGETS:
      raise ValueError(f"target must be one of {TARGETS}, got "
                       f"{self.target!r}")
    if not _is_int(self.global_batch_size) or self.global_batch_size < 1:
      raise ValueError(f"global_batch_size must be an int >= 1, got "
                       f"{self.global_batch_size!r}")
    if not _is_int(self.shuffle_buffer) or self.shuffle_buffer < 1:
      raise ValueError(f"shuffle_buffer must be an int >= 1, got "
                       f"{self.shuffle_buffer!r}")
    if not isinstance(self.cache, bool):
      raise ValueError(f"cache must be a bool, got {self.cache!r}")
    if (self.augment is not None and
        not isinstance(self.augment, augment_lib.AugmentConfig)):
      raise ValueError(f"augment must be an AugmentConfig or None, got "
                       f"{self.augment!r}")
    if self.balance not in BALANCE_MODES:
      raise ValueError(f"balance must be one of {BALANCE_MODES}, got "
                       f"{self.balance!r}")
    if not _is_int(self.seed) or self.seed < 0:
      raise ValueError(f"seed must be an int >= 0, got {self.seed!r}")
    if not isinstance(self.drop_remainder, bool):
      raise ValueError(f"drop_remainder must be a bool, got "
                       f"{self.drop_remainder!r}")
    if self.autotune not in AUTOTUNE_MODES:
      raise ValueError(f"autotune must be one of {AUTOTUNE_MODES}, got "
                       f"{self.autotune!r}")
    if self.augment_on not in AUGMENT_PLACES:
      raise ValueError(f"augment_on must be one of {AUGMENT_PLACES}, got "
                       f"{self.augment_on!r}")


def _is_int(value) -> bool:
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _builder(config: InputConfig) -> tfds.core.DatasetBuilder:
  # Not memoized: a builder made before the data exist keeps empty splits.
  return tfds.builder(config.dataset, data_dir=config.data_dir)


def _num_classes(builder: tfds.core.DatasetBuilder, target: str) -> int:
  return builder.info.features[target].num_classes


def num_classes(config: InputConfig) -> int:
  """Number of classes of config.target (2 for label, 6 for pneumonia_type)."""
  return _num_classes(_builder(config), config.target)


def class_names(config: InputConfig) -> list[str]:
  """Class names of config.target, in class-id order."""
  return list(_builder(config).info.features[config.target].names)


def _seed(config: InputConfig, purpose: int, *more: int) -> int:
  """A 32-bit seed derived from config.seed, a purpose and e.g. a shard id."""
  state = np.random.SeedSequence([config.seed, purpose, *more])
  return int(state.generate_state(1)[0])


def _shard(builder: tfds.core.DatasetBuilder, split: str,
           input_context: Optional[tf.distribute.InputContext]
           ) -> tuple[Union[str, tfds.typing.SplitArg],
                      Optional[tf.distribute.InputContext]]:
  """This input pipeline's part of `split`: (split to read, ReadConfig context).

  With at least as many files as input pipelines, TFDS gives each pipeline
  whole files (ReadConfig.input_context). With fewer, that raises, and TFDS's
  documented alternative is the subsplit API: tfds.even_splits gives each
  pipeline a disjoint range of examples (sizes differ by at most one).
  """
  if input_context is None or input_context.num_input_pipelines <= 1:
    return split, None
  pipelines = input_context.num_input_pipelines
  if builder.info.splits[split].num_shards >= pipelines:
    return split, input_context
  return tfds.even_splits(split, n=pipelines)[
      input_context.input_pipeline_id], None


def _read(builder: tfds.core.DatasetBuilder, split, read_context,
          features: tuple[str, ...], shuffle_files: bool,
          seed: Optional[int]) -> tf.data.Dataset:
  """Examples with only `features` parsed, the image left encoded."""
  decoders = tfds.decode.PartialDecoding(
      {name: True for name in features},
      decoders={"image": tfds.decode.SkipDecoding()}
      if "image" in features else None)
  read_config = tfds.ReadConfig(
      shuffle_seed=seed, input_context=read_context, try_autocache=False,
      skip_prefetch=True)
  return builder.as_dataset(split=split, shuffle_files=shuffle_files,
                            decoders=decoders, read_config=read_config)


def _decode_fn(builder: tfds.core.DatasetBuilder, config: InputConfig,
               with_metadata: bool = False):
  """example dict -> (image, target[, metadata]): decode + to_model_input."""
  image_feature = builder.info.features["image"]

  def decode(example):
    image = image_feature.decode_example(example["image"])
    image = preprocess.to_model_input(image, config.image_size,
                                      config.channels)
    target = tf.cast(example[config.target], tf.int32)
    if not with_metadata:
      return image, target
    metadata = {key: example[key] for key in METADATA_KEYS}
    for key in ("label", "pneumonia_type"):
      metadata[key] = tf.cast(metadata[key], tf.int32)
    return image, target, metadata

  return decode


def _per_replica_batch_size(
    config: InputConfig,
    input_context: Optional[tf.distribute.InputContext]) -> int:
  if input_context is None:
    return config.global_batch_size
  return input_context.get_per_replica_batch_size(config.global_batch_size)


def _batched(dataset: tf.data.Dataset, config: InputConfig,
             input_context) -> tf.data.Dataset:
  return dataset.batch(_per_replica_batch_size(config, input_context),
                       drop_remainder=config.drop_remainder,
                       num_parallel_calls=_parallelism(config))


def _epoch_seed(base: int, epoch: tf.Tensor) -> tf.Tensor:
  """An int64 seed that is a pure function of (base, epoch).

  Every random draw of a training pass is seeded from its epoch number, not
  from how many passes this process has made: a job restarted at epoch k
  draws what an uninterrupted job draws at epoch k.
  """
  return tf.random.stateless_uniform(
      (), seed=tf.stack([tf.constant(base, tf.int64), epoch]), minval=None,
      maxval=None, dtype=tf.int64)


@dataclasses.dataclass(frozen=True)
class _Seeds:
  """Base seeds of one input pipeline's random streams (see _seed)."""
  shuffle: int
  files: int
  augment: int


def _shuffled(dataset: tf.data.Dataset, buffer_size: int,
              seed: tf.Tensor) -> tf.data.Dataset:
  # Each pass is a new instance of this dataset (see make_for_train), so
  # reshuffling inside one instance only matters for repeated streams.
  return dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)


def raw_batch_parser(builder: tfds.core.DatasetBuilder, target: str):
  """A batch of serialized raw-pixel records -> (uint8 images (B, *shape),
  int64 targets (B,)), for a build whose image is a raw Tensor feature.

  Raw pixels need no decoder, only a reshape, and the two features are parsed
  with one parse_example per batch: per-example parsing (TFDS's reader) held
  raw records to about half the rate (bench section 8).
  """
  feature = builder.info.features["image"]
  if not isinstance(feature, tfds.features.Tensor):
    raise ValueError(f"{builder.info.full_name} stores encoded images "
                     f"({type(feature).__name__}), not raw pixels")
  shape = [-1, *feature.shape]
  serialized = builder.info.features.get_serialized_info()
  spec = {name: tf.io.FixedLenFeature(serialized[name].shape,
                                      serialized[name].dtype)
          for name in ("image", target)}

  def parse(records):
    examples = tf.io.parse_example(records, spec)
    images = tf.reshape(tf.io.decode_raw(examples["image"], tf.uint8), shape)
    return images, examples[target]

  return parse


def _batch_decode_fn(builder: tfds.core.DatasetBuilder, config: InputConfig):
  """raw_batch_parser, then the model's input and int32 targets."""
  parse = raw_batch_parser(builder, config.target)

  def decode(records):
    images, targets = parse(records)
    return (preprocess.to_model_input(images, config.image_size,
                                      config.channels),
            tf.cast(targets, tf.int32))

  return decode


def _serialized_records(builder: tfds.core.DatasetBuilder, split,
                        read_context: Optional[tf.distribute.InputContext],
                        seed: tf.Tensor) -> tf.data.Dataset:
  """`split`'s serialized examples, nothing parsed: the files sharded per
  input pipeline, then shuffled, as builder.as_dataset does (TFDS gives the
  files, skip and take of any split or subsplit: file_instructions).

  Read sequentially from an interleave of TFDS's default width: on 2 CPUs a
  parallel interleave read about half as many records per second.
  """
  instructions = builder.info.splits[split].file_instructions
  files = tf.data.Dataset.from_tensor_slices((
      [os.fspath(instruction.filename) for instruction in instructions],
      np.array([instruction.skip for instruction in instructions], np.int64),
      np.array([instruction.take for instruction in instructions], np.int64)))
  if read_context is not None:
    files = files.shard(read_context.num_input_pipelines,
                        read_context.input_pipeline_id)
  files = files.shuffle(len(instructions), seed=seed)
  return files.interleave(
      lambda path, skip, take: tf.data.TFRecordDataset(path).skip(skip).take(
          take), cycle_length=_INTERLEAVE_CYCLE, block_length=_INTERLEAVE_BLOCK)


def _reads_serialized(builder: tfds.core.DatasetBuilder) -> bool:
  """Whether the training pass reads raw-pixel TFRecords unparsed."""
  return (isinstance(builder.info.features["image"], tfds.features.Tensor) and
          builder.info.file_format == tfds.core.FileFormat.TFRECORD)


def _decoded_pass(builder, split, read_context, decode, config: InputConfig,
                  epoch: tf.Tensor, seeds: "_Seeds",
                  cached: Optional[tf.data.Dataset]):
  """One shuffled pass over `split`, drawn from `epoch`'s seeds: (dataset,
  batch decoder). The examples are decoded here, and the decoder is None;
  raw-pixel TFRecords are left serialized for the batch decoder to parse and
  decode after batching.

  Without a cache the shuffle holds encoded examples (about 15 KB each, where
  a decoded float32 204 px image is 166 KB), so memory stays flat as the data
  grow. With config.cache the decoded images are kept anyway (`cached`, made
  once per pipeline), and shuffling them saves decoding every epoch.
  """
  if cached is not None:
    return _shuffled(cached, config.shuffle_buffer,
                     _epoch_seed(seeds.shuffle, epoch)), None
  files_seed = _epoch_seed(seeds.files, epoch)
  serialized = _reads_serialized(builder)
  if serialized:
    dataset = _serialized_records(builder, split, read_context, files_seed)
  else:
    dataset = _read(builder, split, read_context, ("image", config.target),
                    True, files_seed)
  dataset = _shuffled(dataset, config.shuffle_buffer,
                      _epoch_seed(seeds.shuffle, epoch))
  if serialized:
    return dataset, _batch_decode_fn(builder, config)
  return dataset.map(decode, num_parallel_calls=_parallelism(config)), None


def _augmented_batches(dataset: tf.data.Dataset, config: InputConfig,
                       input_context, seed: tf.Tensor,
                       batch_decode=None) -> tf.data.Dataset:
  """Batches, then augments each batch with one seed per example.

  Seeds are paired with examples before batching, so an example's changes do
  not depend on the batch size, nor on where they are made
  (config.augment_on); each transform kernel then runs once per batch
  instead of once per image (about 5% faster on a 2-CPU machine: the
  kernel's per-pixel work dominates either way).
  """
  augment_config = config.augment
  seeds = tf.data.Dataset.random(seed=seed).batch(2)

  def apply(examples, batch_seeds):
    # Raw-pixel TFRecords arrive serialized (see _decoded_pass).
    images, targets = (examples if batch_decode is None
                       else batch_decode(examples))
    if config.augment_on == "device":
      images = augment_lib.pixel_path_batch(images, augment_config,
                                            batch_seeds)
      return (images, batch_seeds), targets
    return augment_lib.augment_batch(images, augment_config,
                                     batch_seeds), targets

  batches = _batched(tf.data.Dataset.zip(dataset, seeds), config,
                     input_context)
  return batches.map(apply, num_parallel_calls=_parallelism(config))


def autotune_enabled(config: InputConfig) -> bool:
  """Whether tf.data's autotuner runs: config.autotune "on"/"off", or "auto".

  "auto" keeps TensorFlow's default (on) except on machines with at most
  AUTOTUNE_MAX_CPUS_OFF CPUs: on 2 CPUs the autotuner ran most epochs of the
  augmented training input at half speed (about 800 instead of 1,550
  examples/s, whole epochs at one speed or the other; bench section 2),
  while fixed parallelism equal to the CPU count never did. With more cores
  to share between input and training it is TensorFlow's recommended
  setting (not measured here: the bench machine has 2 CPUs).
  """
  if config.autotune == "auto":
    return cpus.available_cpus() > AUTOTUNE_MAX_CPUS_OFF
  return config.autotune == "on"


def _parallelism(config: InputConfig) -> int:
  """AUTOTUNE with the autotuner on; the CPU count without it (which is
  what AUTOTUNE falls back to, made explicit)."""
  return (tf.data.AUTOTUNE if autotune_enabled(config)
          else cpus.available_cpus())


def dataset_options(config: Optional[InputConfig] = None) -> tf.data.Options:
  """Options of every pipeline made here (see autotune_enabled)."""
  options = tf.data.Options()
  options.autotune.enabled = autotune_enabled(config or InputConfig())
  return options


def _count_targets(dataset: tf.data.Dataset, target: str,
                   classes: int) -> np.ndarray:
  counts = np.zeros(classes, np.int64)
  for batch in tfds.as_numpy(dataset.batch(4096)):
    counts += np.bincount(batch[target], minlength=classes)
  return counts


class _ResampledStreams:
  """Per-class streams for balance="resample", built once per pipeline.

  Each class present in this pipeline's shard is its own stream, its
  still-encoded examples cached in memory after their first read (so the
  split is read once per class, not once per pass and class); a class with
  count n_c is passed over ceil(r_c) times per epoch, r_c = (N / K) / n_c,
  keeping each element with probability r_c / ceil(r_c) (and again, should
  the epoch need more). So every stream holds about N / K per pass, rare
  classes repeat, frequent ones are subsampled uniformly over a full pass,
  and sample_from_datasets mixes the K streams evenly into an epoch of
  exactly N examples: the same batch shapes every epoch, so a restarted run
  runs the very computations of an uninterrupted one.
  """

  def __init__(self, builder, split, read_context, config: InputConfig,
               pipeline_id: int):
    classes = _num_classes(builder, config.target)
    counts = _count_targets(
        _read(builder, split, read_context, (config.target,), False, None),
        config.target, classes)
    self.present = [c for c in range(classes) if counts[c] > 0]
    if not self.present:
      raise ValueError(f"no examples to resample in {split!r} of "
                       f"{config.dataset} for input pipeline {pipeline_id}")
    self.counts = counts
    self.config = config
    self.pipeline_id = pipeline_id
    self.decode = _decode_fn(builder, config)
    # Cached once per class: still encoded, or decoded with config.cache.
    self.cached = {}
    for c in self.present:
      stream = _read(builder, split, read_context, ("image", config.target),
                     False, None).filter(
                         lambda example, c=c: tf.equal(example[config.target],
                                                       c))
      if config.cache:
        stream = stream.map(self.decode,
                            num_parallel_calls=_parallelism(config))
      self.cached[c] = stream.cache()

  def epoch(self, epoch: tf.Tensor) -> tf.data.Dataset:
    config, pipeline_id = self.config, self.pipeline_id
    per_class = self.counts.sum() / len(self.present)
    streams = []
    for c in self.present:
      rate = per_class / self.counts[c]
      passes = math.ceil(rate - 1e-9)
      keep = rate / passes
      stream = _shuffled(self.cached[c],
                         min(config.shuffle_buffer, int(self.counts[c])),
                         _epoch_seed(_seed(config, _SHUFFLE, pipeline_id, c),
                                     epoch))
      if not config.cache:
        stream = stream.map(self.decode, num_parallel_calls=_parallelism(
            config))
      stream = stream.repeat(passes)
      if keep < 1.0:
        draws = tf.data.Dataset.random(seed=_epoch_seed(
            _seed(config, _KEEP, pipeline_id, c), epoch))
        stream = tf.data.Dataset.zip(stream, draws).filter(
            lambda example, draw, keep=keep: _uniform(draw) < keep).map(
                lambda example, draw: example)
      streams.append(stream.repeat())
    return tf.data.Dataset.sample_from_datasets(
        streams, weights=[1.0 / len(streams)] * len(streams),
        seed=_epoch_seed(_seed(config, _SAMPLE, pipeline_id), epoch)).take(
            int(self.counts.sum()))


def _uniform(draw: tf.Tensor) -> tf.Tensor:
  """An int64 from Dataset.random (32 random bits) -> float64 in [0, 1)."""
  return tf.cast(draw % (1 << 32), tf.float64) / float(1 << 32)


def _epochs(epoch: Optional[tf.Variable],
            steps_per_epoch: Optional[int]) -> tf.data.Dataset:
  """The epoch numbers one iteration of the training input covers.

  With `epoch` (a variable its owner sets to the epoch about to run, e.g. a
  Keras callback), one iteration starts at its value when the iteration
  starts. Without it, a counter of this pipeline's own: 0 on the first
  iteration, 1 on the next. One pass per iteration, or, with
  steps_per_epoch, every epoch from there on (an endless stream).
  """
  if epoch is None:
    with tf.init_scope():
      epoch = tf.Variable(-1, dtype=tf.int64, trainable=False)
    first = tf.data.Dataset.from_tensors(0).map(
        lambda _: epoch.assign_add(1))
  else:
    first = tf.data.Dataset.from_tensors(0).map(
        lambda _: tf.cast(epoch.read_value(), tf.int64))
  if steps_per_epoch is None:
    return first
  return first.flat_map(
      lambda start: tf.data.Dataset.range(start, np.iinfo(np.int64).max))


def make_for_train(
    config: InputConfig,
    input_context: Optional[tf.distribute.InputContext] = None,
    epoch: Optional[tf.Variable] = None,
    steps_per_epoch: Optional[int] = None) -> tf.data.Dataset:
  """The (balanced, if asked) training input, its draws fixed by the epoch.

  Args:
    config: the input configuration.
    input_context: from Strategy.distribute_datasets_from_function; this
      pipeline then reads its own shard and batches per replica.
    epoch: a scalar integer tf.Variable holding the epoch about to run, set
      by the trainer; every shuffle, resampling and augmentation draw is a
      function of (config.seed, epoch, pipeline), so a restarted job sees
      exactly the epochs an uninterrupted one sees. None: the pipeline
      counts its own iterations from 0.
    steps_per_epoch: None for one pass per iteration; else an endless
      stream of epochs of exactly this many batches each (the pass of each
      epoch repeated as needed), for strategies that need every replica fed
      in every step.

  Returns:
    (image float32 (B, S, S, C), target int32 (B,)) batches, B the per-replica
    batch size (the last batch of a pass smaller unless drop_remainder); with
    augmentation on the device, ((image, seeds int64 (B, 2)), target).
  """
  builder = _builder(config)
  split, read_context = _shard(builder, "train", input_context)
  pipeline_id = input_context.input_pipeline_id if input_context else 0
  decode = _decode_fn(builder, config)
  resampled = cached = None
  if config.balance == "resample":
    resampled = _ResampledStreams(builder, split, read_context, config,
                                  pipeline_id)
  elif config.cache:
    cached = _read(builder, split, read_context, ("image", config.target),
                   False, None).map(
                       decode, num_parallel_calls=_parallelism(config)).cache()
  seeds = _Seeds(shuffle=_seed(config, _SHUFFLE, pipeline_id),
                 files=_seed(config, _FILES, pipeline_id),
                 augment=_seed(config, _AUGMENT, pipeline_id))

  def one_epoch(epoch_number: tf.Tensor) -> tf.data.Dataset:
    # The draws below take tensor seeds. Paired with a graph seed of 0 (e.g.
    # after keras.utils.set_random_seed(0)), TF 2.21's random_seed.get_seed
    # tests a tensor seed as a Python bool and fails; this sets the seed of
    # this traced function's graph only, never the process's.
    tf.random.set_seed(_GRAPH_SEED)
    batch_decode = None
    if resampled is not None:
      dataset = resampled.epoch(epoch_number)
    else:
      dataset, batch_decode = _decoded_pass(
          builder, split, read_context, decode, config, epoch_number, seeds,
          cached)
    if config.augment is None:
      dataset = _batched(dataset, config, input_context)
      if batch_decode is not None:
        dataset = dataset.map(batch_decode,
                              num_parallel_calls=_parallelism(config))
    else:
      dataset = _augmented_batches(dataset, config, input_context,
                                   _epoch_seed(seeds.augment, epoch_number),
                                   batch_decode)
    if steps_per_epoch is not None:
      dataset = dataset.repeat().take(steps_per_epoch)
    return dataset

  dataset = _epochs(epoch, steps_per_epoch).flat_map(
      tf.autograph.experimental.do_not_convert(one_epoch))
  return dataset.prefetch(tf.data.AUTOTUNE).with_options(
      dataset_options(config))


def make_for_eval(
    config: InputConfig, split: str = "validation",
    input_context: Optional[tf.distribute.InputContext] = None,
    with_metadata: bool = False) -> tf.data.Dataset:
  """One pass over `split` in stored order; no shuffling, no augmentation.

  Args:
    config: the input configuration (augment, balance, shuffle_buffer and
      seed are ignored).
    split: a TFDS split name ("validation", "test", "train", or a subsplit
      such as "test[:50%]").
    input_context: as for make_for_train.
    with_metadata: also yield a dict of per-example metadata: "source",
      "view", "patient_id", "file_name" (tf.string) and "label",
      "pneumonia_type" (int32), for per-source evaluation.

  Returns:
    (image, target) or (image, target, metadata) batches; the last batch is
    partial unless config.drop_remainder.
  """
  builder = _builder(config)
  split, read_context = _shard(builder, split, input_context)
  features = ("image", config.target)
  if with_metadata:
    features = tuple(dict.fromkeys(features + METADATA_KEYS))
  dataset = _read(builder, split, read_context, features, False, None)
  dataset = dataset.map(_decode_fn(builder, config, with_metadata),
                        num_parallel_calls=_parallelism(config))
  if config.cache:
    dataset = dataset.cache()
  return _batched(dataset, config, input_context).prefetch(
      tf.data.AUTOTUNE).with_options(dataset_options(config))


def class_counts(config: InputConfig, split: str = "train") -> np.ndarray:
  """Examples per class of config.target in `split` (int64, num_classes long).

  Reads only the target feature: images are neither parsed nor decoded.
  """
  builder = _builder(config)
  dataset = _read(builder, split, None, (config.target,), False, None)
  return _count_targets(dataset, config.target,
                        _num_classes(builder, config.target))


def class_weights(counts) -> dict[int, float]:
  """Balanced loss weights, total / (K * count_c), for every class id.

  scikit-learn's compute_class_weight("balanced") over the classes present
  (K of them): the weights average to 1 over the examples. Classes with zero
  count get 0.0 (they never occur, and Keras would give a missing key weight
  1.0).
  """
  counts = np.asarray(counts)
  if counts.ndim != 1 or np.any(counts < 0):
    raise ValueError(f"counts must be a 1-D array of non-negative counts, "
                     f"got {counts}")
  present = np.flatnonzero(counts)
  if present.size == 0:
    raise ValueError("counts are all zero: no class to weight")
  labels = np.repeat(np.arange(counts.size), counts.astype(np.int64))
  weights = class_weight.compute_class_weight("balanced", classes=present,
                                              y=labels)
  result = dict.fromkeys(range(counts.size), 0.0)
  result.update({int(c): float(w) for c, w in zip(present, weights)})
  return result
