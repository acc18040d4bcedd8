"""One build of the scale section in a fresh process; prints its figures.

  python -m bench.scale_child '{"mode": "local" | "beam", "manual_dir": ...,
                               "data_dir": ..., "num_workers": 2}'

Run by bench/scale.py, one process per figure. Builds
PneumoniaXrayConfig(name="bench_scale_64", image_size=64,
sources=("kermany",)) from manual_dir into data_dir: with mode "local"
through the builder's own process pool, with "beam" through Beam's
DirectRunner (multi_processing, num_workers processes). The last stdout line
is `BENCH_SCALE {json}` with seconds (wall time of download_and_prepare),
peak_rss_mb (this process's VmHWM: the driver's, not its workers'),
ru_maxrss_mb, rss_after_import_mb, examples and the build's summary
(build_summary.json).

The peak is VmHWM, as in bench/memory_child.py: getrusage's ru_maxrss is
carried over execve, so it would report the parent's size if that was larger.
"""

import contextlib
import io
import os
import resource
import sys
import time

from bench import memory_child

PREFIX = "BENCH_SCALE "
CONFIG_NAME = "bench_scale_64"
IMAGE_SIZE = 64


def beam_options(num_workers: int):
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  return pipeline_options.PipelineOptions([
      "--runner=DirectRunner", f"--direct_num_workers={num_workers}",
      "--direct_running_mode=multi_processing"])


def measure(spec: dict) -> dict:
  """Imports, builds once, reads the build summary; returns the figures."""
  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds
  import pneumonia_tfds
  from pneumonia_tfds import report
  from pneumonia_tfds.datasets.pneumonia_xray import (
      pneumonia_xray_dataset_builder as builder_lib)
  # pylint: enable=g-import-not-at-top
  if spec["mode"] not in ("local", "beam"):
    raise ValueError(f"mode must be local or beam, got {spec['mode']!r}")
  options = None
  if spec["mode"] == "beam":
    options = beam_options(spec["num_workers"])
  else:
    # The local build's writer imports TensorFlow anyway: before the clock,
    # as bench/build.py leaves it out. Beam's driver never imports it (its
    # workers do), so its figures do not carry it.
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  tfds.disable_progress_bar()
  after_import = memory_child._rss_mb()  # pylint: disable=protected-access
  config = pneumonia_tfds.PneumoniaXrayConfig(
      name=CONFIG_NAME, description="bench: synthetic Kermany layout, 64 px.",
      image_size=IMAGE_SIZE, sources=("kermany",))
  builder = builder_lib.Builder(config=config, data_dir=spec["data_dir"],
                                num_workers=spec["num_workers"])
  download_config = tfds.download.DownloadConfig(
      manual_dir=spec["manual_dir"], beam_options=options)
  start = time.perf_counter()
  with contextlib.redirect_stdout(io.StringIO()):
    builder.download_and_prepare(download_config=download_config)
  seconds = time.perf_counter() - start
  summary = report.read_summary(os.fspath(builder.data_dir))
  return {
      "seconds": seconds,
      "peak_rss_mb": memory_child._peak_rss_mb(),  # pylint: disable=protected-access
      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024,
      "rss_after_import_mb": after_import,
      "examples": summary["examples"],
      "tensorflow_imported": "tensorflow" in sys.modules,
      "summary": summary,
  }


def main(argv) -> int:
  return memory_child.child_main(argv, __doc__, measure, PREFIX)


if __name__ == "__main__":
  sys.exit(main(sys.argv))
