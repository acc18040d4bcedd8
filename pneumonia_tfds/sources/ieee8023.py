"""ieee8023 COVID-19 image data collection: metadata.csv + images/."""

import glob
import os
from typing import Iterator, Optional

from pneumonia_tfds import labels
from pneumonia_tfds.sources import records

NAME = "ieee8023"
METADATA = "metadata.csv"
IMAGE_FOLDER = "images"
REQUIRED_COLUMNS = ("patientid", "finding", "view", "modality", "folder",
                    "filename")
X_RAY = "X-ray"
LAYOUT = "metadata.csv and images/<image>"


def find_root(manual_dir: str) -> Optional[str]:
  """`covid-chestxray-dataset/` (a git clone) or an unpacked GitHub archive."""
  pattern = os.path.join(manual_dir, "covid-chestxray-dataset*")
  candidates = [c for c in sorted(glob.glob(pattern)) if os.path.isdir(c)]
  roots = [c for c in candidates if os.path.isfile(os.path.join(c, METADATA))]
  if len(roots) > 1:
    raise ValueError(
        f"{manual_dir}: several ieee8023 copies found ({roots}); "
        "keep one covid-chestxray-dataset folder in manual_dir")
  if not roots and candidates:
    # Without the CSV its images have no labels; ignoring the folder would
    # drop the whole source without a word.
    raise ValueError(
        f"{candidates[0]}: no {METADATA} in it; an ieee8023 folder holds "
        f"{METADATA} and {IMAGE_FOLDER}/ (git clone "
        "https://github.com/ieee8023/covid-chestxray-dataset)")
  return roots[0] if roots else None


def _row_problem(row, views: frozenset[str]) -> tuple[Optional[str], str]:
  if row["modality"].strip() != X_RAY:
    return records.EXCLUDED_MODALITY, row["modality"]
  if row["view"].strip() not in views:
    return records.EXCLUDED_VIEW, row["view"]
  if labels.ieee8023_finding(row["finding"]) is None:
    return records.UNKNOWN_FINDING, row["finding"]
  return None, ""


def read_records(root: str, manual_dir: str,
                 include_lateral: bool = False) -> Iterator[records.SourceRecord]:
  """One record per metadata row, plus one per image file no row names."""
  csv_path = os.path.join(root, METADATA)
  metadata = records.read_metadata(csv_path, REQUIRED_COLUMNS)
  views = labels.FRONTAL_VIEWS | (labels.LATERAL_VIEWS if include_lateral
                                  else frozenset())
  image_folder = os.path.join(root, IMAGE_FOLDER)
  named = set()
  for index, row in metadata.iterrows():
    file_name = row["filename"].strip()
    reason, detail = _row_problem(row, views)
    path = None
    if row["folder"].strip() != IMAGE_FOLDER:
      if reason is None:
        reason, detail = records.EXCLUDED_FOLDER, row["folder"]
    else:
      path = records.safe_join(image_folder, file_name, root)
      if path is None:
        reason, detail = records.UNSAFE_PATH, file_name
      elif not os.path.isfile(path):
        if reason is None:
          reason, detail = records.absent_reason(path), file_name
        path = None
      else:
        named.add(os.path.basename(path))
    yield records.SourceRecord(
        source=NAME,
        path=records.relative(path, manual_dir) if path else None,
        key_path=f"{IMAGE_FOLDER}/{file_name}",
        metadata=records.row_reference(csv_path, manual_dir, index),
        finding=labels.ieee8023_finding(row["finding"]),
        finding_text=row["finding"],
        patient_id=f"{NAME}:{row['patientid'].strip()}",
        view=row["view"].strip(),
        skip_reason=reason,
        skip_detail=detail,
    )
  if os.path.isdir(image_folder):
    for path, problem in records.list_files(image_folder, root):
      if os.path.basename(path) not in named:
        yield records.SourceRecord(
            source=NAME,
            path=records.relative(path, manual_dir),
            key_path=records.relative(path, root),
            skip_reason=problem or records.NO_METADATA_ROW,
        )
