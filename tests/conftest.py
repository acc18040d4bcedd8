"""Shared fixtures: the real images in ../shared/data and small builds of them.

Set PNEUMONIA_SHARED_DATA to point elsewhere; there is no fallback to fake
data, since these tests exist to check behaviour on the real files.
"""

import os
import pathlib
import shutil
import sys

import pytest

# Before TensorFlow is first imported: keep its C++ start-up chatter out of
# test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(
    os.environ.get("PNEUMONIA_SHARED_DATA", REPO.parent / "shared" / "data"))

# Kept small so that every test module can afford a build of its own.
TINY_PER_CLASS = {"train": 30, "test": 10}
TINY_IEEE8023_FILES = 20


def _require_shared_data() -> pathlib.Path:
  if not (SHARED_DATA / "chest_xray").is_dir():
    raise FileNotFoundError(
        f"real data not found at {SHARED_DATA}; set PNEUMONIA_SHARED_DATA to "
        "the folder holding chest_xray/, coronahack/, covid-chestxray-dataset/")
  return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """../shared/data, read-only: never write into it."""
  return _require_shared_data()


def shared_originals(shared: pathlib.Path) -> list[pathlib.Path]:
  """The 432 full-size originals: the 286 Kermany JPEGs, then the 146
  ieee8023 images (JPEG and PNG), each part sorted by path."""
  kermany = sorted((shared / "chest_xray").rglob("*.jpeg"))
  ieee8023 = sorted((shared / "covid-chestxray-dataset" / "images").iterdir())
  return kermany + ieee8023


def copy_kermany_subset(target: pathlib.Path, per_class: dict[str, int],
                        shared: pathlib.Path = SHARED_DATA) -> None:
  """Copies the first `per_class[split]` chest_xray_small files (by name) of
  each class into target/chest_xray/<split>/<CLASS>/, a Kermany layout."""
  for split, count in per_class.items():
    for cls in ("NORMAL", "PNEUMONIA"):
      source = shared / "chest_xray_small" / split / cls
      destination = target / "chest_xray" / split / cls
      destination.mkdir(parents=True)
      for path in sorted(source.iterdir())[:count]:
        shutil.copyfile(path, destination / path.name)


def make_tiny_manual_dir(target: pathlib.Path) -> pathlib.Path:
  """A manual_dir of real images: a Kermany-layout subset of chest_xray_small
  (first files by name per class) and the ieee8023 metadata with a few of its
  frontal images. Files are copied, since links out of a source root are
  refused by the readers."""
  shared = _require_shared_data()
  copy_kermany_subset(target, TINY_PER_CLASS, shared)
  ieee = shared / "covid-chestxray-dataset"
  (target / "covid-chestxray-dataset" / "images").mkdir(parents=True)
  shutil.copyfile(ieee / "metadata.csv",
                  target / "covid-chestxray-dataset" / "metadata.csv")
  # Every 7th file by name: a spread over findings (COVID-19 among them).
  for path in sorted((ieee / "images").iterdir())[::7][:TINY_IEEE8023_FILES]:
    shutil.copyfile(path, target / "covid-chestxray-dataset" / "images" / path.name)
  return target


@pytest.fixture(scope="session")
def tiny_manual_dir(tmp_path_factory) -> pathlib.Path:
  return make_tiny_manual_dir(tmp_path_factory.mktemp("tiny_manual"))


def tfds_command(*arguments: str) -> list[str]:
  """The `tfds` command line with this interpreter's `tfds`."""
  script = pathlib.Path(sys.executable).with_name("tfds")
  launcher = [os.fspath(script)] if script.is_file() else [
      sys.executable, "-c",
      "import sys; from tensorflow_datasets.scripts.cli.main import "
      "launch_cli; sys.argv[0] = 'tfds'; sys.exit(launch_cli())"]
  return launcher + list(arguments)


def offline_environment() -> dict[str, str]:
  """os.environ for a subprocess that must not reach the internet.

  Beam's DirectRunner first tries to download its Prism runner; an
  unreachable proxy makes that fail at once (it then runs the pipeline
  itself). Local gRPC traffic between Beam's workers stays direct.
  """
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
              http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9",
              no_proxy="localhost,127.0.0.1")


def build(manual_dir: pathlib.Path, data_dir: pathlib.Path,
          config: str = "gray_96", **builder_kwargs):
  """Builds pneumonia_xray/<config> as `tfds build` would; returns the builder."""
  import tensorflow_datasets as tfds
  import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)

  builder = tfds.builder(f"pneumonia_xray/{config}", data_dir=os.fspath(data_dir),
                         **builder_kwargs)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(
          manual_dir=os.fspath(manual_dir)))
  return builder


@pytest.fixture(scope="session")
def tiny_data_dir(tiny_manual_dir, tmp_path_factory) -> pathlib.Path:
  """data_dir holding pneumonia_xray/gray_96 built from the tiny manual_dir
  (about 100 real images; train, validation and test all non-empty)."""
  data_dir = tmp_path_factory.mktemp("tiny_data")
  build(tiny_manual_dir, data_dir, "gray_96")
  return data_dir


@pytest.fixture(scope="session")
def tiny_raw_data_dir(tiny_manual_dir, tmp_path_factory) -> pathlib.Path:
  """data_dir holding pneumonia_xray/gray_96_raw (raw uint8 pixels) built
  from the same tiny manual_dir as tiny_data_dir."""
  data_dir = tmp_path_factory.mktemp("tiny_raw_data")
  build(tiny_manual_dir, data_dir, "gray_96_raw")
  return data_dir


@pytest.fixture
def ram_bucket(monkeypatch, request) -> str:
  """A fresh folder on TensorFlow's in-memory ram:// filesystem, standing in
  for a bucket (gs://): the same tf.io.gfile code path, in this process.

  One difference is bridged: TF 2.21's RamFileSystem appends when a file is
  opened for writing again (or copied over), where a bucket replaces the
  object; here such a write replaces it too, as it would on GCS.
  """
  import tensorflow as tf

  gfile = tf.io.gfile
  open_file, copy_file = gfile.GFile, gfile.copy

  def replacing_open(name, mode="r"):
    if str(name).startswith("ram://") and "w" in mode and gfile.exists(name):
      gfile.remove(name)
    return open_file(name, mode)

  def replacing_copy(source, destination, overwrite=False):
    if (overwrite and str(destination).startswith("ram://")
        and gfile.exists(destination)):
      gfile.remove(destination)
    return copy_file(source, destination, overwrite)

  monkeypatch.setattr(gfile, "GFile", replacing_open)
  monkeypatch.setattr(gfile, "copy", replacing_copy)
  root = f"ram://{request.node.name.replace('[', '_').replace(']', '')}"
  yield root
  if gfile.exists(root):
    gfile.rmtree(root)
