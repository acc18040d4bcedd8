"""Patient-grouped, type-stratified, seeded split assignment.

A patient group is a connected set of patient keys: two keys that name copies
of one image (e.g. Kermany NORMAL2-IM-0095 and -0096) are one group. Within each
stratum (the group's most frequent pneumonia type) the groups are put in the
order of a seeded hash of their key and cut at the cumulative image fractions
given by the ratios. The result depends on the images, keys and seed only,
never on the order in which files were listed.
"""

import collections
import hashlib
from typing import Iterable, Mapping, Optional, Sequence

from pneumonia_tfds import labels
from pneumonia_tfds import merge

SPLITS = ("train", "validation", "test")
PATIENT_MODE = "patient"
SOURCE_MODE = "source"
SPLIT_MODES = (PATIENT_MODE, SOURCE_MODE)


def patient_groups(images: Sequence[merge.MergedImage]) -> dict[str, str]:
  """Maps each image key to its group key (the smallest patient key in it)."""
  parent = {}

  def find(node):
    parent.setdefault(node, node)
    while parent[node] != node:
      parent[node] = parent[parent[node]]
      node = parent[node]
    return node

  for image in images:
    ids = image.patient_ids or (f"image:{image.key}",)
    for other in ids[1:]:
      a, b = find(ids[0]), find(other)
      parent[max(a, b)] = min(a, b)
    find(ids[0])
  return {image.key: find((image.patient_ids or (f"image:{image.key}",))[0])
          for image in images}


def _stratum(group: list[merge.MergedImage]) -> str:
  counts = collections.Counter(image.finding.pneumonia_type for image in group)
  return min(counts, key=lambda t: (-counts[t], labels.PNEUMONIA_TYPES.index(t)))


def _seeded_order(group_key: str, seed: int) -> str:
  return hashlib.sha256(f"{seed}/{group_key}".encode()).hexdigest()


def assign_groups(images: Sequence[merge.MergedImage],
                  split_names: Sequence[str], ratios: Sequence[float],
                  seed: int,
                  group_of: Optional[Mapping[str, str]] = None) -> dict[str, str]:
  """Assigns whole patient groups to splits; returns image key -> split.

  `group_of` (image key -> group key) defaults to the groups of `images`
  alone; pass the groups of a larger set to keep those groups whole.
  """
  if (len(split_names) != len(ratios) or any(r < 0 for r in ratios) or
      sum(ratios) <= 0):
    raise ValueError(f"ratios {ratios} do not fit splits {split_names}: "
                     "need one non-negative ratio per split, with a positive sum")
  total_ratio = sum(ratios)
  bounds = [sum(ratios[:i + 1]) / total_ratio for i in range(len(ratios))]
  group_of = patient_groups(images) if group_of is None else group_of
  groups = collections.defaultdict(list)
  for image in images:
    groups[group_of[image.key]].append(image)
  strata = collections.defaultdict(list)
  for group_key, members in groups.items():
    strata[_stratum(members)].append(group_key)
  assignment = {}
  for group_keys in strata.values():
    group_keys.sort(key=lambda k: _seeded_order(k, seed))
    stratum_size = sum(len(groups[k]) for k in group_keys)
    done = 0
    for group_key in group_keys:
      size = len(groups[group_key])
      midpoint = (done + size / 2) / stratum_size
      split = next(name for name, bound in zip(split_names, bounds)
                   if midpoint < bound or bound == bounds[-1])
      done += size
      for image in groups[group_key]:
        assignment[image.key] = split
  return assignment


def assign(images: Iterable[merge.MergedImage], mode: str,
           ratios: Sequence[float], seed: int) -> dict[str, str]:
  """Image key -> split for the images that become examples.

  In "patient" mode every group is placed by `assign_groups`. In "source" mode
  an image keeps its source's train/validation/test assignment; a group with
  no source assignment (ieee8023) is placed as in patient mode, and images of
  a group that has one follow it. Validation is then carved out of the source
  training images by patient group, in proportion to the ratios.
  """
  images = [image for image in images if image.skip_reason is None]
  if mode == PATIENT_MODE:
    return assign_groups(images, SPLITS, ratios, seed)
  if mode != SOURCE_MODE:
    raise ValueError(f"split mode {mode!r} is not one of {SPLIT_MODES}")
  group_of = patient_groups(images)
  group_split = {}
  for image in images:
    if image.source_split:
      previous = group_split.get(group_of[image.key])
      if previous is None or (merge.SPLIT_ORDER.index(image.source_split) <
                              merge.SPLIT_ORDER.index(previous)):
        group_split[group_of[image.key]] = image.source_split
  assignment = assign_groups(
      [i for i in images if group_of[i.key] not in group_split], SPLITS,
      ratios, seed)
  for image in images:
    if group_of[image.key] in group_split:
      assignment[image.key] = image.source_split or group_split[group_of[image.key]]
  source_train = [i for i in images if assignment[i.key] == "train" and
                  group_of[i.key] in group_split]
  assignment.update(assign_groups(source_train, SPLITS[:2], ratios[:2], seed,
                                  group_of=group_of))
  return assignment
