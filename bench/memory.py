"""Section 3: peak RSS of one training-input epoch as the data grow.

Three stratified parts of chest_xray_small (every 16th file of each
split/class folder, every 4th, all 5432) are each copied to a manual_dir and
built with every image in "train" (a custom config, split_ratios (1, 0, 0)),
and each is also prepared the blog's way into a pickle. Every figure is the
peak RSS (VmHWM, see bench/memory_child.py) of a fresh child process that
imports TensorFlow, makes the dataset and iterates one epoch:

  pipeline, cache on / off   make_for_train with the default InputConfig
                             (augmentation, shuffle buffer 2048, batch 32).
  pipeline, raw records      make_for_train over the same examples stored as
                             raw pixels (the _raw twin), no augmentation,
                             no cache: section 8's fastest input.
  pickle                     pickle.load -> from_tensor_slices -> shuffle
                             (2048) -> batch 32 -> prefetch.

Growth = peak RSS on all / peak RSS on 1/16, per repeat. --quick measures
1/16 and all only.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys

from bench import baselines
from bench import config as config_lib
from bench import data
from bench import memory_child
from bench import report
from bench import stats

SECTION = "3 memory"
CONFIG_NAME = "bench_small_all_train"
_APPROACHES = (
    # (key, words, approach, cache, growth target)
    ("pipeline_nocache", "pipeline, cache off (trainer default)", "pipeline",
     False, report.Target("<=", 1.10)),
    ("pipeline_cache", "pipeline, cache on", "pipeline", True, None),
    ("pipeline_raw", "pipeline, raw records, no augmentation, cache off",
     "pipeline_raw", False, report.Target("<=", 1.10)),
    ("pickle", "pickle -> from_tensor_slices", "pickle", None, None),
)


def _fraction_key(label: str) -> str:
  return label.replace("/", "_")


def _growth_words(words: str) -> str:
  first, last = (config_lib.MEMORY_FRACTIONS[0][0],
                 config_lib.MEMORY_FRACTIONS[-1][0])
  return f"{words}: peak RSS growth, {last} / {first}"


def row_specs() -> list[report.Spec]:
  specs = []
  for key, words, _, _, target in _APPROACHES:
    specs += [report.Spec(f"memory/{key}_{_fraction_key(label)}", SECTION,
                          f"{words}, {label}", "MB")
              for label, _ in config_lib.MEMORY_FRACTIONS]
    specs.append(report.Spec(f"memory/{key}_growth", SECTION,
                             _growth_words(words), "x", target))
  return specs


def all_train_config(raw: bool = False):
  # pylint: disable=g-import-not-at-top
  import pneumonia_tfds
  from pneumonia_tfds.sources import kermany
  # pylint: enable=g-import-not-at-top
  return pneumonia_tfds.PneumoniaXrayConfig(
      name=CONFIG_NAME + ("_raw" if raw else ""),
      description="chest_xray_small, every image in train.",
      sources=(kermany.NAME,), kermany_folder=data.SMALL,
      split_ratios=(1.0, 0.0, 0.0), image_encoding="raw" if raw else None)


def _run_child(spec: dict) -> dict:
  process = subprocess.run(
      [sys.executable, "-m", "bench.memory_child", json.dumps(spec)],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      capture_output=True, text=True, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  lines = [line for line in process.stdout.splitlines()
           if line.startswith(memory_child.PREFIX)]
  if process.returncode != 0 or not lines:
    raise RuntimeError(f"memory child {spec} failed (exit "
                       f"{process.returncode}):\n{process.stderr[-3000:]}")
  return json.loads(lines[-1][len(memory_child.PREFIX):])


def _prepare(config: config_lib.BenchConfig, work: str) -> dict:
  """Per fraction label: its data_dir, pickle folder and file count."""
  build_config = all_train_config()
  prepared = {}
  for label, every in config.memory_fractions:
    folder = os.path.join(work, _fraction_key(label))
    manual_dir = data.small_subset_manual_dir(
        config.shared_data, os.path.join(folder, "manual"), every=every,
        per_folder=(None if config.small_per_folder is None
                    else max(1, config.small_per_folder // every)))
    paths = data.class_files(os.path.join(manual_dir, data.SMALL),
                             data.SMALL_SPLITS)
    data_dir = os.path.join(folder, "data")
    data.build(manual_dir, data_dir, build_config)
    data.build(manual_dir, data_dir, all_train_config(raw=True))
    pickle_dir = baselines.blog_prepare(paths, data.IMAGE_SIZE,
                                        os.path.join(folder, "pickle"))
    # The copies have served the build and the pickle; only the records and
    # the pickle are read from here on.
    shutil.rmtree(manual_dir)
    prepared[label] = {"data_dir": data_dir, "pickle_dir": pickle_dir,
                       "files": len(paths)}
  return prepared


def run(config: config_lib.BenchConfig) -> list[report.Row]:
  from pipeline import input as input_lib  # pylint: disable=g-import-not-at-top

  work = os.path.join(config.work_dir, "memory")
  prepared = _prepare(config, work)
  shuffle_buffer = input_lib.InputConfig().shuffle_buffer
  jobs = []
  for repeat in range(config.memory_repeats):
    for key, _, approach, cache, _ in _APPROACHES:
      for label, _ in config.memory_fractions:
        raw = approach == "pipeline_raw"
        spec = {"approach": "pipeline" if raw else approach,
                "batch_size": config.batch_size,
                "shuffle_buffer": shuffle_buffer, "augment": not raw,
                "dataset": f"pneumonia_xray/{all_train_config(raw).name}",
                "data_dir": prepared[label]["data_dir"], "cache": cache,
                "pickle_dir": prepared[label]["pickle_dir"]}
        jobs.append(((key, label, repeat), spec))
  with concurrent.futures.ThreadPoolExecutor(config.memory_parallel) as pool:
    results = dict(zip([job for job, _ in jobs],
                       pool.map(_run_child, [spec for _, spec in jobs])))
  shutil.rmtree(work, ignore_errors=True)

  values = {}
  repeats = range(config.memory_repeats)
  first, last = (config_lib.MEMORY_FRACTIONS[0][0],
                 config_lib.MEMORY_FRACTIONS[-1][0])
  for key, *_ in _APPROACHES:
    peaks = {}
    for label, _ in config.memory_fractions:
      runs = [results[key, label, r] for r in repeats]
      peaks[label] = [r["peak_rss_mb"] for r in runs]
      after_import = stats.Stat.of([r["rss_after_import_mb"] for r in runs])
      values[f"{key}_{_fraction_key(label)}"] = (
          stats.Stat.of(peaks[label]),
          f"{prepared[label]['files']} files, {runs[0]['examples']} "
          f"examples; {after_import.median:.0f} MB after imports; "
          f"{config.memory_repeats} child processes")
    values[f"{key}_growth"] = (
        stats.paired_ratio(peaks[last], peaks[first]), "per-repeat ratio")
  return report.rows_of(row_specs(), values)
