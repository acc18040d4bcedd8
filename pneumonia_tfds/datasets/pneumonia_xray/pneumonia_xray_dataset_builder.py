"""pneumonia_xray: Kermany, CoronaHack and ieee8023 chest X-rays, merged."""

import dataclasses
import os
from typing import Optional

from absl import logging
import numpy as np
import tensorflow_datasets as tfds

from pneumonia_tfds import beam_build
from pneumonia_tfds import cpus
from pneumonia_tfds import images as images_lib
from pneumonia_tfds import labels
from pneumonia_tfds import local_build
from pneumonia_tfds import per_file
from pneumonia_tfds import plan as plan_lib
from pneumonia_tfds import report
from pneumonia_tfds import splits
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import kermany
from pneumonia_tfds.sources import records as records_lib

# Priority order: the first source holding an image names its example.
SOURCE_NAMES = (kermany.NAME, ieee8023.NAME, coronahack.NAME)

# Public locations for users with internet. CoronaHack needs a Kaggle login,
# so it has none; the ieee8023 archive is pinned to the commit the shared data
# and the mapping tables were checked against. Both are ZIP archives (see
# `_archive`); their checksums are not registered yet (see checksums.tsv).
DOWNLOAD_URLS = {
    kermany.NAME: ("https://data.mendeley.com/public-files/datasets/rscbjbr9sj/"
                   "files/f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"),
    ieee8023.NAME: ("https://github.com/ieee8023/covid-chestxray-dataset/"
                    "archive/abe9481d52b5abc782d87b5b2ffa729dad76b821.zip"),
}

_MANUAL_LAYOUT = """\
manual_dir/
  chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg
      Kermany et al., "ChestXRay2017.zip" from https://data.mendeley.com/datasets/rscbjbr9sj/2
      or Kaggle paultimothymooney/chest-xray-pneumonia (unzip; keep the chest_xray folder).
  coronahack/Chest_xray_Corona_Metadata.csv
  coronahack/Coronahack-Chest-XRay-Dataset/Coronahack-Chest-XRay-Dataset/{train,test}/*
      Kaggle praveengovi/coronahack-chest-xraydataset, unzipped into coronahack/.
  covid-chestxray-dataset/metadata.csv
  covid-chestxray-dataset/images/*
      git clone https://github.com/ieee8023/covid-chestxray-dataset
Any subset works; every source found is merged unless the config names sources.
"""


def _archive(url: str) -> tfds.download.Resource:
  """A public ZIP archive, its format declared, never guessed.

  TFDS guesses the format from the downloaded file's name, and the Kermany
  URL ends in `file_downloaded`: guessed, it would be stored unextracted and
  the build would find no source in it.
  """
  return tfds.download.Resource(
      url=url, extract_method=tfds.download.ExtractMethod.ZIP)


@dataclasses.dataclass(eq=False)
class PneumoniaXrayConfig(tfds.core.BuilderConfig):
  """What changes the stored bytes: image geometry, sources and splits.

  Attributes:
    image_size: stored side in pixels; None keeps each original resolution.
    channels: 1 (grayscale) or 3 (RGB).
    fit: "resize" (stretch to the square) or "pad" (keep aspect, pad black).
    sources: source names to merge; empty means every source in manual_dir.
    kermany_folder: folder of the Kermany layout inside manual_dir.
    include_lateral: keep ieee8023 lateral (L) views besides frontal ones.
    split_mode: "patient" (seeded, patient-grouped) or "source" (keep the
      sources' own train/test, carve validation out of train by patient).
    split_ratios: train/validation/test fractions (by images, per stratum).
    seed: seed of the patient split.
    image_encoding: how images are stored: None picks PNG for original
      sizes and JPEG (quality 95) for fixed ones; "raw" stores the fixed-size
      uint8 pixels themselves, which reading needs no decoder for (see
      `encoding`); "jpeg" or "png" name the codec.
  """
  image_size: Optional[int] = 204
  channels: int = 1
  fit: str = "resize"
  sources: tuple[str, ...] = ()
  kermany_folder: str = kermany.DEFAULT_FOLDER
  include_lateral: bool = False
  split_mode: str = splits.PATIENT_MODE
  split_ratios: tuple[float, float, float] = (0.7, 0.15, 0.15)
  seed: int = 0
  image_encoding: Optional[str] = None

  def __post_init__(self):
    if self.channels not in (1, 3):
      raise ValueError(f"channels must be 1 or 3, got {self.channels}")
    if self.image_size is not None and self.image_size < 8:
      raise ValueError(f"image_size must be at least 8, got {self.image_size}")
    if self.fit not in images_lib.FIT_METHODS:
      raise ValueError(f"fit must be one of {images_lib.FIT_METHODS}")
    if self.split_mode not in splits.SPLIT_MODES:
      raise ValueError(f"split_mode must be one of {splits.SPLIT_MODES}")
    if (len(self.split_ratios) != 3 or any(r < 0 for r in self.split_ratios)
        or sum(self.split_ratios) <= 0):
      raise ValueError("split_ratios must be 3 non-negative numbers with a "
                       f"positive sum, got {self.split_ratios}")
    if (self.image_encoding is not None
        and self.image_encoding not in images_lib.ENCODINGS):
      raise ValueError(f"image_encoding must be None or one of "
                       f"{images_lib.ENCODINGS}, got {self.image_encoding!r}")
    if self.image_encoding == "raw" and self.image_size is None:
      raise ValueError("image_encoding 'raw' needs a fixed image_size: "
                       "original sizes differ from image to image")
    unknown = set(self.sources) - set(SOURCE_NAMES)
    if unknown:
      raise ValueError(f"unknown sources {sorted(unknown)}; known: {SOURCE_NAMES}")

  @property
  def encoding(self) -> str:
    """The stored codec: "jpeg", "png" or "raw".

    Originals stay lossless (PNG). Fixed sizes default to JPEG, about 2.8x
    smaller than raw pixels at 204 px: the choice where bytes cost most (a
    bucket read over the network, a small disk). Raw pixels cost no decode,
    which is what bounds the JPEG pipeline on a few host cores: the choice
    for feeding an accelerator from local SSD or the page cache (BUILD.md,
    "Raw or JPEG records").
    """
    if self.image_encoding is not None:
      return self.image_encoding
    return "png" if self.image_size is None else "jpeg"


def _finders(config: PneumoniaXrayConfig) -> dict:
  """Source name -> function(folder) -> the source's root in it, or None."""
  return {
      kermany.NAME: lambda d: kermany.find_root(d, config.kermany_folder),
      ieee8023.NAME: ieee8023.find_root,
      coronahack.NAME: coronahack.find_root,
  }


def _looked_for(config: PneumoniaXrayConfig, name: str,
                manual_dir: Optional[str]) -> str:
  """Where the build looks for source `name`, in words."""
  base = manual_dir or "<manual_dir>"
  if name == kermany.NAME:
    return (f"{os.path.join(base, config.kermany_folder)}/"
            f"{kermany.LAYOUT}")
  if name == ieee8023.NAME:
    return f"{os.path.join(base, 'covid-chestxray-dataset*')}/{ieee8023.METADATA}"
  return (f"{os.path.join(base, coronahack.FOLDER, coronahack.METADATA)} "
          f"or {os.path.join(base, coronahack.METADATA)}")


def find_local_sources(config: PneumoniaXrayConfig,
                       manual_dir: Optional[str]) -> dict[str, str]:
  """Source name -> root folder, for every source of config in manual_dir.

  The build's own discovery, without downloads: the pre-flight check calls it
  too, so that it and the build agree on what is there.
  """
  if not manual_dir or not os.path.isdir(manual_dir):
    return {}
  finders = _finders(config)
  roots = {}
  for name in config.sources or SOURCE_NAMES:
    root = finders[name](manual_dir)
    if root is not None:
      roots[name] = root
  return roots


def download_unavailable_reason(config: PneumoniaXrayConfig,
                                name: str) -> Optional[str]:
  """Why source `name` of config cannot be downloaded; None if it can."""
  if name not in DOWNLOAD_URLS:
    return f"{name} has no public download the builder can fetch"
  if name == kermany.NAME and config.kermany_folder != kermany.DEFAULT_FOLDER:
    # The archive holds the originals under chest_xray/. Building them under
    # a config that names another folder would publish other images under
    # that config's name.
    return (f"the Kermany archive unpacks to {kermany.DEFAULT_FOLDER}/, not "
            f"{config.kermany_folder}/, and {config.kermany_folder}/ has no "
            "public download")
  return None


@dataclasses.dataclass(frozen=True)
class _BuildOptions:
  """How this build runs (from TFDS's download config), not what it makes."""
  beam: bool = False
  max_examples_per_split: Optional[int] = None


README = "pneumonia_tfds/datasets/pneumonia_xray/README.md"


def short_description(readme: str) -> str:
  """The first paragraph after the README's title, and a link to the rest."""
  paragraphs = [p.strip() for p in readme.split("\n\n")
                if p.strip() and not p.lstrip().startswith("#")]
  first = " ".join(paragraphs[0].split()) if paragraphs else ""
  return (f"{first}\n\nSources, licences, manual_dir layout, label mapping, "
          f"patients, splits and the build report: {README} (installed "
          "with the package, beside the builder).")


def _config(name: str, description: str, **kwargs) -> PneumoniaXrayConfig:
  return PneumoniaXrayConfig(name=name, description=description, **kwargs)


def _raw(config: PneumoniaXrayConfig) -> PneumoniaXrayConfig:
  """The same dataset as `config`, its images stored as raw uint8 pixels."""
  return dataclasses.replace(
      config, name=f"{config.name}_raw", image_encoding="raw",
      description=f"{config.description.rstrip('.')}; raw uint8 pixels "
      "(no decoding when read).")


def image_feature(config: PneumoniaXrayConfig) -> tfds.features.FeatureConnector:
  """The image feature of a config: an Image for JPEG and PNG, a uint8
  Tensor stored as bytes for raw pixels (decoded by a reshape)."""
  shape = (config.image_size, config.image_size, config.channels)
  if config.encoding == "raw":
    return tfds.features.Tensor(shape=shape, dtype=np.uint8,
                                encoding=tfds.features.Encoding.BYTES)
  return tfds.features.Image(shape=shape, encoding_format=config.encoding)


class Builder(tfds.core.GeneratorBasedBuilder):
  """DatasetBuilder for pneumonia_xray."""

  VERSION = tfds.core.Version("3.0.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release.",
      "2.0.0": ("Splits change: a patient group's split is a seeded hash of "
                "its anchor key, stable when sources, files or views are "
                "added; near-duplicate images (perceptual hashes) are "
                "reported and share a patient group; every file under a "
                "source root has a report row; Apache Beam generation."),
      "3.0.0": ("Pixels change slightly: images are fitted with Pillow's "
                "plain bilinear filter (no reducing_gap pre-shrink), which "
                "the serving model repeats to the bit in TensorFlow ops; "
                "DICOM source files are read (modality and VOI LUTs, "
                "MONOCHROME1), and a DICOM that is not a chest radiograph "
                "by its tags is skipped with the reason."),
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL_LAYOUT
  _ENCODED_CONFIGS = [
      _config("gray_204", "204x204 grayscale, all sources, patient splits."),
      _config("rgb_204", "204x204 RGB, all sources, patient splits.",
              channels=3),
      _config("gray_96", "96x96 grayscale.", image_size=96),
      _config("gray_224", "224x224 grayscale.", image_size=224),
      _config("rgb_224", "224x224 RGB.", image_size=224, channels=3),
      _config("gray_original", "Original resolution, grayscale, PNG.",
              image_size=None),
      _config("gray_204_lateral", "204x204 grayscale, lateral views kept.",
              include_lateral=True),
      _config("gray_204_source_splits",
              "204x204 grayscale, the sources' own train/test splits.",
              split_mode=splits.SOURCE_MODE),
      _config("small_gray_204",
              "chest_xray_small (Kermany at 224x224) at 204x204, source splits.",
              sources=(kermany.NAME,), kermany_folder="chest_xray_small",
              split_mode=splits.SOURCE_MODE),
      # Kermany's test/ folder differs from its train/ folder (another
      # period, and bacterial and viral films that separate almost
      # perfectly): patient splits give a test split like the training one.
      _config("small_gray_204_patient_splits",
              "chest_xray_small at 204x204, patient splits.",
              sources=(kermany.NAME,), kermany_folder="chest_xray_small"),
  ]
  # Raw-pixel twins of the fixed-size configs the models train at: the same
  # examples, splits and pixels, only stored undecoded.
  BUILDER_CONFIGS = _ENCODED_CONFIGS + [
      _raw(config) for config in _ENCODED_CONFIGS
      if config.name in ("gray_204", "rgb_204", "gray_96", "gray_224",
                         "rgb_224", "small_gray_204",
                         "small_gray_204_patient_splits")]
  DEFAULT_CONFIG_NAME = "gray_204"

  def __init__(self, *, num_workers: Optional[int] = None,
               download_missing: bool = False,
               worker_manual_dir: Optional[str] = None, **kwargs):
    """Args beyond TFDS's.

    Args:
      num_workers: processes for the local build (default: all CPUs).
      download_missing: download public sources missing from manual_dir.
      worker_manual_dir: where Beam workers read manual_dir's files, when
        they see it elsewhere than the machine that lists it (e.g.
        gs://bucket/xray for a manual_dir that is a gcsfuse mount of it).
      **kwargs: TFDS's.
    """
    super().__init__(**kwargs)
    self._num_workers = num_workers or cpus.available_cpus()
    self._download_missing = download_missing
    self._worker_base_dir = worker_manual_dir
    self._options = _BuildOptions()

  @classmethod
  def get_metadata(cls):
    """The README's first paragraph as the description, with where the rest
    is: `tfds build` and DatasetInfo print the description whole, and the
    full README is hundreds of lines."""
    metadata = super().get_metadata()
    return dataclasses.replace(
        metadata, description=short_description(metadata.description))

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": image_feature(config),
            "label": tfds.features.ClassLabel(names=labels.LABELS),
            "pneumonia_type": tfds.features.ClassLabel(
                names=labels.PNEUMONIA_TYPES),
            "source": tfds.features.Text(),
            "sources": tfds.features.Sequence(tfds.features.Text()),
            "patient_id": tfds.features.Text(),
            # Patient keys joined through shared images; splits keep a group
            # whole, and evaluation resamples by it.
            "patient_group": tfds.features.Text(),
            "view": tfds.features.Text(),
            "file_name": tfds.features.Text(),
            "file_names": tfds.features.Sequence(tfds.features.Text()),
            "finding": tfds.features.Text(),
            "sha256": tfds.features.Text(),
        }),
        supervised_keys=("image", "label"),
        homepage="https://github.com/ieee8023/covid-chestxray-dataset",
    )

  def _base_dir(self, dl_manager) -> tuple[str, bool]:
    """The folder report paths are relative to, and whether it is manual_dir.

    TFDS refuses a missing or empty manual_dir; with download_missing the
    build goes on from the download folder instead.
    """
    try:
      return os.fspath(dl_manager.manual_dir), True
    except AssertionError as e:
      if self._download_missing:
        return os.fspath(dl_manager.download_dir), False
      raise ValueError(str(e)) from e

  def _find_sources(self, manual_dir: Optional[str],
                    dl_manager) -> dict[str, str]:
    """Source name -> root folder, for every selected source present."""
    config = self.builder_config
    roots = find_local_sources(config, manual_dir)
    for name in config.sources or SOURCE_NAMES:
      reason = download_unavailable_reason(config, name)
      if name not in roots and self._download_missing and reason is None:
        roots[name] = self._download_source(name, dl_manager)
      if name not in roots and config.sources:
        why = (f" and cannot be downloaded: {reason}"
               if self._download_missing and reason else "")
        raise ValueError(
            f"config {config.name!r} needs source {name!r}, and manual_dir "
            f"{manual_dir} does not hold it: looked for "
            f"{_looked_for(config, name, manual_dir)}{why}; expected "
            f"layout:\n{_MANUAL_LAYOUT}")
    if not roots:
      raise ValueError(
          f"no source found in manual_dir {manual_dir}; expected layout:\n"
          f"{_MANUAL_LAYOUT}")
    return roots

  def _download_source(self, name: str, dl_manager) -> str:
    """Downloads and unpacks source `name`; returns its root in the archive."""
    url = DOWNLOAD_URLS[name]
    extracted = os.fspath(dl_manager.download_and_extract(_archive(url)))
    # Archives may wrap their content in one more folder.
    candidates = [extracted] + [os.path.join(extracted, entry)
                                for entry in sorted(os.listdir(extracted))]
    finder = _finders(self.builder_config)[name]
    root = next(filter(None, map(finder, candidates)), None)
    if root is None:
      raise ValueError(
          f"the {name} archive from {url}, unpacked at {extracted}, holds no "
          f"{name} layout (looked in it and in its top-level folders); "
          f"expected layout:\n{_MANUAL_LAYOUT}")
    return root

  def _read_records(self, roots: dict[str, str],
                    base_dir: str) -> list[records_lib.SourceRecord]:
    """Every source record: the readers' rows, then a row for every other
    file under each source root (listing and CSVs only; no image is read)."""
    config = self.builder_config
    readers = {
        kermany.NAME: lambda root: kermany.read_records(root, base_dir),
        ieee8023.NAME: lambda root: ieee8023.read_records(
            root, base_dir, config.include_lateral),
        coronahack.NAME: lambda root: coronahack.read_records(root, base_dir),
    }
    modules = {kermany.NAME: kermany, ieee8023.NAME: ieee8023,
               coronahack.NAME: coronahack}
    result = []
    for name in SOURCE_NAMES:
      if name not in roots:
        continue
      root, module = roots[name], modules[name]
      found = list(readers[name](root))
      claimed = {r.path for r in found if r.path}
      # The metadata CSV is read even when it names no row.
      if hasattr(module, "METADATA"):
        claimed.add(records_lib.relative(os.path.join(root, module.METADATA),
                                         base_dir))
      walk_root = root
      if name == coronahack.NAME and os.path.samefile(root, base_dir):
        # Unzipped straight into manual_dir: only its own folder is its.
        walk_root = os.path.join(root, coronahack.IMAGE_FOLDER)
      others = [other for other in roots.values() if other != root]
      found += records_lib.unclaimed_files(name, walk_root, root, base_dir,
                                           claimed, module.LAYOUT, others)
      result += found
    return result

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    base_dir, is_manual_dir = self._base_dir(dl_manager)
    roots = self._find_sources(base_dir if is_manual_dir else None, dl_manager)
    records = self._read_records(roots, base_dir)
    options = self._options
    settings = plan_lib.Settings(
        source_order=SOURCE_NAMES, split_mode=config.split_mode,
        split_ratios=tuple(config.split_ratios), seed=config.seed,
        max_examples_per_split=None if options.beam
        else options.max_examples_per_split)
    geometry = per_file.Geometry.of(config)
    logging.info("pneumonia_xray: %d records from %s", len(records),
                 sorted(roots))
    if options.beam:
      # Which splits get examples is decided inside the pipeline; a split
      # is declared when its ratio is not zero.
      build = beam_build.Graph(records, self._worker_base_dir or base_dir,
                               geometry, settings, os.fspath(self.data_dir))
      names = [name for name, ratio in zip(splits.SPLITS, config.split_ratios)
               if ratio]
    else:
      try:
        build = local_build.run(records, base_dir, geometry, settings,
                                self._num_workers)
      except ValueError as e:
        raise ValueError(f"{e}. Looked in {sorted(roots.values())}. "
                         f"Expected layout:\n{_MANUAL_LAYOUT}") from e
      report.write(build.plan.report_rows, build.plan.summary,
                   os.fspath(self.data_dir))
      names = build.plan.split_names()
    return {split: self._generate_examples(build, split) for split in names}

  def _generate_examples(self, build, split: str):
    """The split's examples: a generator of (key, example) for the local
    build, a `beam.PTransform` of them for the Beam build."""
    return build.examples(split)

  def _download_and_prepare(self, dl_manager, download_config=None):
    # How to build is decided here, where TFDS passes the download config:
    # Beam when beam options or a runner were given, else the local pool.
    config = download_config or tfds.download.DownloadConfig()
    self._options = _BuildOptions(
        beam=bool(config.beam_runner or config.beam_options),
        max_examples_per_split=config.max_examples_per_split)
    super()._download_and_prepare(dl_manager, download_config)
    # self.data_dir is still the temporary build folder here: the report
    # becomes visible together with the records, never before.
    print(report.format_table(report.read_summary(os.fspath(self.data_dir))),
          flush=True)
