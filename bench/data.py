"""The images the benchmark runs on, and the builds and copies it makes of them.

Everything written goes under the run's work folder (a temporary folder by
default); ../shared/data is only read.
"""

import contextlib
import io
import os
import shutil
from typing import Iterator, Optional, Sequence

KERMANY = "chest_xray"
SMALL = "chest_xray_small"
CLASSES = ("NORMAL", "PNEUMONIA")
KERMANY_SPLITS = ("train", "val", "test")
SMALL_SPLITS = ("train", "test")
IMAGE_SIZE = 204


def class_files(root: str, splits: Sequence[str],
                per_folder: Optional[int] = None,
                every: int = 1) -> list[str]:
  """Sorted image paths under root/{split}/{CLASS}/.

  Args:
    root: a Kermany-layout folder.
    splits: split folders to list.
    per_folder: keep at most this many files of each folder (first by name).
    every: keep every `every`-th file of each folder (a stratified fraction).
  """
  paths = []
  for split in splits:
    for cls in CLASSES:
      folder = os.path.join(root, split, cls)
      if not os.path.isdir(folder):
        continue
      names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
      names = names[::every][:per_folder]
      paths += [os.path.join(folder, n) for n in names]
  return paths


def label_of(path: str) -> int:
  """1 for a file in a PNEUMONIA folder, else 0 (the folder is the label)."""
  return int(os.path.basename(os.path.dirname(path)) == "PNEUMONIA")


def copy_tree(paths: Sequence[str], source_root: str,
              target_root: str) -> list[str]:
  """Copies files keeping their paths relative to source_root.

  Copies, not links: the builder refuses links that lead out of a source
  folder.
  """
  copies = []
  for path in paths:
    target = os.path.join(target_root, os.path.relpath(path, source_root))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(path, target)
    copies.append(target)
  return copies


def link_tree(paths: Sequence[str], target_root: str) -> str:
  """Symlinks target_root/{CLASS}/<name>: the layout that
  image_dataset_from_directory reads (labels from the class folder)."""
  for path in paths:
    cls = os.path.basename(os.path.dirname(path))
    folder = os.path.join(target_root, cls)
    os.makedirs(folder, exist_ok=True)
    link = os.path.join(folder, os.path.basename(path))
    if not os.path.lexists(link):
      os.symlink(os.path.abspath(path), link)
  return target_root


def warm_page_cache(paths: Sequence[str]) -> int:
  """Reads every file once, so no contender pays for the first disk read."""
  total = 0
  for path in paths:
    with open(path, "rb") as f:
      total += len(f.read())
  return total


@contextlib.contextmanager
def quiet() -> Iterator[None]:
  """Hides what TFDS prints (progress bars, the builder's summary table)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()
  with contextlib.redirect_stdout(io.StringIO()):
    yield


def build(manual_dir: str, data_dir: str, config, num_workers: Optional[int]
          = None):
  """Builds pneumonia_xray with `config` (a name or a PneumoniaXrayConfig),
  as `tfds build` does; returns the builder."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  import pneumonia_tfds  # pylint: disable=g-import-not-at-top,unused-import

  kwargs = {"data_dir": data_dir}
  if num_workers is not None:
    kwargs["num_workers"] = num_workers
  if isinstance(config, str):
    builder = tfds.builder(f"pneumonia_xray/{config}", **kwargs)
  else:
    builder = tfds.builder("pneumonia_xray", config=config, **kwargs)
  with quiet():
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def split_files(builder, split: str, manual_dir: str) -> list[str]:
  """Absolute paths of the source files of a built split's examples
  (the first copy of each), in stored order."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  dataset = builder.as_dataset(
      split=split, decoders=tfds.decode.PartialDecoding({"file_name": True}))
  return [os.path.join(manual_dir, example["file_name"].decode())
          for example in tfds.as_numpy(dataset)]


KERMANY_CONFIG_NAME = "bench_kermany_204"


def kermany_config():
  """The default 204x204 grayscale config over the Kermany originals only."""
  import pneumonia_tfds  # pylint: disable=g-import-not-at-top
  return pneumonia_tfds.PneumoniaXrayConfig(
      name=KERMANY_CONFIG_NAME,
      description="Kermany originals only, 204x204 gray.",
      sources=("kermany",))


def kermany_manual_dir(shared_data: str, target: str,
                       per_folder: Optional[int]) -> tuple[str, list[str]]:
  """(manual_dir, its Kermany files): shared_data itself, or with per_folder
  a copy of that many files of each split/class folder in target."""
  paths = class_files(os.path.join(shared_data, KERMANY), KERMANY_SPLITS,
                      per_folder=per_folder)
  if per_folder is None:
    return shared_data, paths
  return target, copy_tree(paths, shared_data, target)


def small_subset_manual_dir(shared_data: str, target: str, every: int = 1,
                            per_folder: Optional[int] = None) -> str:
  """A manual_dir holding a stratified part of chest_xray_small (copied)."""
  paths = class_files(os.path.join(shared_data, SMALL), SMALL_SPLITS,
                      per_folder=per_folder, every=every)
  copy_tree(paths, shared_data, target)
  return target


class SmallBuild:
  """pneumonia_xray/small_gray_204 over chest_xray_small, built once per run
  (lazily) and shared by the input, training-step and quality sections."""

  CONFIG = "small_gray_204"

  def __init__(self, shared_data: str, work_dir: str,
               per_folder: Optional[int]):
    self._shared_data = shared_data
    self._work_dir = work_dir
    self._per_folder = per_folder
    self._built = None
    self._raw_built = False

  @property
  def dataset(self) -> str:
    return f"pneumonia_xray/{self.CONFIG}"

  def get(self) -> tuple[str, str]:
    """(data_dir, manual_dir) of the build."""
    if self._built is None:
      manual_dir = self._shared_data
      if self._per_folder is not None:
        manual_dir = small_subset_manual_dir(
            self._shared_data, os.path.join(self._work_dir, "small_manual"),
            per_folder=self._per_folder)
      data_dir = os.path.join(self._work_dir, "small_data")
      build(manual_dir, data_dir, self.CONFIG)
      self._built = (data_dir, manual_dir)
    return self._built

  @property
  def raw_dataset(self) -> str:
    return f"pneumonia_xray/{self.CONFIG}_raw"

  def get_raw(self) -> str:
    """data_dir of the build and of its raw-pixel twin, built beside it."""
    data_dir, manual_dir = self.get()
    if not self._raw_built:
      build(manual_dir, data_dir, f"{self.CONFIG}_raw")
      self._raw_built = True
    return data_dir

  def train_files(self) -> list[str]:
    """Source files of the build's train split, in stored order."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    data_dir, manual_dir = self.get()
    builder = tfds.builder(self.dataset, data_dir=data_dir)
    return split_files(builder, "train", manual_dir)
