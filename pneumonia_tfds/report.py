"""The build report: one row per source file or metadata row, and a summary."""

import collections
import csv
import io
import json
from typing import Iterable, Mapping, Sequence

from etils import epath

from pneumonia_tfds import merge
from pneumonia_tfds.sources import records as records_lib

REPORT_CSV = "build_report.csv"
SUMMARY_JSON = "build_summary.json"
WRITTEN, DUPLICATE, SKIPPED = "written", "duplicate", "skipped"
DECODE_FAILED = "undecodable"
NOT_GENERATED = "not generated (example limit)"
COLUMNS = ("source", "path", "metadata", "status", "reason", "detail", "key",
           "duplicate_of", "near_duplicate_of", "split", "label", "pneumonia_type", "patient_id",
           "view", "finding_text", "sha256")


def rows(records: Sequence[records_lib.SourceRecord],
         images: Sequence[merge.MergedImage], assignment: Mapping[str, str],
         written: Iterable[str],
         decode_errors: Mapping[str, tuple[str, str]],
         near_duplicates: Mapping[str, str] = {}) -> list[dict[str, str]]:
  """Accounts for every record: written, duplicate of a key, or skipped.

  `decode_errors` maps the key of each image the decoder refused to
  (reason, detail), the reason one of images.UNDECODABLE, TOO_LARGE,
  TOO_SMALL. `near_duplicates` maps an image key to the text of its
  `near_duplicate_of` column.
  """
  written = set(written)
  rows_by_record = {}
  for image in images:
    if image.skip_reason:
      status, reason, detail = SKIPPED, image.skip_reason, image.skip_detail
    elif image.key in decode_errors:
      status = SKIPPED
      reason, detail = decode_errors[image.key]
    elif image.key not in written:
      status, reason, detail = SKIPPED, NOT_GENERATED, ""
    else:
      status, reason, detail = WRITTEN, "", ""
    finding = image.finding
    for index, copy in enumerate(image.copies):
      row = dict(
          source=copy.source, path=copy.path or "", metadata=copy.metadata,
          status=status, reason=reason, detail=detail, key=image.key,
          duplicate_of="",
          near_duplicate_of=near_duplicates.get(image.key, ""),
          split=assignment.get(image.key, "")
          if status == WRITTEN else "",
          label=finding.label if finding else "",
          pneumonia_type=finding.pneumonia_type if finding else "",
          patient_id=copy.patient_id, view=copy.view,
          finding_text=copy.finding_text, sha256=image.sha256)
      if index and status == WRITTEN:
        row.update(status=DUPLICATE, key="", duplicate_of=image.key,
                   near_duplicate_of="",
                   reason="same file, another metadata row"
                   if copy.path == image.canonical.path else "same bytes")
      rows_by_record[id(copy)] = row
  result = []
  for record in records:
    row = rows_by_record.get(id(record))
    if row is None:  # Never read: missing, unsafe, excluded before reading.
      row = dict.fromkeys(COLUMNS, "")
      row.update(source=record.source, path=record.path or "",
                 metadata=record.metadata, status=SKIPPED,
                 reason=record.skip_reason or "", detail=record.skip_detail,
                 patient_id=record.patient_id, view=record.view,
                 finding_text=record.finding_text)
    result.append(row)
  return result


def summary(report_rows: Sequence[Mapping[str, str]],
            near_duplicate_pairs: Iterable[tuple[str, str]] = ()) -> dict:
  """Counts per split/label/type/source of what was written, of skips, and
  of near-duplicate pairs per pair of sources (keys "<source>/...")."""
  written = [r for r in report_rows if r["status"] == WRITTEN]
  count = lambda keys: dict(sorted(collections.Counter(
      "/".join(r[k] for k in keys) for r in written).items()))
  return {
      "examples": len(written),
      "per_split": count(("split",)),
      "per_split_label": count(("split", "label")),
      "per_split_type": count(("split", "pneumonia_type")),
      "per_split_source": count(("split", "source")),
      "rows_per_status": dict(collections.Counter(r["status"] for r in report_rows)),
      "skipped_per_reason": dict(sorted(collections.Counter(
          f"{r['source']}: {r['reason']}" for r in report_rows
          if r["status"] == SKIPPED).items())),
      "duplicates_per_source": dict(sorted(collections.Counter(
          f"{r['source']} -> {r['duplicate_of'].split('/')[0]}"
          for r in report_rows if r["status"] == DUPLICATE).items())),
      "near_duplicate_pairs_per_sources": dict(sorted(collections.Counter(
          " ~ ".join(sorted(key.split("/")[0] for key in pair))
          for pair in near_duplicate_pairs).items())),
  }


def to_csv(report_rows: Sequence[Mapping[str, str]]) -> str:
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
  writer.writeheader()
  writer.writerows(report_rows)
  return buffer.getvalue()


def to_json(summary_dict: dict) -> str:
  return json.dumps(summary_dict, indent=2) + "\n"


def format_table(summary_dict: dict) -> str:
  """A few human-readable lines for the end of `tfds build`."""
  lines = [f"pneumonia_xray: {summary_dict['examples']} examples written"]
  for title, key in (("split/label", "per_split_label"),
                     ("split/type", "per_split_type"),
                     ("split/source", "per_split_source"),
                     ("skipped", "skipped_per_reason"),
                     ("duplicates", "duplicates_per_source"),
                     ("near-duplicate pairs",
                      "near_duplicate_pairs_per_sources")):
    lines.append(f"  {title}:")
    lines.extend(f"    {name:<40} {n:>6}"
                 for name, n in summary_dict.get(key, {}).items())
  return "\n".join(lines)


def write(report_rows: Sequence[Mapping[str, str]], summary_dict: dict,
          folder: str) -> None:
  """Writes the report and its summary into folder (local or a bucket)."""
  folder = epath.Path(folder)
  (folder / REPORT_CSV).write_text(to_csv(report_rows))
  (folder / SUMMARY_JSON).write_text(to_json(summary_dict))


def read_summary(folder: str) -> dict:
  return json.loads((epath.Path(folder) / SUMMARY_JSON).read_text())
