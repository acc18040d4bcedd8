"""ArrayRecord builds: random access with tfds.data_source, and a Grain loop,
with no tf.data pipeline."""

import os
import subprocess

import numpy as np
import pytest

from tests import conftest

DUMMY_DATA = (conftest.REPO /
              "pneumonia_tfds/datasets/pneumonia_xray/dummy_data")
CONFIG = "gray_96"


def _tfds_build(data_dir, *extra):
  command = conftest.tfds_command(
      "build", "pneumonia_xray", "--imports", "pneumonia_tfds", "--config",
      CONFIG, "--manual_dir", os.fspath(DUMMY_DATA), "--data_dir",
      os.fspath(data_dir), *extra)
  result = subprocess.run(command, cwd=conftest.REPO, capture_output=True,
                          text=True, env=conftest.offline_environment(),
                          timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
  array_record = tmp_path_factory.mktemp("array_record")
  tfrecord = tmp_path_factory.mktemp("tfrecord")
  _tfds_build(array_record, "--file_format=array_record")
  _tfds_build(tfrecord)
  return array_record, tfrecord


def _by_sha256(examples):
  return {example["sha256"]: example for example in examples}


def test_data_source_gives_random_access_to_the_same_examples(builds):
  import tensorflow_datasets as tfds

  array_record, tfrecord = builds
  assert list(array_record.rglob("*.array_record-*"))
  for split in ("train", "validation", "test"):
    source = tfds.data_source(f"pneumonia_xray/{CONFIG}", split=split,
                              data_dir=os.fspath(array_record))
    # Backwards, to show the access is random, not a stream.
    from_source = [source[i] for i in reversed(range(len(source)))]
    from_tfrecord = list(tfds.as_numpy(tfds.load(
        f"pneumonia_xray/{CONFIG}", split=split,
        data_dir=os.fspath(tfrecord), download=False)))
    stored = tfds.data_source(f"pneumonia_xray/{CONFIG}", split=split,
                              data_dir=os.fspath(array_record),
                              decoders={"image": tfds.decode.SkipDecoding()})
    stored_tfrecord = tfds.as_numpy(tfds.load(
        f"pneumonia_xray/{CONFIG}", split=split, data_dir=os.fspath(tfrecord),
        download=False, decoders={"image": tfds.decode.SkipDecoding()}))
    # The same stored JPEG bytes in both formats.
    assert ({e["sha256"]: e["image"] for e in stored} ==
            {e["sha256"]: e["image"] for e in stored_tfrecord})
    assert len(from_source) == len(from_tfrecord) > 0
    expected = _by_sha256(from_tfrecord)
    for sha256, example in _by_sha256(from_source).items():
      assert example["image"].shape == (96, 96, 1)
      assert example["image"].dtype == np.uint8
      # Decoded by Pillow here and by TensorFlow in tf.data: the two JPEG
      # decoders' IDCTs differ by a few levels at most.
      difference = np.abs(example["image"].astype(int) -
                          expected[sha256]["image"].astype(int))
      assert difference.max() <= 8 and difference.mean() < 1.0
      assert example["label"] == expected[sha256]["label"]
      assert example["patient_group"] == expected[sha256]["patient_group"]


def test_a_grain_loop_reads_every_example_once_per_epoch(builds):
  import grain
  import tensorflow_datasets as tfds

  array_record, _ = builds
  source = tfds.data_source(f"pneumonia_xray/{CONFIG}", split="train",
                            data_dir=os.fspath(array_record))

  def preprocess(example):
    return {"image": example["image"].astype(np.float32) / 255.0,
            "label": example["label"], "sha256": example["sha256"]}

  def epoch(seed):
    loader = (grain.MapDataset.source(source).shuffle(seed=seed)
              .map(preprocess).batch(4))
    return list(loader)

  batches = epoch(seed=0)
  images = np.concatenate([batch["image"] for batch in batches])
  assert images.shape == (len(source), 96, 96, 1)
  assert 0.0 <= images.min() and images.max() <= 1.0
  seen = [sha for batch in batches for sha in batch["sha256"]]
  assert sorted(seen) == sorted(source[i]["sha256"] for i in range(len(source)))
  # Same seed, same order; another seed, another order.
  assert [list(b["sha256"]) for b in epoch(seed=0)] == [
      list(b["sha256"]) for b in batches]
  assert [sha for b in epoch(seed=1) for sha in b["sha256"]] != seen
