"""DatasetInfo's description: the README's first paragraph and where the
rest is, not the whole README (`tfds build` prints the description)."""

import pathlib

import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pneumonia_tfds.datasets.pneumonia_xray import (
    pneumonia_xray_dataset_builder as builder_lib)

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_description_is_the_first_paragraph_and_a_pointer():
  readme = (REPO / builder_lib.README).read_text(encoding="utf-8")
  description = tfds.builder("pneumonia_xray/gray_96").info.description
  first, pointer = description.split("\n\n")
  assert first.startswith("Chest X-rays from three public collections")
  assert " ".join(first.split()) in " ".join(readme.split())
  assert builder_lib.README in pointer
  assert "#" not in description
  assert len(description) < len(readme) / 10
