"""Section 1: the dataset build against the blog's pickle and the decode floor.

All contenders read the same Kermany originals (chest_xray/, 286 files), warm
in the page cache, and are timed back to back in every repeat:

  build, num_workers=1 / 2  tfds.builder(config, num_workers=N) +
                            download_and_prepare into a fresh data_dir, as
                            `tfds build` runs it (in this process, so TF's
                            import is not counted); a custom config
                            PneumoniaXrayConfig(sources=("kermany",)) at the
                            default 204x204 grayscale.
  pickle preparation        load_img(target_size=(204, 204)) -> array -> stack
                            -> pickle.dump (bench.baselines.blog_prepare).
  decode floor, 1 / 2 proc  Pillow draft + resize, nothing written.

Images/s counts source files read (the build writes one fewer: a duplicate).
"""

import os
import shutil

from bench import baselines
from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "1 build"

_CONTENDERS = (
    ("build_1_worker", "build, num_workers=1"),
    ("build_2_workers", "build, num_workers=2 (the default here: 2 CPUs)"),
    ("pickle", "blog pickle preparation (1 process)"),
    ("floor_1_process", "decode floor, 1 process"),
    ("floor_2_processes", "decode floor, 2 processes"),
)
# (id, numerator, denominator, words, target)
_RATIOS = (
    ("ratio_build_2_workers_vs_pickle", "build_2_workers", "pickle",
     "build (2 workers) / pickle preparation", report.Target(">=", 2.5)),
    ("ratio_build_1_worker_vs_pickle", "build_1_worker", "pickle",
     "build (1 worker) / pickle preparation", None),
    ("ratio_build_2_workers_vs_floor_2", "build_2_workers", "floor_2_processes",
     "build (2 workers) / decode floor (2 processes)",
     report.Target(">=", 0.7)),
    ("ratio_build_1_worker_vs_floor_1", "build_1_worker", "floor_1_process",
     "build (1 worker) / decode floor (1 process)", None),
    ("ratio_build_2_vs_1_workers", "build_2_workers", "build_1_worker",
     "build scaling, 2 workers / 1 worker", None),
    ("ratio_floor_2_vs_1_processes", "floor_2_processes", "floor_1_process",
     "decode floor scaling, 2 / 1 processes", None),
)


def row_specs() -> list[report.Spec]:
  specs = [report.Spec(f"build/{key}", SECTION, words, "images/s")
           for key, words in _CONTENDERS]
  return specs + [report.Spec(f"build/{key}", SECTION, words, "x", target)
                  for key, _, _, words, target in _RATIOS]


def run(config: config_lib.BenchConfig) -> list[report.Row]:
  manual_dir, paths = data.kermany_manual_dir(
      config.shared_data, os.path.join(config.work_dir, "build_manual"),
      config.build_per_folder)
  data.warm_page_cache(paths)
  count = len(paths)
  scratch = os.path.join(config.work_dir, "build_scratch")
  build_config = data.kermany_config()

  def build(num_workers):
    data_dir = os.path.join(scratch, f"data_{num_workers}")
    shutil.rmtree(data_dir, ignore_errors=True)
    data.build(manual_dir, data_dir, build_config, num_workers=num_workers)

  def prepare_pickle():
    out = os.path.join(scratch, "pickle")
    baselines.blog_prepare(paths, data.IMAGE_SIZE, out)

  contenders = {
      "build_1_worker": lambda: build(1),
      "build_2_workers": lambda: build(2),
      "pickle": prepare_pickle,
      "floor_1_process": lambda: baselines.decode_floor(paths, 1),
      "floor_2_processes": lambda: baselines.decode_floor(paths, 2),
  }
  # One untimed round first: imports, first fork, first TFDS build.
  for function in contenders.values():
    function()
  rates = {key: [] for key in contenders}
  keys = list(contenders)
  repeats = config.build_repeats
  for repeat in range(repeats):
    # Rotated, so no contender always runs first or right after another.
    shift = repeat % len(keys)
    for key in keys[shift:] + keys[:shift]:
      seconds, _ = stats.timed(contenders[key])
      rates[key].append(stats.rate(count, seconds))
  shutil.rmtree(scratch, ignore_errors=True)

  note = f"{count} files, {repeats} repeats"
  values = {key: stats.Stat.of(rates[key]) for key, _ in _CONTENDERS}
  for key, numerator, denominator, _, _ in _RATIOS:
    values[key] = stats.paired_ratio(rates[numerator], rates[denominator])
  return [spec.measured(values[spec.id.split("/", 1)[1]],
                        note if spec.unit != "x" else "per-repeat ratio")
          for spec in row_specs()]
