"""Section 6: the build at scale, local process pool and Beam's DirectRunner.

Synthetic sources are made at bench time (seeded, so every run makes the
same bytes) from the 432 shared originals (the 286 Kermany files in
chest_xray/ and the 146 images of covid-chestxray-dataset/images/): each file
is a random crop (40-80% of the area, aspect 3:4-4:3, random position) of a
randomly drawn original, flipped left-right half the time, resized so its
shorter side is 64-128 px, grayscale, with Gaussian noise (sigma 2-6 grey
levels), saved as JPEG at quality 70-95 or, about 1 in 10, as PNG. They are
laid out as Kermany's chest_xray/{train,test}/{NORMAL,PNEUMONIA}/ with its
file names (IM-<patient>-<image>.jpeg, person<N>_{bacteria,virus}_<M>.jpeg;
1-3 images per patient), and the 1/16, 1/4 and all parts (the first whole
patients in generation order, so each part holds the smaller ones) are
manual dirs of hard links to them.

Each part is built with PneumoniaXrayConfig(name="bench_scale_64",
image_size=64, sources=("kermany",)) into a fresh data_dir, in a fresh child
process (bench/scale_child.py), once through the builder's own process pool
(num_workers=2) and once through Beam's DirectRunner (multi_processing,
direct_num_workers=2; 1 with --quick). Figures: images/s (source files /
wall seconds of download_and_prepare) and the child's peak RSS: the
driver's, not that of the pool's or Beam's worker processes. Ratios:
per-image cost all / 1/16 (= images/s on 1/16 / images/s on all; target <=
1.15: time grows linearly) and driver peak RSS all / 1/16 (target <= 1.5).
"""

import concurrent.futures
import hashlib
import io
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
from typing import Optional, Sequence

import numpy as np

from bench import config as config_lib
from bench import data
from bench import report
from bench import scale_child
from bench import stats

SECTION = "6 build at scale"
IEEE8023_IMAGES = os.path.join("covid-chestxray-dataset", "images")
SEED = 20250611
# Originals are decoded once per generating process at most this large: a
# 40% crop of the smallest (227 px) is still over 128 px.
LOAD_SIDE = 512
CROP_AREA = (0.4, 0.8)
CROP_ASPECT = (3 / 4, 4 / 3)
SIDE = (64, 128)
NOISE_SIGMA = (2.0, 6.0)
JPEG_QUALITY = (70, 95)
PNG_SHARE = 0.1
NORMAL_SHARE = 1 / 3
VIRUS_SHARE = 1 / 3  # of PNEUMONIA patients; the others are bacteria
IMAGES_PER_PATIENT = ((1, 0.5), (2, 0.3), (3, 0.2))
TEST_SHARE = 0.15  # of patients, in test/ (the config re-splits by patient)
_MODES = (
    ("local", "local build (process pool)"),
    ("beam", "Beam DirectRunner (multi_processing)"),
)


def _fraction_key(label: str) -> str:
  return label.replace("/", "_")


def row_specs() -> list[report.Spec]:
  first, last = (config_lib.SCALE_FRACTIONS[0][0],
                 config_lib.SCALE_FRACTIONS[-1][0])
  specs = [report.Spec("scale/synthesis", SECTION,
                       "synthetic sources made (2 processes)", "files/s")]
  for mode, words in _MODES:
    specs += [report.Spec(f"scale/{mode}_rate_{_fraction_key(label)}",
                          SECTION, f"{words}, {label}", "images/s")
              for label, _ in config_lib.SCALE_FRACTIONS]
    specs += [report.Spec(f"scale/{mode}_rss_{_fraction_key(label)}",
                          SECTION, f"{words}, {label}: driver peak RSS", "MB")
              for label, _ in config_lib.SCALE_FRACTIONS]
    specs.append(report.Spec(
        f"scale/{mode}_cost_growth", SECTION,
        f"{words}: per-image cost, {last} / {first}", "x",
        report.Target("<=", 1.15)))
    specs.append(report.Spec(
        f"scale/{mode}_rss_growth", SECTION,
        f"{words}: driver peak RSS, {last} / {first}", "x",
        report.Target("<=", 1.5)))
  return specs


# --- Synthetic sources ------------------------------------------------------


def original_paths(shared_data: str) -> list[str]:
  """The shared originals the synthetic files are made from, sorted."""
  paths = data.class_files(os.path.join(shared_data, data.KERMANY),
                           data.KERMANY_SPLITS)
  folder = os.path.join(shared_data, IEEE8023_IMAGES)
  paths += [os.path.join(folder, name) for name in sorted(os.listdir(folder))
            if not name.startswith(".")]
  if not paths:
    raise FileNotFoundError(f"no originals under {shared_data}")
  return paths


def plan_files(count: int, originals: int,
               seed: int = SEED) -> list[tuple[str, int, str, int]]:
  """What to make: (relative path, original index, format, patient) per file,
  patients in generation order, `count` files in all.

  Names follow Kermany's, so that its reader finds the patients: NORMAL
  IM-<6-digit patient>-<4-digit image>.jpeg, PNEUMONIA
  person<patient>_<bacteria|virus>_<running file number>.jpeg (".png" for
  the PNG ones). Each patient has 1-3 images (the last one may have fewer),
  all in the same split folder.
  """
  rng = np.random.default_rng([seed, 0])
  sizes, weights = zip(*IMAGES_PER_PATIENT)
  files = []
  patient = 0
  while len(files) < count:
    patient += 1
    images = min(int(rng.choice(sizes, p=weights)), count - len(files))
    split = "test" if rng.random() < TEST_SHARE else "train"
    normal = rng.random() < NORMAL_SHARE
    kind = "virus" if rng.random() < VIRUS_SHARE else "bacteria"
    for image in range(1, images + 1):
      number = len(files) + 1
      fmt = "png" if rng.random() < PNG_SHARE else "jpeg"
      extension = "png" if fmt == "png" else "jpeg"
      if normal:
        name = f"IM-{patient:06d}-{image:04d}.{extension}"
        folder = "NORMAL"
      else:
        name = f"person{patient}_{kind}_{number}.{extension}"
        folder = "PNEUMONIA"
      path = "/".join((data.KERMANY, split, folder, name))
      files.append((path, int(rng.integers(originals)), fmt, patient))
  return files


def part_sizes(files: Sequence[tuple[str, int, str, int]],
               fractions: Sequence[tuple[str, int]]) -> dict[str, int]:
  """Files in each part: the first whole patients holding at least
  len(files) / every files (so 1/16 and 1/4 are prefixes of all)."""
  ends = [i + 1 for i in range(len(files))
          if i + 1 == len(files) or files[i + 1][3] != files[i][3]]
  sizes = {}
  for label, every in fractions:
    wanted = math.ceil(len(files) / every)
    sizes[label] = next(end for end in ends if end >= wanted)
  return sizes


_worker_originals = {}  # index -> decoded grayscale array, per process
_worker_paths = []


def _init_worker(paths: Sequence[str]) -> None:
  _worker_paths[:] = list(paths)
  _worker_originals.clear()


def _original(index: int) -> np.ndarray:
  # pylint: disable=g-import-not-at-top
  from PIL import Image
  from PIL import ImageOps
  # pylint: enable=g-import-not-at-top
  if index not in _worker_originals:
    with Image.open(_worker_paths[index]) as image:
      if image.format == "JPEG":
        image.draft("L", (LOAD_SIDE, LOAD_SIDE))
      image = ImageOps.exif_transpose(image).convert("L")
      image.thumbnail((LOAD_SIDE, LOAD_SIDE), Image.Resampling.BILINEAR)
      _worker_originals[index] = np.asarray(image)
  return _worker_originals[index]


def synthesize(original: np.ndarray, rng: np.random.Generator,
               fmt: str) -> bytes:
  """One synthetic file's bytes from a decoded grayscale original."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  height, width = original.shape
  area = rng.uniform(*CROP_AREA) * width * height
  aspect = math.exp(rng.uniform(math.log(CROP_ASPECT[0]),
                                math.log(CROP_ASPECT[1])))
  crop_w = min(width, max(2, round(math.sqrt(area * aspect))))
  crop_h = min(height, max(2, round(math.sqrt(area / aspect))))
  left = int(rng.integers(width - crop_w + 1))
  top = int(rng.integers(height - crop_h + 1))
  crop = original[top:top + crop_h, left:left + crop_w]
  if rng.random() < 0.5:
    crop = crop[:, ::-1]
  side = int(rng.integers(SIDE[0], SIDE[1] + 1))
  scale = side / min(crop_w, crop_h)
  size = (max(side, round(crop_w * scale)), max(side, round(crop_h * scale)))
  image = Image.fromarray(np.ascontiguousarray(crop)).resize(
      size, Image.Resampling.BILINEAR)
  noisy = np.asarray(image, np.float32) + rng.normal(
      0, rng.uniform(*NOISE_SIGMA), (size[1], size[0]))
  image = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
  buffer = io.BytesIO()
  if fmt == "png":
    image.save(buffer, format="PNG")
  else:
    image.save(buffer, format="JPEG",
               quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
  return buffer.getvalue()


def _make_one(task: tuple) -> str:
  """Writes one synthetic file; returns its sha256."""
  number, relative, original, fmt, target_root, seed = task
  rng = np.random.default_rng([seed, 1, number])
  content = synthesize(_original(original), rng, fmt)
  path = os.path.join(target_root, relative)
  with open(path, "wb") as f:
    f.write(content)
  return hashlib.sha256(content).hexdigest()


def make_sources(originals: Sequence[str], files, target_root: str,
                 processes: int, seed: int = SEED) -> int:
  """Writes every planned file under target_root; returns the number of
  distinct contents (sha256) among them."""
  for folder in sorted({os.path.dirname(path) for path, *_ in files}):
    os.makedirs(os.path.join(target_root, folder), exist_ok=True)
  tasks = [(number, path, original, fmt, target_root, seed)
           for number, (path, original, fmt, _) in enumerate(files)]
  with concurrent.futures.ProcessPoolExecutor(
      processes, mp_context=multiprocessing.get_context("fork"),
      initializer=_init_worker, initargs=(list(originals),)) as pool:
    digests = list(pool.map(_make_one, tasks, chunksize=64))
  return len(set(digests))


def link_part(source_root: str, relatives: Sequence[str], target: str) -> str:
  """A manual_dir of hard links (not symlinks: the builder refuses links
  that resolve outside its source folder) to source_root's files."""
  for relative in relatives:
    path = os.path.join(target, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.link(os.path.join(source_root, relative), path)
  return target


# --- Builds in child processes ----------------------------------------------


def offline_environment() -> dict[str, str]:
  """The child's environment: Beam's DirectRunner first tries to download
  its Prism runner; an unreachable proxy makes that fail at once and Beam
  runs the pipeline itself. Local gRPC traffic stays direct."""
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
              http_proxy="http://127.0.0.1:9",
              https_proxy="http://127.0.0.1:9",
              no_proxy="localhost,127.0.0.1")


def _run_child(spec: dict) -> dict:
  process = subprocess.run(
      [sys.executable, "-m", "bench.scale_child", json.dumps(spec)],
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      capture_output=True, text=True, check=False,
      env=offline_environment())
  lines = [line for line in process.stdout.splitlines()
           if line.startswith(scale_child.PREFIX)]
  if process.returncode != 0 or not lines:
    raise RuntimeError(f"scale child {spec} failed (exit "
                       f"{process.returncode}):\n{process.stderr[-3000:]}")
  result = json.loads(lines[-1][len(scale_child.PREFIX):])
  # Beam's multi_processing mode runs the pipeline in worker processes of
  # its own; each says so when it exits.
  result["beam_workers_ran"] = "Python sdk harness exiting" in process.stderr
  return result


def _build(mode: str, manual_dir: str, data_dir: str,
           workers: int) -> dict:
  shutil.rmtree(data_dir, ignore_errors=True)
  try:
    return _run_child({"mode": mode, "manual_dir": manual_dir,
                       "data_dir": data_dir, "num_workers": workers})
  finally:
    shutil.rmtree(data_dir, ignore_errors=True)


def _log(message: str) -> None:
  print(f"[bench] scale: {message}", file=sys.stderr, flush=True)


def _pairs(summary: dict) -> int:
  return sum(summary.get("near_duplicate_pairs_per_sources", {}).values())


def run(config: config_lib.BenchConfig,
        work: Optional[str] = None) -> list[report.Row]:
  work = work or os.path.join(config.work_dir, "scale")
  shutil.rmtree(work, ignore_errors=True)
  originals = original_paths(config.shared_data)
  files = plan_files(config.scale_files, len(originals))
  sizes = part_sizes(files, config_lib.SCALE_FRACTIONS)
  source_root = os.path.join(work, "sources")
  seconds, distinct = stats.timed(lambda: make_sources(
      originals, files, source_root, config.scale_workers))
  synthesis = stats.rate(len(files), seconds)
  _log(f"made {len(files)} files ({distinct} distinct) from "
       f"{len(originals)} originals in {seconds:.1f} s")
  manual_dirs = {}
  for label, _ in config_lib.SCALE_FRACTIONS:
    manual_dirs[label] = link_part(
        source_root, [path for path, *_ in files[:sizes[label]]],
        os.path.join(work, f"manual_{_fraction_key(label)}"))
  data.warm_page_cache([os.path.join(source_root, path)
                        for path, *_ in files])

  modes = [mode for mode, _ in _MODES]
  workers = {"local": config.scale_workers, "beam": config.scale_beam_workers}
  if config.scale_warmup_files:
    # Untimed: first fork, first Beam worker start, first read of the
    # libraries each child loads.
    warm = link_part(source_root, [
        path for path, *_ in files[:config.scale_warmup_files]],
                     os.path.join(work, "manual_warmup"))
    for mode in modes:
      _build(mode, warm, os.path.join(work, "data_warmup"), workers[mode])
  results = {(mode, label): [] for mode in modes
             for label, _ in config_lib.SCALE_FRACTIONS}
  # Every build once per repeat, the modes in a rotated order.
  jobs = []
  for repeat in range(config.scale_repeats):
    shift = repeat % len(modes)
    jobs += [(mode, label) for mode in modes[shift:] + modes[:shift]
             for label, _ in config_lib.SCALE_FRACTIONS]

  def build(job):
    mode, label = job
    result = _build(mode, manual_dirs[label], os.path.join(
        work, f"data_{mode}_{_fraction_key(label)}"), workers[mode])
    _log(f"{mode} {label} ({sizes[label]} files): "
         f"{result['seconds']:.1f} s, peak RSS "
         f"{result['peak_rss_mb']:.0f} MB, {result['examples']} "
         f"examples, {_pairs(result['summary'])} near-duplicate pairs")
    return result

  with concurrent.futures.ThreadPoolExecutor(config.scale_parallel) as pool:
    for (mode, label), result in zip(jobs, pool.map(build, jobs)):
      result["files"] = sizes[label]
      results[mode, label].append(result)
  shutil.rmtree(work, ignore_errors=True)

  first, last = (config_lib.SCALE_FRACTIONS[0][0],
                 config_lib.SCALE_FRACTIONS[-1][0])
  runs = (f"{config.scale_repeats} child processes"
          if config.scale_repeats > 1 else "one child process (one run)")
  values = {"synthesis": (
      stats.Stat.of([synthesis]),
      f"{len(files)} files ({distinct} distinct sha256) from "
      f"{len(originals)} originals in {seconds:.0f} s; one run")}
  for mode in modes:
    rates, peaks = {}, {}
    for label, _ in config_lib.SCALE_FRACTIONS:
      got = results[mode, label]
      rates[label] = [stats.rate(r["files"], r["seconds"]) for r in got]
      peaks[label] = [r["peak_rss_mb"] for r in got]
      pairs = sorted({_pairs(r["summary"]) for r in got})
      after_import = stats.Stat.of([r["rss_after_import_mb"] for r in got])
      how = (f"num_workers={workers[mode]}" if mode == "local" else
             f"direct_num_workers={workers[mode]}, " + (
                 "Beam's worker processes ran" if all(
                     r["beam_workers_ran"] for r in got)
                 else "NO Beam worker process seen"))
      key = _fraction_key(label)
      values[f"{mode}_rate_{key}"] = (
          stats.Stat.of(rates[label]),
          f"{sizes[label]} files, {got[0]['examples']} examples, "
          f"{'/'.join(map(str, pairs))} near-dup pairs; "
          f"{stats.fmt(stats.Stat.of([r['seconds'] for r in got]).median)} "
          f"s; {how}; {runs}")
      maxrss = stats.Stat.of([r["ru_maxrss_mb"] for r in got])
      same = all(abs(r["ru_maxrss_mb"] - r["peak_rss_mb"]) < 1 for r in got)
      values[f"{mode}_rss_{key}"] = (
          stats.Stat.of(peaks[label]),
          f"{stats.Stat.of(peaks[label]).median - after_import.median:.0f} "
          f"MB over the {after_import.median:.0f} MB after imports; driver "
          f"only (the child's VmHWM, " + (
              "= its ru_maxrss" if same else
              f"ru_maxrss {maxrss.median:.0f} MB") +
          f"; worker processes not counted); {runs}")
    values[f"{mode}_cost_growth"] = (
        stats.paired_ratio(rates[first], rates[last]),
        f"(s/image on {last}) / (s/image on {first}); per-repeat ratio")
    values[f"{mode}_rss_growth"] = (
        stats.paired_ratio(peaks[last], peaks[first]),
        "driver only (worker processes not counted); per-repeat ratio")
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
