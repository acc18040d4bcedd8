"""File I/O on any TensorFlow filesystem: local paths, gs://, ram://, ...

Every file the trainer writes or reads outside the TFDS records goes through
here, so a run directory or an output folder in a bucket works like a local
one. Writes are atomic where the filesystem allows it: a local file is
written beside its target and renamed over it (readers never see half a
file); an object store (any `scheme://` path) gets one write of the whole
object, which buckets publish at once on close, and which leaves no
temporary object behind if the writer dies.

TensorFlow is imported on first use, so modules that only name paths stay
light.
"""

import hashlib
import io
import json
import os
import posixpath
from typing import Any, Iterator


def _gfile():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return tf.io.gfile


def is_url(path: str) -> bool:
  """True for `scheme://...` paths (buckets, ram://), False for local ones."""
  return "://" in str(path)


def join(*parts: str) -> str:
  """Joins path parts; keeps `gs://bucket/a` intact (os.path would too, but
  not on Windows)."""
  if is_url(parts[0]):
    return posixpath.join(*parts)
  return os.path.join(*parts)


def dirname(path: str) -> str:
  return posixpath.dirname(path) if is_url(path) else os.path.dirname(path)


def basename(path: str) -> str:
  return posixpath.basename(path) if is_url(path) else os.path.basename(path)


def absolute(path: str) -> str:
  """An absolute local path, or the URL as it is."""
  return path if is_url(path) else os.path.abspath(path)


def exists(path: str) -> bool:
  return _gfile().exists(path)


def isdir(path: str) -> bool:
  return _gfile().isdir(path)


def makedirs(path: str) -> None:
  if path:
    _gfile().makedirs(path)


def listdir(path: str) -> list[str]:
  return sorted(_gfile().listdir(path)) if isdir(path) else []


def walk_files(top: str) -> Iterator[str]:
  """Every file under `top`, recursively, in sorted order."""
  for root, dirs, files in _gfile().walk(top):
    dirs.sort()
    for name in sorted(files):
      yield join(root, name)


def remove(path: str) -> None:
  """Removes a file or a whole folder; nothing if it is not there."""
  gfile = _gfile()
  if gfile.isdir(path):
    gfile.rmtree(path)
  elif gfile.exists(path):
    gfile.remove(path)


def write_bytes(path: str, data: bytes) -> str:
  """Writes `data` to `path` atomically (see the module docstring)."""
  gfile = _gfile()
  makedirs(dirname(path))
  if is_url(path):
    with gfile.GFile(path, "wb") as f:
      f.write(data)
    return path
  temporary = f"{path}.tmp-{os.getpid()}"
  with gfile.GFile(temporary, "wb") as f:
    f.write(data)
  gfile.rename(temporary, path, overwrite=True)
  return path


def write_text(path: str, text: str) -> str:
  return write_bytes(path, text.encode("utf-8"))


def write_json(path: str, value: Any, sort_keys: bool = True) -> str:
  """The one JSON writer: indented, a final newline; keys sorted unless
  their order means something (sort_keys=False keeps it)."""
  return write_text(path,
                    json.dumps(value, indent=2, sort_keys=sort_keys) + "\n")


def read_bytes(path: str) -> bytes:
  with _gfile().GFile(path, "rb") as f:
    return f.read()


def read_text(path: str) -> str:
  return read_bytes(path).decode("utf-8")


def read_json(path: str) -> Any:
  return json.loads(read_text(path))


def sha256(path: str) -> str:
  """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
  digest = hashlib.sha256()
  with _gfile().GFile(path, "rb") as f:
    while True:
      chunk = f.read(1 << 20)
      if not chunk:
        break
      digest.update(chunk)
  return digest.hexdigest()


def save_figure(fig, path: str) -> str:
  """Writes a matplotlib figure as PNG to any filesystem."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png")
  return write_bytes(path, buffer.getvalue())
