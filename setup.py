"""pneumonia-tfds: a reproducible TFDS chest X-ray dataset and its trainer."""

import setuptools

setuptools.setup(
    name="pneumonia-tfds",
    version="0.1.0",
    description=("Merged public chest X-ray collections as a TensorFlow "
                 "Datasets builder, with a tf.data pipeline and Keras trainer."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=("pneumonia_tfds*", "pipeline*",
                                               "trainer*")),
    package_data={"pneumonia_tfds.datasets.pneumonia_xray": [
        "checksums.tsv", "README.md", "CITATIONS.bib", "dummy_data/**/*"]},
    include_package_data=True,
    install_requires=[
        "tensorflow-cpu==2.21.0; platform_machine=='x86_64'",
        "tensorflow==2.21.0; platform_machine!='x86_64'",
        "keras==3.15.1",
        # TensorFlow 2.21 no longer installs it; the TensorBoard callback needs it.
        "tensorboard==2.21.0",
        "tensorflow-datasets==4.9.10",
        # The `tfds` command of tensorflow-datasets 4.9 crashes at import
        # without these two.
        "apache-beam==2.77.0",
        "mlcroissant==1.1.1",
        # tensorflow-datasets 4.9.10 imports it without declaring it.
        "importlib_resources==7.1.0",
        "etils==1.15.0",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "pillow==12.3.0",
        "scikit-learn==1.9.1",
        "matplotlib==3.11.2",
        "absl-py==2.5.1",
        "psutil==7.2.2",
    ],
    entry_points={"console_scripts": [
        "pneumonia-train=trainer.train:console_main",
        "pneumonia-evaluate=trainer.evaluate:console_main",
        "pneumonia-predict=trainer.predict:console_main",
    ]},
    extras_require={
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        # tfds.testing imports dill, which tensorflow-datasets only pulls in
        # through its own test extras.
        "test": ["pytest==9.0.3", "dill==0.4.1"],
    },
)
