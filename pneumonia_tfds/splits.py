"""Patient groups and a split assignment that stays put when data are added.

A patient group is a connected set of patient keys and images: a key joins
every image it names, an image joins every key that names it (two
collections' keys for the same film), and a near-duplicate pair joins two
images. Each group has an *anchor*, the member key that comes first by
source priority (Kermany, ieee8023, CoronaHack, then images without a key),
then by name. The group's split is a seeded hash of its anchor, cut at the
cumulative ratios.

So a group's split depends on its anchor, the seed and the ratios only: not
on which other groups, sources, files or views are in the build, nor on
file order. A copy from a lower-priority source joining a group never
changes its anchor; only a join of two groups (a new shared image, a near
duplicate) moves one of them, to keep it whole. Ratios hold by group count,
so by images only approximately.
"""

import collections
import hashlib
from typing import Iterable, Mapping, Optional, Sequence

from pneumonia_tfds import merge

SPLITS = ("train", "validation", "test")
PATIENT_MODE = "patient"
SOURCE_MODE = "source"
SPLIT_MODES = (PATIENT_MODE, SOURCE_MODE)
_IMAGE_PREFIX = "image:"


def _image_node(image: merge.MergedImage) -> str:
  # The content, not the key: a copy found in another source is the same
  # node whichever copy names the example.
  return f"{_IMAGE_PREFIX}{image.sha256}"


def _anchor_order(source_order: Sequence[str]):
  rank = {name: i for i, name in enumerate(source_order)}

  def order(node: str) -> tuple:
    if node.startswith(_IMAGE_PREFIX):
      return (len(rank) + 1, node)
    return (rank.get(node.split(":", 1)[0], len(rank)), node)

  return order


def patient_groups(images: Sequence[merge.MergedImage],
                   links: Iterable[tuple[str, str]] = (),
                   source_order: Sequence[str] = ()) -> dict[str, str]:
  """Maps each image key to its group's anchor.

  Args:
    images: the images to group.
    links: pairs of image keys that must share a group (near duplicates).
    source_order: source names, highest priority first; a patient key is
      "<source>:<id>".
  """
  parent = {}

  def find(node):
    parent.setdefault(node, node)
    while parent[node] != node:
      parent[node] = parent[parent[node]]
      node = parent[node]
    return node

  def union(a, b):
    a, b = find(a), find(b)
    if a != b:
      parent[max(a, b)] = min(a, b)

  node_of = {image.key: _image_node(image) for image in images}
  for image in images:
    find(node_of[image.key])
    for patient_id in image.patient_ids:
      union(node_of[image.key], patient_id)
  for a, b in links:
    if a in node_of and b in node_of:
      union(node_of[a], node_of[b])
  members = collections.defaultdict(list)
  for node in parent:
    members[find(node)].append(node)
  order = _anchor_order(source_order)
  anchor = {root: min(nodes, key=order) for root, nodes in members.items()}
  return {key: anchor[find(node)] for key, node in node_of.items()}


def _unit(anchor: str, seed: int, salt: str = "") -> float:
  """A number in [0, 1) fixed by the anchor, the seed and the salt."""
  digest = hashlib.sha256(f"{seed}/{salt}{anchor}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2.0**64


def _check(split_names: Sequence[str], ratios: Sequence[float]) -> None:
  if (len(split_names) != len(ratios) or any(r < 0 for r in ratios) or
      sum(ratios) <= 0):
    raise ValueError(f"ratios {ratios} do not fit splits {split_names}: "
                     "need one non-negative ratio per split, with a positive sum")


def split_of(anchor: str, split_names: Sequence[str],
             ratios: Sequence[float], seed: int, salt: str = "") -> str:
  """The split a group with this anchor goes to."""
  _check(split_names, ratios)
  total = sum(ratios)
  unit = _unit(anchor, seed, salt)
  bound = 0.0
  for name, ratio in zip(split_names, ratios):
    bound += ratio / total
    if ratio and unit < bound:
      return name
  return next(n for n, r in reversed(list(zip(split_names, ratios))) if r)


def assign_groups(images: Sequence[merge.MergedImage],
                  split_names: Sequence[str], ratios: Sequence[float],
                  seed: int, group_of: Optional[Mapping[str, str]] = None,
                  salt: str = "") -> dict[str, str]:
  """Assigns whole patient groups to splits; returns image key -> split.

  `group_of` (image key -> anchor) defaults to the groups of `images` alone.
  """
  _check(split_names, ratios)
  group_of = patient_groups(images) if group_of is None else group_of
  return {image.key: split_of(group_of[image.key], split_names, ratios, seed,
                              salt)
          for image in images}


def assign(images: Iterable[merge.MergedImage], mode: str,
           ratios: Sequence[float], seed: int,
           links: Iterable[tuple[str, str]] = (),
           source_order: Sequence[str] = ()) -> dict[str, str]:
  """Image key -> split for the images that become examples.

  In "patient" mode every group is placed by its anchor. In "source" mode an
  image keeps its source's train/validation/test assignment (where copies
  disagree the test side wins); images of a group that has one follow the
  group's most leak-averse source split; a group with none (ieee8023) is
  placed as in patient mode. Validation is then carved out of the source's
  training images by group, at ratio validation / (train + validation).
  """
  images = [image for image in images if image.skip_reason is None]
  if mode not in SPLIT_MODES:
    raise ValueError(f"split mode {mode!r} is not one of {SPLIT_MODES}")
  _check(SPLITS, ratios)
  group_of = patient_groups(images, links, source_order)
  if mode == PATIENT_MODE:
    return assign_groups(images, SPLITS, ratios, seed, group_of)
  group_split = {}
  for image in images:
    if image.source_split:
      previous = group_split.get(group_of[image.key])
      if previous is None or (merge.SPLIT_ORDER.index(image.source_split) <
                              merge.SPLIT_ORDER.index(previous)):
        group_split[group_of[image.key]] = image.source_split
  assignment = {}
  for image in images:
    group = group_of[image.key]
    if group not in group_split:
      assignment[image.key] = split_of(group, SPLITS, ratios, seed)
      continue
    split = image.source_split or group_split[group]
    if split == "train" and sum(ratios[:2]):
      # A salt of its own: the carve must not favour the groups whose
      # patient-mode draw would have been train.
      split = split_of(group, SPLITS[:2], ratios[:2], seed, salt="carve/")
    assignment[image.key] = split
  return assignment
