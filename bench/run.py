"""The benchmark: one command, one table of figures and ratios, one run.

  python -m bench.run             # sections 1-4, 6 and 7, about 8 + 12 + 1 minutes idle
  python -m bench.run --quality   # also section 5 (trains three models; long)
  python -m bench.run --quality --sections=quality --quality_models=small_resnet_type
  python -m bench.run --quick     # a few images, one repeat: checks every section

Prints the table and writes it as results.json and results.md to --out_dir
(default bench/results/; with --quick a temporary folder). See bench/README.md
for what each row measures.
"""

import dataclasses
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback

from absl import app
from absl import flags
from absl import logging

from bench import config as config_lib

FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED_DATA = os.environ.get(
    "PNEUMONIA_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared",
                                          "data"))
DEFAULT_OUT_DIR = os.path.join(REPO, "bench", "results")


def define_flags() -> None:
  flags.DEFINE_boolean("quick", False, "A few images and one repeat: every "
                       "section, no meaningful figure (for the smoke test); "
                       "sections 3 and 4 measure a covering few of their "
                       "rows.")
  flags.DEFINE_boolean("quality", False, "Also run section 5: train and "
                       "evaluate small_resnet and blog_cnn, and small_resnet "
                       "on the pneumonia types (long).")
  flags.DEFINE_list("quality_models", list(config_lib.QUALITY_MODELS),
                    "Entries of section 5 to run; the rows of the others say "
                    "'not run'.")
  flags.DEFINE_list("sections", list(config_lib.SECTIONS),
                    "Sections to run; the rows of the others say 'not run'.")
  flags.DEFINE_string("shared_data", DEFAULT_SHARED_DATA,
                      "The read-only data folder (chest_xray/, "
                      "chest_xray_small/).")
  flags.DEFINE_string("out_dir", None, "Where results.json and results.md "
                      "go (default bench/results, or a temporary folder "
                      "with --quick).")
  flags.DEFINE_string("work_dir", None, "Where builds and pickles are "
                      "written (default: a temporary folder, removed at the "
                      "end).")
  flags.DEFINE_integer("repeats", None, "Repeats of each timed figure "
                       "(default 3, 1 with --quick; the build section runs "
                       "twice as many).", lower_bound=1)
  flags.DEFINE_integer("memory_repeats", None, "Child processes per memory "
                       "figure (default 3, 1 with --quick).", lower_bound=1)
  flags.DEFINE_integer("quality_epochs", 30, "Epochs of each quality "
                       "training run (early stopping may end sooner).",
                       lower_bound=1)


def config_from_flags(work_dir: str, out_dir: str) -> config_lib.BenchConfig:
  quick = FLAGS.quick
  return config_lib.BenchConfig(
      shared_data=os.path.abspath(FLAGS.shared_data), work_dir=work_dir,
      out_dir=out_dir, quick=quick, quality=FLAGS.quality,
      quality_models=tuple(FLAGS.quality_models),
      sections=tuple(FLAGS.sections),
      repeats=FLAGS.repeats or (1 if quick else 3),
      memory_repeats=FLAGS.memory_repeats or (1 if quick else 3),
      quality_epochs=1 if quick else FLAGS.quality_epochs).validate()


def _sections():
  """(name, module) in table order; imported late, so --help stays fast."""
  # pylint: disable=g-import-not-at-top
  from bench import build
  from bench import feed
  from bench import input_stages
  from bench import inputs
  from bench import memory
  from bench import quality
  from bench import scale
  from bench import serve
  from bench import train_step
  return (("build", build), ("input", inputs),
          ("input_stages", input_stages), ("memory", memory),
          ("train_step", train_step), ("quality", quality),
          ("scale", scale), ("serve", serve), ("feed", feed))


def expected_row_ids() -> list[str]:
  """Every row id the table has, whichever sections ran."""
  return [spec.id for _, module in _sections() for spec in module.row_specs()]


def _placeholder_rows(module, status: str, note: str):
  return [spec.missing(status, note) for spec in module.row_specs()]


def run(config: config_lib.BenchConfig):
  """Runs the sections; returns (rows, meta)."""
  from bench import data  # pylint: disable=g-import-not-at-top
  from bench import report  # pylint: disable=g-import-not-at-top

  started = time.time()
  load_before = os.getloadavg()
  small = data.SmallBuild(config.shared_data, config.work_dir,
                          config.small_per_folder)
  rows = []
  seconds = {}
  for name, module in _sections():
    if not config.runs(name):
      hint = ("pass --quality" if name == "quality" and not config.quality
              else "not in --sections")
      rows += _placeholder_rows(module, report.NOT_RUN, hint)
      continue
    print(f"[bench] section {module.SECTION} ...", file=sys.stderr,
          flush=True)
    start = time.perf_counter()
    try:
      section_rows = (module.run(config)
                      if name in ("build", "memory", "scale")
                      else module.run(config, small))
    except NotImplementedError as e:
      section_rows = _placeholder_rows(module, report.NOT_IMPLEMENTED, str(e))
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      section_rows = _placeholder_rows(
          module, report.FAILED, f"{type(e).__name__}: {e}")
    seconds[name] = round(time.perf_counter() - start, 1)
    print(f"[bench] section {module.SECTION}: {seconds[name]} s",
          file=sys.stderr, flush=True)
    rows += section_rows
  expected = expected_row_ids()
  got = [row.id for row in rows]
  if got != expected:
    raise RuntimeError(f"rows {got} differ from the expected {expected}")
  meta = _meta(config, started, seconds)
  # Anything else running moves every figure: say how busy the machine was.
  meta["load_average_1_5_15min"] = {"start": [round(v, 2) for v in load_before],
                                    "end": [round(v, 2) for v in
                                            os.getloadavg()]}
  return rows, meta


def _meta(config: config_lib.BenchConfig, started: float,
          seconds: dict) -> dict:
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import PIL  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return {
      "command": " ".join(["python -m bench.run"] + sys.argv[1:]),
      "mode": "quick" if config.quick else "full",
      "started": datetime.datetime.fromtimestamp(started).isoformat(
          timespec="seconds"),
      "wall_seconds": round(time.time() - started, 1),
      "section_seconds": seconds,
      "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                  "processor": _cpu_model()},
      "versions": {"python": platform.python_version(), "tensorflow":
                   tf.__version__, "keras": keras.__version__,
                   "tensorflow_datasets": tfds.__version__,
                   "numpy": np.__version__, "pillow": PIL.__version__},
      "config": dataclasses.asdict(config),
  }


def _cpu_model() -> str:
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor()


def write_results(rows, meta, out_dir: str) -> tuple[str, str]:
  from bench import report  # pylint: disable=g-import-not-at-top
  os.makedirs(out_dir, exist_ok=True)
  json_path = os.path.join(out_dir, "results.json")
  md_path = os.path.join(out_dir, "results.md")
  with open(json_path, "w", encoding="utf-8") as f:
    f.write(report.to_json(rows, meta))
  with open(md_path, "w", encoding="utf-8") as f:
    f.write(report.to_markdown(rows, meta))
  return json_path, md_path


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  # TFDS logs every file it opens at INFO and every custom config at
  # WARNING; the table is the output.
  logging.set_verbosity(logging.ERROR)
  own_work_dir = FLAGS.work_dir is None
  work_dir = (tempfile.mkdtemp(prefix="pneumonia_bench_") if own_work_dir
              else os.path.abspath(FLAGS.work_dir))
  out_dir = FLAGS.out_dir or (
      tempfile.mkdtemp(prefix="pneumonia_bench_results_") if FLAGS.quick
      else DEFAULT_OUT_DIR)
  try:
    config = config_from_flags(work_dir, os.path.abspath(out_dir))
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  os.makedirs(work_dir, exist_ok=True)
  try:
    rows, meta = run(config)
  finally:
    if own_work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)
  from bench import report  # pylint: disable=g-import-not-at-top
  print(report.to_text(rows))
  json_path, md_path = write_results(rows, meta, config.out_dir)
  print(f"\nwrote {json_path} and {md_path} ({meta['wall_seconds']} s)")


if __name__ == "__main__":
  define_flags()
  app.run(main)
