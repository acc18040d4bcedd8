"""The build on one machine: per-file work in a process pool, then the plan.

Files are hashed, then one copy of each distinct image is decoded, in
forked workers (decoding is CPU-bound and holds the GIL). The stored bytes
go to a spill folder on local disk, not back through the pool, so the
driver's memory grows with the metadata only; the split generators read
them back as TFDS writes.
"""

import collections
from concurrent import futures
from concurrent.futures import process
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import weakref
from typing import Callable, Iterator, Sequence

from pneumonia_tfds import per_file
from pneumonia_tfds import plan as plan_lib
from pneumonia_tfds.sources import records as records_lib


class Spill:
  """Stored image bytes on local disk, appended by the workers to one file
  each (creating a file per image costs more than encoding it); removed
  with the object, or at exit."""

  def __init__(self):
    self.folder = tempfile.mkdtemp(prefix="pneumonia_xray_spill_")
    self._cleanup = weakref.finalize(self, _remove_spill, self.folder)
    self._readers = {}

  def read(self, location: tuple[str, int, int]) -> bytes:
    name, offset, length = location
    if name not in self._readers:
      self._readers[name] = open(os.path.join(self.folder, name), "rb")
    return os.pread(self._readers[name].fileno(), length, offset)

  def remove(self) -> None:
    for reader in self._readers.values():
      reader.close()
    self._cleanup()


_worker_spills = {}  # folder -> this process's append-only file in it


def _remove_spill(folder: str) -> None:
  # A serial build (one worker) appended from this very process.
  if folder in _worker_spills:
    _worker_spills.pop(folder)[1].close()
  shutil.rmtree(folder, ignore_errors=True)


def _spill(data: bytes, folder: str) -> tuple[str, int, int]:
  """Appends data to this process's spill file; returns where it is."""
  if folder not in _worker_spills:
    name = f"worker-{os.getpid()}"
    _worker_spills[folder] = (name, open(os.path.join(folder, name), "ab"))
  name, file = _worker_spills[folder]
  offset = file.tell()
  file.write(data)
  file.flush()  # The driver reads it back from another process.
  return name, offset, len(data)


def _digest(task: tuple) -> per_file.Digest:
  return per_file.digest(*task)


def _encode(task: tuple):
  sha256, path, base_dir, geometry, spill_folder = task
  decoded, data = per_file.encode(sha256, path, base_dir, geometry)
  return decoded, data and _spill(data, spill_folder)


def _digest_and_encode(task: tuple):
  path, base_dir, geometry, spill_folder = task
  digest, decoded, data = per_file.digest_and_encode(path, base_dir, geometry)
  return digest, decoded, data and _spill(data, spill_folder)


def _run_task(task: tuple):
  kind, arguments = task
  if kind == "encode":
    return (None, *_encode(arguments))
  return _digest_and_encode(arguments)


def _sizes(paths: Sequence[str], base_dir: str) -> dict[str, int]:
  """Byte size per path; -1 where it cannot be read (hashing reports why)."""
  sizes = {}
  for path in paths:
    try:
      sizes[path] = os.path.getsize(os.path.join(base_dir, path))
    except OSError:
      sizes[path] = -1
  return sizes


def _exit_with_parent(parent_pid: int) -> None:
  """Worker initializer: ends the worker once the build is gone.

  A build killed with SIGKILL cannot stop its executor's workers, which would
  otherwise wait for work forever.
  """
  def watch():
    while os.getppid() == parent_pid:
      time.sleep(0.5)
    os._exit(1)

  threading.Thread(target=watch, daemon=True).start()


class Pool:
  """Ordered map over forked workers; serial with one worker.

  An executor rather than multiprocessing.Pool: when a worker dies (killed
  for memory, or a decoder crash), Pool waits for its result forever; the
  executor raises.
  """

  def __init__(self, num_workers: int):
    self._num_workers = num_workers
    self._executor = None

  def map(self, function: Callable, tasks: Sequence) -> Iterator:
    if self._num_workers <= 1 or len(tasks) < 2 or not hasattr(os, "fork"):
      yield from map(function, tasks)
      return
    if self._executor is None:
      self._executor = futures.ProcessPoolExecutor(
          self._num_workers, mp_context=multiprocessing.get_context("fork"),
          initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
      yield from self._executor.map(function, tasks, chunksize=4)
    except process.BrokenProcessPool as e:
      raise RuntimeError(
          "pneumonia_xray: a decode worker died (out of memory, or a decoder "
          "crash); build with num_workers=1 to see which file") from e

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    if self._executor is not None:
      self._executor.shutdown(cancel_futures=True)
      self._executor = None


class LocalBuild:
  """The plan of a build and the images it writes, ready for TFDS."""

  def __init__(self, plan: plan_lib.Plan, spill: Spill,
               locations: dict[str, tuple[str, int, int]],
               geometry: per_file.Geometry):
    self.plan = plan
    self._spill = spill
    self._locations = locations
    self._geometry = geometry

  def examples(self, split: str) -> Iterator[tuple[str, dict]]:
    """The split's (key, example) pairs, in key order."""
    chosen = sorted((example.key, sha256, example)
                    for sha256, example in self.plan.examples.items()
                    if example.split == split)
    for key, sha256, example in chosen:
      stored = self._spill.read(self._locations[sha256])
      yield key, {**example.features,
                  "image": self._geometry.feature_value(stored)}


def run(records: Sequence[records_lib.SourceRecord], base_dir: str,
        geometry: per_file.Geometry, settings: plan_lib.Settings,
        num_workers: int) -> LocalBuild:
  """Hashes, decodes and plans.

  A file whose size no other file has cannot have a byte copy, so it is
  hashed and decoded in one read; the others are hashed first, and one
  file per distinct sha256 decoded.
  """
  spill = Spill()
  paths = plan_lib.readable_paths(records)
  sizes = _sizes(paths, base_dir)
  size_counts = collections.Counter(sizes.values())
  alone = [p for p in paths if size_counts[sizes[p]] == 1 and sizes[p] >= 0]
  alone_set = set(alone)
  shared = [p for p in paths if p not in alone_set]
  with Pool(num_workers) as pool:
    digests = list(pool.map(_digest, [(path, base_dir) for path in shared]))
    canonical = sorted(plan_lib.canonical_paths(digests).items())
    # One map for both kinds, so that no worker waits between them.
    tasks = [("encode", (sha256, path, base_dir, geometry, spill.folder))
             for sha256, path in canonical]
    tasks += [("both", (path, base_dir, geometry, spill.folder))
              for path in alone]
    decoded, locations = [], {}
    for digest, result, location in pool.map(_run_task, tasks):
      if digest is not None:
        digests.append(digest)
      if result is not None:
        decoded.append(result)
      if location:
        locations[result.sha256] = location
  try:
    return LocalBuild(plan_lib.make(records, digests, decoded, settings),
                      spill, locations, geometry)
  except ValueError:
    spill.remove()
    raise
