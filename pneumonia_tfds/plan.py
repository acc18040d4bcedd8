"""The whole-dataset decisions, on metadata only: never a pixel.

`make` takes every source record, every file's sha256 and every distinct
image's fingerprint (or decode error), and decides what becomes an example:
exact duplicates, label conflicts, near-duplicate pairs, patient groups and
splits, and the build report. The local build calls it in the driver; the
Beam build in one step of the pipeline, on the same inputs. Its memory is
a few kilobytes per source file (see BUILD.md).
"""

import dataclasses
from typing import Iterable, Optional, Sequence

from pneumonia_tfds import merge
from pneumonia_tfds import near_duplicates
from pneumonia_tfds import per_file
from pneumonia_tfds import report
from pneumonia_tfds import splits
from pneumonia_tfds.sources import records as records_lib


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the plan depends on besides its inputs."""
  source_order: tuple[str, ...]
  split_mode: str
  split_ratios: tuple[float, float, float]
  seed: int
  max_examples_per_split: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class Example:
  """An example to write, all but its image: (key, split, features)."""
  key: str
  split: str
  features: dict


@dataclasses.dataclass(frozen=True)
class Plan:
  """Examples by sha256 of their image, and the build report."""
  examples: dict[str, Example]
  report_rows: list[dict]
  summary: dict

  def split_names(self) -> list[str]:
    present = {example.split for example in self.examples.values()}
    return [name for name in splits.SPLITS if name in present]


def readable_paths(records: Iterable[records_lib.SourceRecord]) -> list[str]:
  """The distinct files to hash, sorted."""
  return sorted({r.path for r in records if merge.is_readable(r)})


def canonical_paths(digests: Iterable[per_file.Digest]) -> dict[str, str]:
  """sha256 -> the one path decoded for it (the smallest; any copy would do,
  the bytes are the same)."""
  chosen = {}
  for digest in digests:
    if digest.sha256 and (digest.sha256 not in chosen or
                          digest.path < chosen[digest.sha256]):
      chosen[digest.sha256] = digest.path
  return chosen


def _features(image: merge.MergedImage, group: str) -> dict:
  return {
      "label": image.finding.label,
      "pneumonia_type": image.finding.pneumonia_type,
      "source": image.canonical.source,
      "sources": sorted({c.source for c in image.copies}),
      "patient_id": image.canonical.patient_id,
      "patient_group": group,
      "view": image.view,
      "file_name": image.canonical.path,
      "file_names": sorted({c.path for c in image.copies}),
      "finding": image.canonical.finding_text,
      "sha256": image.sha256,
  }


def _mark_unreadable(records, digests) -> list[records_lib.SourceRecord]:
  problems = {d.path: d for d in digests if not d.sha256}
  return [dataclasses.replace(r, skip_reason=problems[r.path].reason,
                              skip_detail=problems[r.path].detail)
          if merge.is_readable(r) and r.path in problems else r
          for r in records]


def _near_duplicate_text(pairs, candidates) -> dict[str, str]:
  texts = {}
  for i, j, phash, dhash in pairs:
    for this, other in ((i, j), (j, i)):
      texts.setdefault(candidates[this].key, []).append(
          f"{candidates[other].key} (phash {phash}, dhash {dhash} bits)")
  return {key: "; ".join(sorted(parts)) for key, parts in texts.items()}


def make(records: Sequence[records_lib.SourceRecord],
         digests: Iterable[per_file.Digest],
         decoded: Iterable[per_file.Decoded], settings: Settings) -> Plan:
  """Decides every example and every report row; see the module docstring.

  Raises:
    ValueError: not a single usable image.
  """
  digests = list(digests)
  records = _mark_unreadable(records, digests)
  images = merge.merge(records, settings.source_order, digests={
      d.path: d.sha256 for d in digests if d.sha256})
  decoded = {d.sha256: d for d in decoded}
  decode_errors = {image.key: (decoded[image.sha256].reason,
                               decoded[image.sha256].detail)
                   for image in images
                   if image.sha256 in decoded and decoded[image.sha256].reason}
  candidates = [image for image in images if image.skip_reason is None and
                image.key not in decode_errors and image.sha256 in decoded]
  pairs = near_duplicates.pairs([
      near_duplicates.Fingerprint.from_text(decoded[image.sha256].fingerprint)
      for image in candidates])
  links = [(candidates[i].key, candidates[j].key) for i, j, _, _ in pairs]
  assignment = splits.assign(candidates, settings.split_mode,
                             settings.split_ratios, settings.seed, links,
                             settings.source_order)
  groups = splits.patient_groups(candidates, links, settings.source_order)
  written = []
  for name in splits.SPLITS:
    keys = sorted(k for k, split in assignment.items() if split == name)
    written += keys[:settings.max_examples_per_split]
  report_rows = report.rows(records, images, assignment, written,
                            decode_errors,
                            _near_duplicate_text(pairs, candidates))
  summary = report.summary(report_rows, links)
  if not written:
    skipped = [f"{r['path'] or r['metadata']}: {r['reason']} ({r['detail']})"
               for r in report_rows if r["status"] == report.SKIPPED]
    raise ValueError(
        "no usable image, so nothing was built; skipped per reason: "
        f"{summary['skipped_per_reason'] or 'none (no files found)'}"
        f"{'; first: ' if skipped else ''}{'; '.join(skipped[:5])}")
  written = set(written)
  examples = {image.sha256: Example(image.key, assignment[image.key],
                                    _features(image, groups[image.key]))
              for image in candidates if image.key in written}
  return Plan(examples, report_rows, summary)
