"""Merges source records into distinct images by content (sha256 of bytes)."""

import collections
import dataclasses
import hashlib
import os
from typing import Iterable, Mapping, Optional, Sequence

from pneumonia_tfds import labels
from pneumonia_tfds.sources import records as records_lib

LABEL_CONFLICT = "label conflict"
SPLIT_ORDER = ("test", "validation", "train")  # Leak-averse: test wins.


@dataclasses.dataclass(frozen=True)
class MergedImage:
  """All copies of one distinct image and what they agree on.

  Attributes:
    sha256: hex digest of the file bytes shared by every copy.
    copies: every record with these bytes, the canonical one first.
    finding: the label the copies agree on (None when excluded).
    patient_ids: every patient key any copy names; a split keeps them together.
    source_split: the most leak-averse split any copy's source assigns.
    skip_reason / skip_detail: why the image is excluded, if it is.
  """
  sha256: str
  copies: tuple[records_lib.SourceRecord, ...]
  finding: Optional[labels.Finding]
  patient_ids: tuple[str, ...]
  source_split: Optional[str]
  skip_reason: Optional[str] = None
  skip_detail: str = ""

  @property
  def canonical(self) -> records_lib.SourceRecord:
    return self.copies[0]

  @property
  def key(self) -> str:
    return self.canonical.key

  @property
  def view(self) -> str:
    return next((c.view for c in self.copies if c.view), "")


def file_sha256(path: str) -> str:
  with open(path, "rb") as f:
    return hashlib.file_digest(f, "sha256").hexdigest()


def is_readable(record: records_lib.SourceRecord) -> bool:
  return (record.path is not None and
          record.skip_reason not in records_lib.UNREADABLE_REASONS)


def _merge_copies(sha256: str,
                  copies: Sequence[records_lib.SourceRecord]) -> MergedImage:
  labelled = [c for c in copies if c.finding is not None and not c.skip_reason]
  # The key comes from the first copy that carries a label, so that an
  # unlabelled stray copy never names the example.
  ordered = labelled + [c for c in copies if c not in labelled]
  splits = {c.source_split for c in copies}
  common = dict(
      sha256=sha256,
      copies=tuple(ordered),
      patient_ids=tuple(sorted({c.patient_id for c in copies if c.patient_id})),
      source_split=next((s for s in SPLIT_ORDER if s in splits), None),
  )
  vetoes = [c for c in copies if c.skip_reason in records_lib.CONTENT_REASONS]
  if vetoes:
    veto = vetoes[0]
    return MergedImage(finding=None, skip_reason=veto.skip_reason,
                       skip_detail=f"{veto.skip_detail} (per {veto.key})",
                       **common)
  if not labelled:
    first = copies[0]
    return MergedImage(finding=None,
                       skip_reason=first.skip_reason or records_lib.UNKNOWN_FINDING,
                       skip_detail=first.skip_detail, **common)
  finding = labels.resolve([c.finding for c in labelled])
  if finding is None:
    detail = "; ".join(f"{c.key}: {c.finding_text}" for c in labelled)
    return MergedImage(finding=None, skip_reason=LABEL_CONFLICT,
                       skip_detail=detail, **common)
  return MergedImage(finding=finding, **common)


def merge(records: Iterable[records_lib.SourceRecord],
          source_order: Sequence[str],
          manual_dir: Optional[str] = None,
          digests: Optional[Mapping[str, str]] = None) -> list[MergedImage]:
  """Groups readable records by content, copies in source priority order.

  `digests` maps a record's path to the sha256 of its bytes; a path missing
  from it is hashed from manual_dir. Returns the merged images sorted by
  key, so the result does not depend on the order files were listed in.
  """
  priority = {name: i for i, name in enumerate(source_order)}
  digests = dict(digests or {})
  by_digest = collections.defaultdict(list)
  for record in records:
    if not is_readable(record):
      continue
    if record.path not in digests:
      digests[record.path] = file_sha256(os.path.join(manual_dir, record.path))
    by_digest[digests[record.path]].append(record)
  merged = []
  for sha256, copies in by_digest.items():
    # Rows naming one file are ordered by what they say before where they
    # stand, so that reordering a CSV cannot change the example.
    copies.sort(key=lambda c: (priority[c.source], c.key_path, c.finding_text,
                               c.patient_id, c.view, c.metadata))
    merged.append(_merge_copies(sha256, copies))
  return sorted(merged, key=lambda image: image.key)
