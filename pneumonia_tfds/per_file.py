"""The work done once per source file, the same on one machine and on Beam.

Two steps, both pure functions of a file's bytes and the config's geometry:
`digest` reads a file and hashes it (sha256, the identity used for exact
duplicates); `encode` decodes one file per distinct sha256, fingerprints it
for near-duplicates and produces the stored image bytes. Neither sees any
other file: the whole-dataset decisions (duplicates, groups, splits) are
`plan.make`'s, on the small results of these two.
"""

import dataclasses
import hashlib
import os
from typing import Optional

from etils import epath
import numpy as np

from pneumonia_tfds import images as images_lib
from pneumonia_tfds import near_duplicates
from pneumonia_tfds.sources import records as records_lib

UNREADABLE = records_lib.UNREADABLE_FILE


@dataclasses.dataclass(frozen=True)
class Geometry:
  """How a config stores images: side (None: original), channels, fit, codec."""
  size: Optional[int]
  channels: int
  fit: str
  encoding: str

  @classmethod
  def of(cls, config) -> "Geometry":
    """The geometry of a builder config (its image_size, channels, fit and
    encoding)."""
    return cls(config.image_size, config.channels, config.fit,
               config.encoding)

  def feature_value(self, stored: bytes):
    """Stored bytes as the image feature takes them: the encoded file for
    JPEG and PNG, the (size, size, channels) uint8 array for raw pixels."""
    if self.encoding != "raw":
      return stored
    return np.frombuffer(stored, np.uint8).reshape(
        self.size, self.size, self.channels)


@dataclasses.dataclass(frozen=True)
class Digest:
  """A file's sha256, or why it could not be read (sha256 then empty)."""
  path: str
  sha256: str = ""
  reason: str = ""
  detail: str = ""


@dataclasses.dataclass(frozen=True)
class Decoded:
  """What the plan needs of a decoded image: its fingerprint, or why not."""
  sha256: str
  fingerprint: str = ""
  reason: str = ""
  detail: str = ""


def _read(path: str) -> bytes:
  """A local file, or (for a Beam worker) one in a bucket (gs://...)."""
  if "://" in path:
    return epath.Path(path).read_bytes()
  # Plain open(): epath would go through tf.io.gfile, slower per file.
  with open(path, "rb") as f:
    return f.read()


def _read_and_digest(path: str,
                     base_dir: str) -> tuple[Digest, Optional[bytes]]:
  try:
    data = _read(os.path.join(base_dir, path))
  except OSError as e:
    return Digest(path, reason=UNREADABLE, detail=f"{path}: {e}"), None
  return Digest(path, hashlib.sha256(data).hexdigest()), data


def digest(path: str, base_dir: str) -> Digest:
  """Reads `base_dir/path` (path relative, POSIX) and hashes its bytes."""
  return _read_and_digest(path, base_dir)[0]


def encode(sha256: str, path: str, base_dir: str,
           geometry: Geometry) -> tuple[Decoded, Optional[bytes]]:
  """Decodes one copy of an image; returns its Decoded and stored bytes.

  The bytes are None when the image is refused (the reason says why).
  """
  try:
    data = _read(os.path.join(base_dir, path))
  except OSError as e:
    return Decoded(sha256, reason=UNREADABLE, detail=f"{path}: {e}"), None
  return _encode_bytes(sha256, path, data, geometry)


def digest_and_encode(
    path: str, base_dir: str,
    geometry: Geometry) -> tuple[Digest, Optional[Decoded], Optional[bytes]]:
  """`digest` and `encode` of one file in one read, for a file known to
  have no copy (no other file of its size); Decoded is None when it cannot
  be read."""
  digest_, data = _read_and_digest(path, base_dir)
  if data is None:
    return digest_, None, None
  return (digest_, *_encode_bytes(digest_.sha256, path, data, geometry))


def _encode_bytes(sha256: str, path: str, data: bytes,
                  geometry: Geometry) -> tuple[Decoded, Optional[bytes]]:
  name = os.path.basename(path)
  try:
    image = images_lib.decode(data, geometry.channels, min_size=geometry.size)
    fingerprint = near_duplicates.fingerprint(image).to_text()
    fitted = images_lib.fit_image(image, geometry.size, geometry.fit)
    return (Decoded(sha256, fingerprint),
            images_lib.encode(fitted, geometry.encoding))
  except images_lib.ImageError as e:
    return Decoded(sha256, reason=e.reason, detail=f"{name}: {e}"), None
  except OSError as e:
    return Decoded(sha256, reason=images_lib.UNDECODABLE,
                   detail=f"{name}: {e}"), None
