"""How a run's TFDS config stores its images, read from the builder's code.

The dataset itself need not be on this machine: prediction and the serving
export only need its geometry and image feature.
"""

import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pneumonia_tfds import per_file


def stored_format(dataset: str) -> tuple[per_file.Geometry,
                                         tfds.features.FeatureConnector]:
  """The stored image geometry of a TFDS config, and its image feature (an
  Image for JPEG and PNG, a uint8 Tensor for raw pixels)."""
  builder = tfds.builder(dataset)
  return (per_file.Geometry.of(builder.builder_config),
          builder.info.features["image"])
