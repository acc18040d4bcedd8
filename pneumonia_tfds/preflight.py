"""Pre-flight check of a pneumonia_xray build: are its sources there?

  python3 -m pneumonia_tfds.preflight --config small_gray_204 --manual_dir DIR
  python3 -m pneumonia_tfds.preflight --config gray_204 --manual_dir DIR --download

Exits 0 when the build can start; 1, with a message that names the folders to
provide for that config and where to download them, when it cannot; 2 on a
usage error. It uses the builder's own source discovery (folder and file
names only) and never downloads, so it answers in about the time the package
takes to import, where TFDS would stop deep in a build with a generic error.
"""

import argparse
import os
import sys
from typing import Optional, Sequence

from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder as builder_lib
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import kermany

OK, MISSING, USAGE = 0, 1, 2

_KERMANY_PAGE = ("ChestXRay2017.zip (about 1.2 GB) from "
                 "https://data.mendeley.com/datasets/rscbjbr9sj/2, or Kaggle "
                 "paultimothymooney/chest-xray-pneumonia; unzip it into "
                 "MANUAL_DIR")
_SMALL_COPY = ("the 224x224 grayscale Kermany copy of this project's shared "
               "data (shared/data/chest_xray_small, see shared/data/README.md, "
               "part C). It has no public download: copy the folder from a "
               "machine that has it, or build from the public Kermany archive "
               "with a config that reads chest_xray/ instead (nearest: "
               "gray_204_source_splits, Kermany's own splits)")
_IEEE8023_PAGE = ("git clone https://github.com/ieee8023/covid-chestxray-dataset"
                  " (the builder's download is the archive of commit "
                  "abe9481d52b5abc782d87b5b2ffa729dad76b821)")
_CORONAHACK_PAGE = ("Kaggle praveengovi/coronahack-chest-xraydataset (needs a "
                    "Kaggle login); unzip it into MANUAL_DIR/coronahack/")


def layout(config: builder_lib.PneumoniaXrayConfig, name: str,
           manual_dir: str) -> list[str]:
  """The paths source `name` of config is looked for at, under manual_dir."""
  if name == kermany.NAME:
    root = os.path.join(manual_dir, config.kermany_folder)
    return [f"{root}/{{train,test}}/{{NORMAL,PNEUMONIA}}/*.jpeg "
            "(and val/ where the copy has it)"]
  if name == ieee8023.NAME:
    root = os.path.join(manual_dir, "covid-chestxray-dataset")
    return [f"{root}/{ieee8023.METADATA}", f"{root}/{ieee8023.IMAGE_FOLDER}/*"]
  root = os.path.join(manual_dir, coronahack.FOLDER)
  images = os.path.join(root, coronahack.IMAGE_FOLDER, coronahack.IMAGE_FOLDER)
  return [f"{root}/{coronahack.METADATA}", f"{images}/{{train,test}}/*"]


def where_to_get(config: builder_lib.PneumoniaXrayConfig, name: str) -> str:
  if name == kermany.NAME:
    if config.kermany_folder == kermany.DEFAULT_FOLDER:
      return _KERMANY_PAGE
    return f"{config.kermany_folder}/ is {_SMALL_COPY}"
  return _IEEE8023_PAGE if name == ieee8023.NAME else _CORONAHACK_PAGE


def _describe_dir(manual_dir: str) -> str:
  if not os.path.isdir(manual_dir):
    return f"{manual_dir} (it does not exist)"
  if not os.listdir(manual_dir):
    return f"{manual_dir} (it is empty)"
  return manual_dir


def _source_lines(config, names, manual_dir, download) -> list[str]:
  lines = []
  for name in names:
    lines.append(f"  {name}:")
    lines += [f"    {path}" for path in layout(config, name, manual_dir)]
    lines.append(f"    get it: {where_to_get(config, name)}")
    reason = builder_lib.download_unavailable_reason(config, name)
    if download and reason:
      lines.append(f"    no download: {reason}")
  return lines


def _download_hint(config, names) -> list[str]:
  """How to let the builder fetch the sources that have a public archive."""
  fetchable = [n for n in names
               if builder_lib.download_unavailable_reason(config, n) is None]
  if fetchable:
    return [f"Or let the builder download {', '.join(fetchable)} (needs "
            "internet; ZIP archives, not checksum-verified yet):",
            "  tfds build 'pneumonia_xray/download_missing=True' "
            f"--imports pneumonia_tfds --config {config.name} "
            "--manual_dir MANUAL_DIR --data_dir DATA_DIR"]
  if kermany.NAME in names:
    return ["To build from the public downloads instead: "
            "tfds build 'pneumonia_xray/download_missing=True' "
            "--imports pneumonia_tfds --config gray_204_source_splits "
            "--manual_dir MANUAL_DIR --data_dir DATA_DIR"]
  return []


def check(config: builder_lib.PneumoniaXrayConfig, manual_dir: str,
          download: bool = False) -> Optional[str]:
  """None if a build of config can start, else the message saying why not.

  Mirrors the builder: a config that names sources needs each of them; one
  that does not needs at least one. With download, a source missing from
  manual_dir counts as there when the builder can download it.
  """
  try:
    found = builder_lib.find_local_sources(config, manual_dir)
  except ValueError as e:  # A source folder that is there but broken.
    return f"pneumonia_xray/{config.name}: {e}"
  wanted = config.sources or builder_lib.SOURCE_NAMES
  missing = [name for name in wanted if name not in found]
  fetchable = [name for name in missing if download and
               builder_lib.download_unavailable_reason(config, name) is None]
  unavailable = [name for name in missing if name not in fetchable]
  if (not unavailable) if config.sources else (found or fetchable):
    return None
  need = ("it needs" if config.sources
          else "it needs at least one of these sources")
  lines = [f"pneumonia_xray/{config.name} cannot be built from MANUAL_DIR "
           f"{_describe_dir(manual_dir)}: {need}:"]
  lines += _source_lines(config, unavailable, manual_dir, download)
  if not download:
    lines += _download_hint(config, unavailable)
  return "\n".join(lines)


def _summary(config, manual_dir: str, download: bool) -> str:
  found = builder_lib.find_local_sources(config, manual_dir)
  parts = [f"{name} at {root}" for name, root in sorted(found.items())]
  if download:
    parts += [f"{name} to download" for name in
              config.sources or builder_lib.SOURCE_NAMES
              if name not in found and
              builder_lib.download_unavailable_reason(config, name) is None]
  return f"pneumonia_xray/{config.name}: sources ok: {'; '.join(parts)}"


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python3 -m pneumonia_tfds.preflight",
      description="Checks that a pneumonia_xray build finds its sources.")
  parser.add_argument("--config", default=builder_lib.Builder.DEFAULT_CONFIG_NAME)
  parser.add_argument("--manual_dir", required=True)
  parser.add_argument("--download", action="store_true",
                      help="the build will run with download_missing=True")
  args = parser.parse_args(argv)
  configs = builder_lib.Builder.builder_configs
  if args.config not in configs:
    print(f"unknown config {args.config!r}; known: {sorted(configs)}",
          file=sys.stderr)
    return USAGE
  config = configs[args.config]
  message = check(config, args.manual_dir, args.download)
  if message:
    print(message, file=sys.stderr)
    return MISSING
  print(_summary(config, args.manual_dir, args.download))
  return OK


if __name__ == "__main__":
  sys.exit(main())
