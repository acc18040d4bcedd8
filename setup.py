"""pneumonia-tfds: a reproducible TFDS chest X-ray dataset and its trainer.

Requirements are ranges: each lower bound is the oldest release with what the
code calls or that fits the other ranges (installed together, psutil's and
pytest's aside, the lower bounds built the dummy dataset, trained in all three
precisions, drew the plots and ran `tfds build --help`); upper
bounds stop at the next major, or next minor where minors break. CI tests the
exact versions in constraints.txt:

  pip install -e ".[test]" -c constraints.txt

The lists are module constants so tests/test_install.py can read them without
running setup().
"""

import setuptools

# TensorFlow minors change their own dependencies (2.21 stopped installing
# tensorboard), so both TensorFlow and tensorboard stop at the next minor.
# Versions below 2.20 require numpy < 2.2 and protobuf < 6.
TENSORFLOW = "tensorflow>=2.20,<2.22"
# MapDataset at the package top level; tested with 0.2.18.
GRAIN = "grain>=0.2.18,<0.3"

INSTALL_REQUIRES = [
    # One distribution on every platform. On Linux (x86_64 and aarch64) it
    # runs on both CPU and GPU; the `gpu` extra only adds NVIDIA's CUDA
    # wheels. Never tensorflow-cpu next to it: both install into the same
    # tensorflow/ folder, and uninstalling either one breaks the other.
    TENSORFLOW,
    # Keras 3 (keras.ops, keras.config dtype policies, .keras files);
    # TensorFlow 2.20 needs >=3.10 itself.
    "keras>=3.10,<4",
    # TensorFlow 2.21 no longer installs it; the TensorBoard callback needs it.
    "tensorboard>=2.20,<2.22",
    # The workarounds below (CLI imports, importlib_resources, dill) were found
    # on the 4.9 line; 4.10 may differ.
    "tensorflow-datasets>=4.9.7,<4.10",
    # The `tfds` command of tensorflow-datasets 4.9 crashes at import
    # without these two. Beam before 2.69 caps protobuf below 6, which
    # TensorFlow 2.21 needs.
    "apache-beam>=2.69,<3",
    "mlcroissant>=1.0.9,<2",
    # tensorflow-datasets 4.9.10 imports it without declaring it.
    "importlib_resources>=6.0,<8",
    # epath.Path; tensorflow-datasets asks for >=1.9.1 on Python 3.11+.
    "etils>=1.9.1,<2",
    # NumPy 2's ABI and type promotion, which the compiled packages above
    # and below are built for.
    "numpy>=2.0,<3",
    # 2.2.2 is the first pandas built against NumPy 2.
    "pandas>=2.2.2,<4",
    # Image.Resampling is new in 9.1; 9.3 is the oldest tried.
    "pillow>=9.3,<13",
    # PrecisionRecallDisplay.from_predictions(curve_kwargs=) is new in 1.9
    # (plots.py); confusion_matrix_at_thresholds in 1.8 (thresholds.py).
    "scikit-learn>=1.9,<2",
    # 3.9 is the first matplotlib built against NumPy 2.
    "matplotlib>=3.9,<4",
    "absl-py>=1.0,<3",
    # Only bench/: Process().memory_info().
    "psutil>=5.0,<8",
    # Near-duplicate fingerprints (phash, dhash); 4.3 takes a hash_size for
    # dhash and works with NumPy 2.
    "imagehash>=4.3,<5",
    # DICOM input (pneumonia_tfds/dicom.py): pydicom.pixels.processing is new
    # in 3.0; the plugins decode JPEG baseline/extended/lossless and JPEG-LS
    # (libjpeg), JPEG 2000 (openjpeg) and RLE (rle) for pydicom 3's pixel
    # interface, which needs pylibjpeg 2. Tried only at constraints.txt's
    # versions, not at these lower bounds.
    "pydicom>=3.0,<4",
    "pylibjpeg>=2.0,<3",
    "pylibjpeg-libjpeg>=2.1,<3",
    "pylibjpeg-openjpeg>=2.3,<3",
    "pylibjpeg-rle>=2.0,<3",
]

EXTRAS_REQUIRE = {
    # TensorFlow's own GPU install ("pip install tensorflow[and-cuda]"): the
    # same distribution as above, same range, plus NVIDIA's CUDA and cuDNN
    # wheels, which exist only for Linux.
    "gpu": ["tensorflow[and-cuda]>=2.20,<2.22; sys_platform == 'linux'"],
    # The tests use only tmp_path, monkeypatch and parametrize.
    # tfds.testing imports dill, which tensorflow-datasets only pulls in
    # through its own test extras; 0.3.6 is the first dill for Python 3.11.
    "test": ["pytest>=7,<10", "dill>=0.3.6,<0.5", GRAIN],
    # Reading ArrayRecord builds without TensorFlow's tf.data (JAX users):
    # grain's MapDataset over tfds.data_source.
    "grain": [GRAIN],
}

if __name__ == "__main__":
  setuptools.setup(
      name="pneumonia-tfds",
      version="0.1.0",
      description=("Merged public chest X-ray collections as a TensorFlow "
                   "Datasets builder, with a tf.data pipeline and Keras "
                   "trainer."),
      long_description=open("README.md", encoding="utf-8").read(),
      long_description_content_type="text/markdown",
      license="Apache-2.0",
      python_requires=">=3.10",
      packages=setuptools.find_packages(include=("pneumonia_tfds*",
                                                 "pipeline*", "trainer*")),
      package_data={"pneumonia_tfds.datasets.pneumonia_xray": [
          "checksums.tsv", "README.md", "CITATIONS.bib", "dummy_data/**/*"]},
      include_package_data=True,
      install_requires=INSTALL_REQUIRES,
      entry_points={"console_scripts": [
          "pneumonia-train=trainer.train:console_main",
          "pneumonia-evaluate=trainer.evaluate:console_main",
          "pneumonia-predict=trainer.predict:console_main",
          "pneumonia-choose-threshold=trainer.choose_threshold:console_main",
      ]},
      extras_require=EXTRAS_REQUIRE,
  )
