"""One training-input epoch in a fresh process; prints its peak RSS as JSON.

  python -m bench.memory_child '{"approach": "pipeline", ...}'

Run by bench/memory.py, one process per figure, so no figure inherits memory
from another. The last stdout line is `BENCH_MEMORY {json}` with
peak_rss_mb (the kernel's high-water mark of this process's memory, VmHWM),
rss_after_import_mb (after importing TensorFlow and the pipeline, before any
data), examples and seconds.

Why VmHWM and not getrusage's ru_maxrss: Linux carries ru_maxrss over
execve, so a child forked from a large parent (the benchmark, holding
pickles) would report the parent's size as its own peak. VmHWM belongs to the
address space the child got at exec. ru_maxrss is the fallback where
/proc/self/status does not exist.
"""

import dataclasses
import json
import os
import resource
import sys
import time

PREFIX = "BENCH_MEMORY "


def _rss_mb() -> float:
  import psutil  # pylint: disable=g-import-not-at-top
  return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) / 1024  # kB
  except OSError:
    pass
  # Linux reports ru_maxrss in KiB (macOS in bytes; no /proc there).
  maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def _pipeline(spec: dict):
  from pipeline import input as input_lib  # pylint: disable=g-import-not-at-top
  config = input_lib.InputConfig(
      dataset=spec["dataset"], data_dir=spec["data_dir"],
      global_batch_size=spec["batch_size"], cache=spec["cache"])
  if not spec.get("augment", True):
    config = dataclasses.replace(config, augment=None)
  return input_lib.make_for_train(config)


def _pickle(spec: dict):
  from bench import baselines  # pylint: disable=g-import-not-at-top
  return baselines.pickle_dataset(spec["pickle_dir"], spec["batch_size"],
                                  spec["shuffle_buffer"])


def measure(spec: dict) -> dict:
  """Imports, makes the dataset, iterates it once; returns the figures."""
  # pylint: disable=g-import-not-at-top,unused-import
  import tensorflow as tf
  from pipeline import input as _
  # pylint: enable=g-import-not-at-top,unused-import
  after_import = _rss_mb()
  start = time.perf_counter()
  makers = {"pipeline": _pipeline, "pickle": _pickle}
  if spec["approach"] not in makers:
    raise ValueError(f"approach must be one of {sorted(makers)}, got "
                     f"{spec['approach']!r}")
  dataset = makers[spec["approach"]](spec)
  examples = 0
  for batch in dataset:
    examples += int(batch[0].shape[0])
  return {"peak_rss_mb": _peak_rss_mb(), "rss_after_import_mb": after_import,
          "examples": examples,
          "seconds": time.perf_counter() - start}


def child_main(argv, usage: str, measure_fn, prefix: str) -> int:
  """A measuring child's entry point: one JSON spec in, one result line out
  (`prefix` + JSON), so the parent can find it among other output."""
  if len(argv) != 2:
    print(usage, file=sys.stderr)
    return 2
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  result = measure_fn(json.loads(argv[1]))
  print(prefix + json.dumps(result), flush=True)
  return 0


def main(argv) -> int:
  return child_main(argv, __doc__, measure, PREFIX)


if __name__ == "__main__":
  sys.exit(main(sys.argv))
