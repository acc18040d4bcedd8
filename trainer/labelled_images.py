"""A user's labelled images: a folder in the Kermany layout, or a CSV.

  folder   any tree in which each image lies under a folder named NORMAL or
           PNEUMONIA (any case), e.g. chest_xray/test/{NORMAL,PNEUMONIA}/ or
           a whole chest_xray/ with its train/val/test folders;
  CSV      columns path and label (normal/pneumonia, or 0/1), optionally
           patient; relative paths are read from the CSV's folder.
Images are grouped by patient for the bootstrap intervals: the CSV's patient
column, else Kermany's file-name rule where a name follows it, else each
file alone. Paths may be on any TensorFlow filesystem (gs://).
"""

import csv
import dataclasses
import hashlib
import io
import os
from typing import Optional

from pneumonia_tfds import labels
from pneumonia_tfds.sources import kermany
from trainer import prediction
from trainer import storage

CLASS_FOLDERS = {"normal": 0, "pneumonia": 1}
LABEL_NAMES = labels.LABELS  # label id -> name
_LABEL_WORDS = {"normal": 0, "0": 0, "pneumonia": 1, "1": 1}


@dataclasses.dataclass(frozen=True)
class LabelledImage:
  path: str
  label: int  # 0 normal, 1 pneumonia
  group: str  # the bootstrap's resampling unit


@dataclasses.dataclass(frozen=True)
class Listing:
  """What a folder or CSV holds: the labelled images and the files left out
  with the reason."""
  source: str
  images: list[LabelledImage]
  left_out: list[tuple[str, str]]  # (path, reason)

  def digest(self) -> str:
    """sha256 over the sorted (path relative to source, label) list: the
    same images with the same labels give the same digest."""
    lines = sorted(f"{_relative(image.path, self.source)}\t{image.label}"
                   for image in self.images)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _relative(path: str, source: str) -> str:
  folder = source if storage.isdir(source) else storage.dirname(source)
  return path[len(folder):].lstrip("/") if path.startswith(folder) else path


def _group(path: str, patient: Optional[str] = None) -> str:
  if patient:
    return f"patient:{patient}"
  name = storage.basename(path)
  if kermany.looks_like_kermany_name(name):
    return kermany.patient_id(name)
  return f"file:{path}"


def _folder_label(path: str, folder: str) -> Optional[int]:
  """The label of the innermost NORMAL/PNEUMONIA folder above the file."""
  parts = _relative(path, folder).split("/")[:-1]
  for part in reversed(parts):
    if part.lower() in CLASS_FOLDERS:
      return CLASS_FOLDERS[part.lower()]
  return None


def read_folder(folder: str) -> Listing:
  """Every image file under `folder`, labelled by its class folder.

  Raises:
    ValueError: no image lies under a NORMAL or PNEUMONIA folder.
  """
  folder = folder.rstrip("/")
  images, left_out = [], []
  for path in prediction.find_files([folder]):
    label = _folder_label(path, folder)
    if label is None:
      left_out.append((path, "not under a NORMAL/ or PNEUMONIA/ folder"))
    else:
      images.append(LabelledImage(path, label, _group(path)))
  if not images:
    raise ValueError(f"{folder}: no image lies under a NORMAL/ or PNEUMONIA/ "
                     "folder (expected e.g. <folder>/NORMAL/*.jpeg and "
                     "<folder>/PNEUMONIA/*.jpeg)")
  return Listing(folder, images, left_out)


def read_csv(csv_path: str) -> Listing:
  """The rows of a path,label[,patient] CSV.

  Raises:
    ValueError: the CSV lacks a path or label column, or a label is
      neither normal/pneumonia nor 0/1 (naming the row).
  """
  rows = list(csv.DictReader(io.StringIO(storage.read_text(csv_path))))
  columns = {name.strip().lower(): name for name in (rows[0] if rows else {})}
  missing = [name for name in ("path", "label") if name not in columns]
  if missing:
    raise ValueError(f"{csv_path}: needs the columns path and label; "
                     f"missing {', '.join(missing)} (found: "
                     f"{', '.join(columns) or 'no rows'})")
  base = storage.dirname(csv_path)
  images, left_out = [], []
  for number, row in enumerate(rows, start=2):
    path = row[columns["path"]].strip()
    word = row[columns["label"]].strip().lower()
    if word not in _LABEL_WORDS:
      raise ValueError(f"{csv_path}, line {number}: label {word!r} is not "
                       "normal/pneumonia or 0/1")
    if not path:
      left_out.append((f"{csv_path}:{number}", "empty path"))
      continue
    if not (storage.is_url(path) or os.path.isabs(path)):
      path = storage.join(base, path) if base else path
    patient = row.get(columns.get("patient", ""), "") or None
    images.append(LabelledImage(path, _LABEL_WORDS[word],
                                _group(path, patient)))
  return Listing(csv_path, images, left_out)


def read(source: str) -> Listing:
  """A folder (Kermany layout) or a CSV file, by what `source` is."""
  if storage.isdir(source):
    return read_folder(source)
  if not storage.exists(source):
    raise ValueError(f"{source}: no such folder or CSV file")
  return read_csv(source)
