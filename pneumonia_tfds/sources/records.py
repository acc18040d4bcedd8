"""The plain record every source reader yields, and helpers they share."""

import dataclasses
import os
from typing import Iterator, Optional, Sequence

import pandas as pd

from pneumonia_tfds import labels

# Reasons a reader gives. Content reasons exclude every copy of the image;
# label reasons only keep that copy from voting on the label.
EXCLUDED_MODALITY = "excluded modality"
EXCLUDED_VIEW = "excluded view"
EXCLUDED_FOLDER = "excluded metadata folder"
UNKNOWN_FINDING = "unknown finding"
MISSING_FILE = "missing file"
NO_METADATA_ROW = "no metadata row"
UNSAFE_PATH = "unsafe path"
NOT_A_FILE = "not a regular file"
HIDDEN_FILE = "hidden file"
NON_UTF8_NAME = "file name not UTF-8"
UNKNOWN_SPLIT = "unknown source split"
UNREADABLE_FILE = "unreadable file"  # Listed, but reading it failed.
OUTSIDE_LAYOUT = "not in the source's layout"
ARCHIVE_ARTEFACT = "archive artefact"
# Folders that archivers add: macOS resource forks.
ARTEFACT_FOLDERS = frozenset({"__MACOSX"})

CONTENT_REASONS = frozenset({EXCLUDED_MODALITY, EXCLUDED_VIEW})
# Records with these reasons have no bytes to read.
UNREADABLE_REASONS = frozenset(
    {MISSING_FILE, UNSAFE_PATH, NOT_A_FILE, HIDDEN_FILE, NON_UTF8_NAME,
     EXCLUDED_FOLDER, UNKNOWN_SPLIT, OUTSIDE_LAYOUT, ARCHIVE_ARTEFACT,
     UNREADABLE_FILE})


@dataclasses.dataclass(frozen=True)
class SourceRecord:
  """One source file or metadata row, before any pixel is decoded.

  Attributes:
    source: reader name ("kermany", "coronahack", "ieee8023").
    path: file path relative to manual_dir (POSIX), or None when a metadata row
      names a file that is not there.
    key_path: path relative to the source root; with `source` it makes the
      example key, independent of where the user put the folder.
    metadata: "<csv path>#<data row, 1-based>" of the row describing the file.
    finding: mapped label, or None when the source gives none we know.
    finding_text: the source's own label text, for the report.
    patient_id: patient key, prefixed by the collection it numbers patients in.
    view: radiographic view as the source states it ("" when it does not).
    source_split: the source's own split assignment, if it has one.
    skip_reason: why this record cannot become an example by itself; a reason
      in CONTENT_REASONS excludes every copy of the same image.
    skip_detail: the specific value behind the reason (e.g. "CT", "L").
  """
  source: str
  path: Optional[str]
  key_path: str
  metadata: str = ""
  finding: Optional[labels.Finding] = None
  finding_text: str = ""
  patient_id: str = ""
  view: str = ""
  source_split: Optional[str] = None
  skip_reason: Optional[str] = None
  skip_detail: str = ""

  @property
  def key(self) -> str:
    return f"{self.source}/{self.key_path}"


def printable(name: str) -> str:
  """`name` with the bytes of a non-UTF-8 file name, which os.listdir returns
  as lone surrogates that no text output can encode, shown as \\xNN."""
  return name.encode("utf-8", "surrogateescape").decode("utf-8",
                                                        "backslashreplace")


def relative(path: str, manual_dir: str) -> str:
  return printable(os.path.relpath(path, manual_dir).replace(os.sep, "/"))


def inside(path: str, root: str) -> bool:
  """Whether `path`, with every link resolved, stays under `root`."""
  real_root = os.path.realpath(root)
  return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def list_files(folder: str, root: str) -> Iterator[tuple[str, Optional[str]]]:
  """Yields (path, problem) for each entry directly in `folder`, sorted.

  `problem` is None for a readable regular file under `root`, else the reason
  the entry cannot be a source file.
  """
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if name.startswith("."):
      yield path, HIDDEN_FILE
    elif printable(name) != name:
      # Its key and file_name could not be stored as text.
      yield path, NON_UTF8_NAME
    elif not inside(path, root):
      yield path, UNSAFE_PATH
    elif not os.path.isfile(path):
      yield path, NOT_A_FILE
    else:
      yield path, None


def safe_join(folder: str, file_name: str, root: str) -> Optional[str]:
  """`folder/file_name` if the name is a plain name that stays under root."""
  # A NUL byte would make the os calls below raise ValueError, not say no.
  if (not file_name or os.path.isabs(file_name) or "/" in file_name or
      "\\" in file_name or "\0" in file_name or file_name in (".", "..")):
    return None
  path = os.path.join(folder, file_name)
  return path if inside(path, root) else None


def absent_reason(path: str) -> str:
  """Why a metadata row's file cannot be read: there is nothing at `path`,
  or something that is not a regular file (a folder, a pipe, a broken link)."""
  return NOT_A_FILE if os.path.lexists(path) else MISSING_FILE


def read_metadata(csv_path: str, required: Sequence[str]) -> pd.DataFrame:
  """Reads a metadata CSV as strings; a missing column is a ValueError.

  The CSV must resolve inside its own folder (the source root): a link to a
  file elsewhere is refused, not read.
  """
  if not inside(csv_path, os.path.dirname(csv_path)):
    raise ValueError(
        f"{csv_path}: links to {os.path.realpath(csv_path)}, outside its "
        "source folder; copy the file into the folder instead")
  try:
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False,
                        encoding="utf-8", encoding_errors="replace")
  except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as e:
    raise ValueError(f"{csv_path}: cannot be read as a CSV file: {e}") from e
  missing = [column for column in required if column not in frame.columns]
  if missing:
    raise ValueError(
        f"{csv_path}: missing required column(s) {missing}; "
        f"expected at least {list(required)}, found {list(frame.columns)}")
  return frame


def row_reference(csv_path: str, manual_dir: str, index: int) -> str:
  """Names a CSV data row; rows, not lines, since quoted fields hold newlines."""
  return f"{relative(csv_path, manual_dir)}#{index + 1}"


def _unclaimed_reason(parts: Sequence[str], root_name: str) -> str:
  """Why a file no reader claimed is left out, from its path under the root."""
  # The Kaggle Kermany archive nests a second copy of its folder in itself.
  if ARTEFACT_FOLDERS & set(parts[:-1]) or (len(parts) > 1 and
                                            parts[0] == root_name):
    return ARCHIVE_ARTEFACT
  if parts[-1].startswith("."):
    return HIDDEN_FILE
  if printable(parts[-1]) != parts[-1]:
    return NON_UTF8_NAME
  return OUTSIDE_LAYOUT


def unclaimed_files(source: str, walk_root: str, source_root: str,
                    manual_dir: str, claimed: set[str], layout: str,
                    other_roots: Sequence[str] = ()) -> Iterator[SourceRecord]:
  """A record for every entry under walk_root that no reader row names.

  `claimed` holds the paths (relative to manual_dir) the reader already
  accounted for, its metadata CSVs included. Folders of other sources
  (`other_roots`) are left to their own reader. A hidden folder or a link to
  a folder is one record, not walked into.
  """
  skip = {os.path.realpath(root) for root in other_roots}
  root_name = os.path.basename(os.path.normpath(source_root))

  def record(path, reason, detail):
    return SourceRecord(source=source, path=relative(path, manual_dir),
                        key_path=relative(path, source_root),
                        skip_reason=reason, skip_detail=detail)

  for folder, folders, files in os.walk(walk_root):
    kept = []
    for name in sorted(folders):
      path = os.path.join(folder, name)
      if os.path.realpath(path) in skip and not os.path.islink(path):
        continue
      if os.path.islink(path):
        yield record(path, NOT_A_FILE, "link to a folder, not followed")
      elif name.startswith("."):
        yield record(path, HIDDEN_FILE, "hidden folder, not read")
      else:
        kept.append(name)
    folders[:] = kept
    for name in sorted(files):
      path = os.path.join(folder, name)
      if relative(path, manual_dir) in claimed:
        continue
      parts = relative(path, source_root).split("/")
      reason = _unclaimed_reason(parts, root_name)
      yield record(path, reason, f"{'/'.join(parts)}: expected {layout}")
