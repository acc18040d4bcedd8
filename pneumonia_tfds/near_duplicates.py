"""Perceptual fingerprints and the near-duplicate pairs they reveal.

Two hashes from `imagehash` describe each decoded image: a 64-bit DCT hash
(phash) and a 256-bit gradient hash (dhash, 16x16). A pair is a near
duplicate when both are close. Chest films look alike, so one 64-bit hash
alone puts distinct patients as close as a slightly cropped copy (measured
on the shared data, see BUILD.md); the second, independent hash keeps
distinct patients apart.
"""

import dataclasses
from typing import Sequence

import imagehash
import numpy as np
from PIL import Image

# Largest distances (in bits) of a near-duplicate pair, chosen on the 432
# Kermany and ieee8023 originals of the shared data: copies re-encoded at
# quality 60, resized to a third, squashed to 224 px or re-saved as PNG stay
# within 2 / 11 bits (phash / dhash), 1%-cropped ones within 6 / 22, the 270
# real 224 px copies in chest_xray_small within 4 / 13. Of 93,000 pairs of
# distinct patients none came within 8 bits on phash; the closest on dhash
# (18 bits) were 12 apart on phash.
MAX_PHASH_DISTANCE = 6
MAX_DHASH_DISTANCE = 24
DHASH_SIZE = 16
# Both hashes shrink the image to 32 px or less. A box filter to this size
# first does most of that at a fifth of the cost of their Lanczos filter on
# a large image, and keeps the cost flat whatever the image's size.
_PRE_SIZE = 64
# Distances computed at once: about 8 bytes each, so ~32 MB whatever N.
_BLOCK_ELEMENTS = 1 << 22


@dataclasses.dataclass(frozen=True)
class Fingerprint:
  """phash (64 bits) and dhash (256 bits) of one image, as integers."""
  phash: int
  dhash: int

  def to_text(self) -> str:
    return f"{self.phash:016x}:{self.dhash:064x}"

  @classmethod
  def from_text(cls, text: str) -> "Fingerprint":
    phash, dhash = text.split(":")
    return cls(int(phash, 16), int(dhash, 16))


def _as_int(image_hash: imagehash.ImageHash) -> int:
  # The bits in imagehash's own order (its hex text, first bit highest),
  # without going through text.
  return int.from_bytes(np.packbits(image_hash.hash.flatten()).tobytes(), "big")


def fingerprint(image: Image.Image) -> Fingerprint:
  """Fingerprint of a decoded image (any mode, any size)."""
  gray = image if image.mode == "L" else image.convert("L")
  gray = gray.resize((_PRE_SIZE, _PRE_SIZE), Image.Resampling.BOX)
  return Fingerprint(_as_int(imagehash.phash(gray)),
                     _as_int(imagehash.dhash(gray, hash_size=DHASH_SIZE)))


def _words(values: Sequence[int], words: int) -> np.ndarray:
  """Integers of up to 64*words bits -> uint64 array of shape (N, words)."""
  mask = (1 << 64) - 1
  return np.array([[(v >> (64 * w)) & mask for w in range(words)]
                   for v in values], dtype=np.uint64).reshape(-1, words)


def _close_within(indices: np.ndarray, phashes: np.ndarray,
                  dhashes: np.ndarray, max_phash: int,
                  max_dhash: int) -> list[tuple[int, int, int, int]]:
  """The near pairs among `indices` (ascending), all pairs compared, in
  blocks of flat size."""
  count = len(indices)
  subset = phashes[indices]
  rows_per_block = max(1, _BLOCK_ELEMENTS // count)
  found = []
  for start in range(0, count, rows_per_block):
    block = np.bitwise_count(subset[start:start + rows_per_block, np.newaxis]
                             ^ subset[np.newaxis, start:])
    rows, columns = np.nonzero(block <= max_phash)
    phash = block[rows, columns]
    rows, columns = rows + start, columns + start
    keep = columns > rows
    rows, columns, phash = indices[rows[keep]], indices[columns[keep]], phash[keep]
    if not len(rows):
      continue
    dhash = np.bitwise_count(dhashes[rows] ^ dhashes[columns]).sum(
        axis=-1, dtype=np.int32)
    close = dhash <= max_dhash
    found.extend(zip(rows[close].tolist(), columns[close].tolist(),
                     phash[close].tolist(), dhash[close].tolist()))
  return found


def pairs(fingerprints: Sequence[Fingerprint],
          max_phash: int = MAX_PHASH_DISTANCE,
          max_dhash: int = MAX_DHASH_DISTANCE) -> list[tuple[int, int, int, int]]:
  """Every near-duplicate pair: (i, j, phash distance, dhash distance), i < j.

  Multi-index hashing: split the 64 phash bits into max_phash + 1 disjoint
  blocks; two hashes within max_phash bits agree on at least one whole block
  (pigeonhole), so only images sharing a block's value are compared, never
  all N^2 pairs. Candidates within max_phash are then checked on dhash.
  """
  count = len(fingerprints)
  if count < 2:
    return []
  phashes = _words([f.phash for f in fingerprints], 1)[:, 0]
  dhashes = _words([f.dhash for f in fingerprints], 4)
  bounds = np.linspace(0, 64, max_phash + 2).astype(int)
  found = set()
  for low, high in zip(bounds[:-1], bounds[1:]):
    keys = (phashes >> np.uint64(low)) & np.uint64((1 << int(high - low)) - 1)
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.diff(keys[order])) + 1
    for run in np.split(order, starts):
      if len(run) > 1:
        found.update(_close_within(np.sort(run), phashes, dhashes, max_phash,
                                   max_dhash))
  return sorted(found)
