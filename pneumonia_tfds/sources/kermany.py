"""Kermany "Chest X-Ray Images (Pneumonia)": chest_xray/{split}/{CLASS}/*.jpeg."""

import os
import re
from typing import Iterator, Optional

from pneumonia_tfds import labels
from pneumonia_tfds.sources import records

NAME = "kermany"
DEFAULT_FOLDER = "chest_xray"
SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
LAYOUT = "{train,val,test}/{NORMAL,PNEUMONIA}/<image>"
VIEW = "AP"  # Pediatric anterior-posterior films, per Kermany et al. 2018.

_NORMAL_STEM = re.compile(r"^((?:NORMAL2-)?IM-\d+)-")
_PNEUMONIA_NAME = re.compile(r"^(person\d+)_(bacteria|virus)_\d+", re.IGNORECASE)


def patient_id(file_name: str) -> str:
  """Patient key of a Kermany file name.

  `personN` numbers run per pneumonia type, so personN_bacteria and
  personN_virus may or may not be one child; the key is `personN` alone, the
  conservative choice (it can only merge patients, never split one). A name
  in neither pattern is its own patient.
  """
  stem = os.path.splitext(file_name)[0]
  match = _PNEUMONIA_NAME.match(stem) or _NORMAL_STEM.match(stem)
  return f"{NAME}:{match.group(1) if match else stem}"


def finding(file_name: str, class_folder: str) -> labels.Finding:
  """The class folder gives the label, a PNEUMONIA file's name its type."""
  match = _PNEUMONIA_NAME.match(os.path.splitext(file_name)[0])
  if match and class_folder == "PNEUMONIA":
    return labels.KERMANY_TYPES_BY_NAME_WORD[match.group(2).lower()]
  return labels.KERMANY_CLASS_FOLDERS[class_folder]


def looks_like_kermany_name(file_name: str) -> bool:
  stem = os.path.splitext(file_name)[0]
  return bool(_NORMAL_STEM.match(stem) or _PNEUMONIA_NAME.match(stem))


def find_root(manual_dir: str, folder: str = DEFAULT_FOLDER) -> Optional[str]:
  root = os.path.join(manual_dir, folder)
  if any(os.path.isdir(os.path.join(root, split, cls))
         for split in SPLIT_FOLDERS for cls in labels.KERMANY_CLASS_FOLDERS):
    return root
  return None


def read_records(root: str, manual_dir: str) -> Iterator[records.SourceRecord]:
  """One record per file in every {split}/{CLASS} folder under root."""
  for split_folder, split in SPLIT_FOLDERS.items():
    for class_folder in labels.KERMANY_CLASS_FOLDERS:
      folder = os.path.join(root, split_folder, class_folder)
      if not os.path.isdir(folder):
        continue
      for path, problem in records.list_files(folder, root):
        name = records.printable(os.path.basename(path))
        yield records.SourceRecord(
            source=NAME,
            path=records.relative(path, manual_dir),
            key_path=records.relative(path, root),
            finding=finding(name, class_folder),
            finding_text=class_folder,
            patient_id=patient_id(name),
            view=VIEW,
            source_split=split,
            skip_reason=problem,
        )
