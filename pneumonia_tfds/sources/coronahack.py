"""Kaggle "CoronaHack - Chest X-Ray-Dataset": metadata CSV + flat train/test."""

import os
from typing import Iterator, Optional

from pneumonia_tfds import labels
from pneumonia_tfds.sources import kermany
from pneumonia_tfds.sources import records

NAME = "coronahack"
FOLDER = "coronahack"
METADATA = "Chest_xray_Corona_Metadata.csv"
IMAGE_FOLDER = "Coronahack-Chest-XRay-Dataset"
LABEL_COLUMNS = ("Label", "Label_1_Virus_category", "Label_2_Virus_category")
REQUIRED_COLUMNS = ("X_ray_image_name", "Dataset_type") + LABEL_COLUMNS
SPLITS = {"TRAIN": "train", "TEST": "test"}
LAYOUT = (f"{METADATA} and {IMAGE_FOLDER}/[{IMAGE_FOLDER}/]{{train,test}}/"
          "<image>")


def find_root(manual_dir: str) -> Optional[str]:
  """`coronahack/` in manual_dir, or manual_dir itself (the unzipped Kaggle
  download puts the CSV at its top)."""
  for root in (os.path.join(manual_dir, FOLDER), manual_dir):
    if os.path.isfile(os.path.join(root, METADATA)):
      return root
  if os.path.isdir(os.path.join(manual_dir, FOLDER)):
    # Without the CSV its images have no labels; ignoring the folder would
    # drop the whole source without a word.
    raise ValueError(
        f"{os.path.join(manual_dir, FOLDER)}: no {METADATA} in it; expected "
        f"{METADATA} and {IMAGE_FOLDER}/{IMAGE_FOLDER}/{{train,test}}/ "
        "(the Kaggle CoronaHack archive, unzipped)")
  return None


def _image_folder(root: str) -> str:
  # The Kaggle archive nests the folder in a folder of the same name.
  nested = os.path.join(root, IMAGE_FOLDER, IMAGE_FOLDER)
  return nested if os.path.isdir(nested) else os.path.join(root, IMAGE_FOLDER)


def _patient_and_view(file_name: str) -> tuple[str, str]:
  """Kermany file names map to Kermany's patient keys; others to the file."""
  if kermany.looks_like_kermany_name(file_name):
    return kermany.patient_id(file_name), kermany.VIEW
  return f"{NAME}:{os.path.splitext(file_name)[0]}", ""


def read_records(root: str, manual_dir: str) -> Iterator[records.SourceRecord]:
  """One record per metadata row, plus one per image file no row names."""
  csv_path = os.path.join(root, METADATA)
  metadata = records.read_metadata(csv_path, REQUIRED_COLUMNS)
  image_folder = _image_folder(root)
  named = set()
  for index, row in metadata.iterrows():
    file_name = row["X_ray_image_name"].strip()
    split = SPLITS.get(row["Dataset_type"].strip().upper())
    finding = labels.coronahack_finding(*(row[c] for c in LABEL_COLUMNS))
    finding_text = "/".join(row[c] for c in LABEL_COLUMNS)
    folder_name = split or ""
    path = records.safe_join(os.path.join(image_folder, folder_name),
                             file_name, root)
    reason, detail = None, ""
    if split is None:
      reason, detail, path = records.UNKNOWN_SPLIT, row["Dataset_type"], None
    elif path is None:
      reason, detail = records.UNSAFE_PATH, file_name
    elif not os.path.isfile(path):
      reason, detail, path = records.absent_reason(path), file_name, None
    else:
      named.add(records.relative(path, root))
    if reason is None and finding is None:
      reason, detail = records.UNKNOWN_FINDING, finding_text
    patient_id, view = _patient_and_view(file_name)
    yield records.SourceRecord(
        source=NAME,
        path=records.relative(path, manual_dir) if path else None,
        key_path=f"{folder_name}/{file_name}",
        metadata=records.row_reference(csv_path, manual_dir, index),
        finding=finding,
        finding_text=finding_text,
        patient_id=patient_id,
        view=view,
        source_split=split,
        skip_reason=reason,
        skip_detail=detail,
    )
  for folder_name in sorted(set(SPLITS.values())):
    folder = os.path.join(image_folder, folder_name)
    if not os.path.isdir(folder):
      continue
    for path, problem in records.list_files(folder, root):
      if records.relative(path, root) not in named:
        name = records.printable(os.path.basename(path))
        yield records.SourceRecord(
            source=NAME,
            path=records.relative(path, manual_dir),
            key_path=f"{folder_name}/{name}",
            skip_reason=problem or records.NO_METADATA_ROW,
        )
