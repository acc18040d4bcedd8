"""pneumonia-tfds: merged public chest X-ray collections as a TFDS dataset.

Importing the package registers the `pneumonia_xray` dataset with TFDS.
"""

from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder

PneumoniaXrayConfig = pneumonia_xray_dataset_builder.PneumoniaXrayConfig
