"""Raw-pixel configs: the same examples as their JPEG twins, the build's
fitted pixels exactly, read by tf.data, tfds.data_source and the pipeline."""

import csv
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from pneumonia_tfds import images as images_lib
from pneumonia_tfds.datasets.pneumonia_xray import (
    pneumonia_xray_dataset_builder as builder_lib)
from pipeline import input as input_lib
from tests import conftest

JPEG, RAW = "pneumonia_xray/gray_96", "pneumonia_xray/gray_96_raw"


def _examples(name, data_dir, split, **kwargs):
  return {example["sha256"]: example for example in tfds.as_numpy(tfds.load(
      name, split=split, data_dir=os.fspath(data_dir), download=False,
      **kwargs))}


def _written_paths(data_dir, name) -> dict[str, str]:
  """sha256 -> the source file (relative to manual_dir) each example is of."""
  folder = tfds.builder(name, data_dir=os.fspath(data_dir)).data_dir
  with open(os.path.join(folder, "build_report.csv"), newline="",
            encoding="utf-8") as f:
    return {row["sha256"]: row["path"] for row in csv.DictReader(f)
            if row["status"] == "written"}


def test_every_fixed_size_training_config_has_a_raw_twin():
  configs = {config.name: config for config in builder_lib.Builder.BUILDER_CONFIGS}
  for name in ("gray_204", "rgb_204", "gray_224", "rgb_224", "gray_96",
               "small_gray_204", "small_gray_204_patient_splits"):
    raw = configs[f"{name}_raw"]
    assert raw.encoding == "raw" and configs[name].encoding == "jpeg"
    # Only the codec differs.
    assert {**vars(raw), "name": name, "description": "",
            "image_encoding": None} == {**vars(configs[name]),
                                        "description": ""}
  assert configs["gray_original"].encoding == "png"
  assert "gray_original_raw" not in configs


def test_raw_needs_a_fixed_size_and_a_known_codec():
  with pytest.raises(ValueError, match="fixed image_size"):
    builder_lib.PneumoniaXrayConfig(name="x", image_size=None,
                                    image_encoding="raw")
  with pytest.raises(ValueError, match="image_encoding must be"):
    builder_lib.PneumoniaXrayConfig(name="x", image_encoding="webp")


def test_the_feature_is_a_uint8_tensor_of_bytes(tiny_raw_data_dir):
  feature = tfds.builder(RAW, data_dir=os.fspath(tiny_raw_data_dir)).info.features["image"]
  assert isinstance(feature, tfds.features.Tensor)
  assert feature.shape == (96, 96, 1) and feature.dtype == np.uint8
  stored = _examples(RAW, tiny_raw_data_dir, "train",
                     decoders={"image": tfds.decode.SkipDecoding()})
  # 96 * 96 bytes each: nothing to decode but a reshape.
  assert {len(example["image"]) for example in stored.values()} == {96 * 96}


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_same_examples_as_the_jpeg_twin_and_the_fitted_pixels_exactly(
    tiny_manual_dir, tiny_data_dir, tiny_raw_data_dir, split):
  jpeg = _examples(JPEG, tiny_data_dir, split)
  raw = _examples(RAW, tiny_raw_data_dir, split)
  assert raw.keys() == jpeg.keys() and raw
  paths = _written_paths(tiny_raw_data_dir, RAW)
  for sha256, example in raw.items():
    for key in ("label", "pneumonia_type", "patient_group", "file_name",
                "source", "view"):
      assert example[key] == jpeg[sha256][key]
    with open(tiny_manual_dir / paths[sha256.decode()], "rb") as f:
      fitted = images_lib.load_fitted(f.read(), 96, 1)
    np.testing.assert_array_equal(example["image"], fitted)
    # The JPEG twin holds the same pixels, coded at quality 95.
    difference = np.abs(example["image"].astype(int) -
                        jpeg[sha256]["image"].astype(int))
    assert 0 < difference.max() <= 16 and difference.mean() < 2.0


def test_the_pipeline_reads_both_with_the_same_batches_of_the_same_shape(
    tiny_data_dir, tiny_raw_data_dir):
  batches = {}
  for name, data_dir in ((JPEG, tiny_data_dir), (RAW, tiny_raw_data_dir)):
    config = input_lib.InputConfig(dataset=name, data_dir=os.fspath(data_dir),
                                   image_size=96, global_batch_size=8)
    batches[name] = [(images.numpy(), targets.numpy()) for images, targets
                     in input_lib.make_for_eval(config, split="validation")]
    train = next(iter(input_lib.make_for_train(config)))
    assert train[0].shape == (8, 96, 96, 1) and train[0].dtype == tf.float32
  assert len(batches[JPEG]) == len(batches[RAW])
  for (jpeg_images, jpeg_targets), (raw_images, raw_targets) in zip(
      batches[JPEG], batches[RAW]):
    np.testing.assert_array_equal(jpeg_targets, raw_targets)
    np.testing.assert_allclose(raw_images, jpeg_images, atol=16 / 255)


def test_an_array_record_build_reads_without_tensorflow(
    tiny_manual_dir, tiny_raw_data_dir, tmp_path):
  conftest.build(tiny_manual_dir, tmp_path, "gray_96_raw",
                 file_format="array_record")
  source = tfds.data_source(RAW, split="validation",
                            data_dir=os.fspath(tmp_path))
  from_tfrecord = {}
  assert len(source) > 0
  for i in reversed(range(len(source))):
    example = source[i]
    assert example["image"].shape == (96, 96, 1)
    assert example["image"].dtype == np.uint8
    from_tfrecord[example["sha256"]] = example["image"]
  reference = _examples(RAW, tiny_raw_data_dir, "validation")
  assert from_tfrecord.keys() == reference.keys()
  for sha256, image in from_tfrecord.items():
    # The same pixels as tf.data reads from the TFRecord build: no decoder
    # is involved in either.
    np.testing.assert_array_equal(image, reference[sha256]["image"])
