"""The training pass over raw-pixel TFRecords: read serialized, shuffled,
then parsed and decoded once per batch (pipeline.input._serialized_records)."""

import collections
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pipeline import input as input_lib

RAW = "pneumonia_xray/gray_96_raw"
SHARDS = 3


@pytest.fixture(scope="module")
def sharded_raw_data_dir(tiny_manual_dir, tmp_path_factory):
  """gray_96_raw written to SHARDS files per split, so that per-file
  sharding, file shuffling and the interleave all have work to do."""
  data_dir = tmp_path_factory.mktemp("raw_sharded")
  builder = tfds.builder(RAW, data_dir=os.fspath(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(tiny_manual_dir), num_shards=SHARDS))
  assert builder.info.splits["train"].num_shards == SHARDS
  return data_dir


def _config(data_dir, **overrides) -> input_lib.InputConfig:
  kwargs = dict(dataset=RAW, data_dir=os.fspath(data_dir), image_size=96,
                global_batch_size=8, augment=None)
  kwargs.update(overrides)
  return input_lib.InputConfig(**kwargs)


def _examples(dataset) -> list[tuple[bytes, int]]:
  return [(image.tobytes(), int(target))
          for image, target in dataset.unbatch().as_numpy_iterator()]


def test_raw_tfrecords_are_read_serialized(sharded_raw_data_dir, tiny_data_dir):
  raw = tfds.builder(RAW, data_dir=os.fspath(sharded_raw_data_dir))
  jpeg = tfds.builder("pneumonia_xray/gray_96",
                      data_dir=os.fspath(tiny_data_dir))
  assert input_lib._reads_serialized(raw)  # pylint: disable=protected-access
  assert not input_lib._reads_serialized(jpeg)  # pylint: disable=protected-access


@pytest.mark.parametrize("pipelines", [1, 2, 3, 4])
def test_input_pipelines_cover_the_split_once_with_evals_pixels(
    sharded_raw_data_dir, pipelines):
  """Up to SHARDS pipelines get whole files; more get even subsplits (a
  skip and take inside the files). Either way each example is read once,
  with the very pixels and target that the per-example eval path decodes."""
  config = _config(sharded_raw_data_dir)
  expected = collections.Counter(
      _examples(input_lib.make_for_eval(config, "train")))
  assert sum(expected.values()) == tfds.builder(
      RAW, data_dir=os.fspath(sharded_raw_data_dir)).info.splits[
          "train"].num_examples
  read = collections.Counter()
  for pipeline_id in range(pipelines):
    context = tf.distribute.InputContext(num_input_pipelines=pipelines,
                                         input_pipeline_id=pipeline_id,
                                         num_replicas_in_sync=1)
    read.update(_examples(input_lib.make_for_train(config, context)))
  assert read == expected


def test_passes_are_seeded_by_the_epoch_and_shuffled_across_files(
    sharded_raw_data_dir):
  config = _config(sharded_raw_data_dir, seed=7)
  counting = input_lib.make_for_train(config)
  passes = [_examples(counting) for _ in range(3)]
  assert passes[1] != passes[2]
  assert sorted(passes[1]) == sorted(passes[2])
  for epoch in (2, 1):
    told = input_lib.make_for_train(config,
                                    epoch=tf.Variable(epoch, dtype=tf.int64))
    assert _examples(told) == passes[epoch]
  assert _examples(input_lib.make_for_train(_config(
      sharded_raw_data_dir, seed=8))) != passes[0]
  # The first batch mixes files: the shuffle runs over all of them, not file
  # by file.
  stored = _examples(input_lib.make_for_eval(config, "train"))
  first_file = set(stored[:len(stored) // SHARDS])
  first_batch = passes[0][:config.global_batch_size]
  assert not set(first_batch) <= first_file


def test_augmented_batches_parse_the_same_examples(sharded_raw_data_dir):
  """With augmentation (host and device), the batches hold every target
  once, and the device variant yields one seed pair per image."""
  labels = sorted(t for _, t in _examples(input_lib.make_for_eval(
      _config(sharded_raw_data_dir), "train")))
  host = input_lib.make_for_train(_config(
      sharded_raw_data_dir, augment=input_lib.InputConfig().augment))
  assert sorted(np.concatenate([t for _, t in host.as_numpy_iterator()])
                .tolist()) == labels
  device = input_lib.make_for_train(_config(
      sharded_raw_data_dir, augment=input_lib.InputConfig().augment,
      augment_on="device"))
  seen = []
  for (images, seeds), targets in device.as_numpy_iterator():
    assert images.shape[1:] == (96, 96, 1) and images.dtype == np.float32
    assert seeds.shape == (len(images), 2)
    seen += targets.tolist()
  assert sorted(seen) == labels
