"""Scoring image files a user brings exactly as the dataset's images are scored.

Called through `trainer.predict.predict`; never reads flags. A file goes the
way a source file goes into the dataset and on to the model:
  pneumonia_tfds.images.process (decode by content, fit to the stored size
  and channels, encode as the build does) -> the TFDS image feature's own
  decoding of those bytes -> pipeline.preprocess.to_model_input.
So a file that is in the dataset gets the score evaluation gives it, down to
the JPEG round trip of the stored copy.
"""

import csv
import dataclasses
import io
import os
import re
import stat
from typing import Iterator, Optional, Sequence

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from pipeline import preprocess
from pneumonia_tfds import dicom
from pneumonia_tfds import images as images_lib
from pneumonia_tfds import labels
from pneumonia_tfds import per_file
from trainer import gradcam
from trainer import plots
from trainer import run_dir
from trainer import scores as scores_lib
from trainer import storage
from trainer import stored as stored_lib
from trainer import thresholds

# What a folder search picks up (case-insensitive); a file named on the
# command line is scored whatever its name, since the format is read from
# the content (the dataset has PNGs named .jpg). Extensions of the formats
# pneumonia_tfds.images decodes.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff",
                    ".webp", ".jp2", ".j2k", ".ppm", ".pgm", ".dcm", ".dicom")
# Far above any chest X-ray file (the largest source file is 2.9 MB); keeps a
# stray huge file from being read into memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
LABEL_NAMES = labels.LABELS


def find_files(paths: Sequence[str]) -> list[str]:
  """The files to score: each file given, and every image file (by
  extension, not hidden) under each folder given, recursively, sorted.

  Raises:
    ValueError: a path that does not exist or is neither a regular file nor
      a directory (a device, a pipe, a socket): nothing is scored then.
  """
  if not paths:
    raise ValueError("no paths to score: give image files or folders")
  found, seen = [], set()

  def add(path: str) -> None:
    key = os.path.abspath(path)
    if key not in seen:
      seen.add(key)
      found.append(path)

  for path in paths:
    if storage.is_url(path):
      _add_url(path, add)
      continue
    try:
      mode = os.stat(path).st_mode
    except FileNotFoundError:
      raise ValueError(f"{path}: no such file or directory") from None
    except OSError as e:
      raise ValueError(f"{path}: cannot be read ({e.strerror})") from None
    if stat.S_ISREG(mode):
      add(path)
    elif stat.S_ISDIR(mode):
      for file in _walk_images(path):
        add(file)
    else:
      raise ValueError(f"{path}: not a regular file or a directory; give "
                       "image files or folders of them")
  return found


def _is_image_name(name: str) -> bool:
  return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _add_url(path: str, add) -> None:
  """A file or folder on a TensorFlow filesystem (gs://, ram://, ...)."""
  if storage.isdir(path):
    for file in storage.walk_files(path):
      relative = file[len(path):].lstrip("/")
      if all(not part.startswith(".") for part in relative.split("/")) and (
          _is_image_name(storage.basename(file))):
        add(file)
  elif storage.exists(path):
    add(path)
  else:
    raise ValueError(f"{path}: no such file or directory")


def _walk_images(folder: str) -> Iterator[str]:
  def warn(error: OSError) -> None:
    logging.warning("Skipping %s: %s", error.filename, error.strerror)

  for root, dirs, files in os.walk(folder, onerror=warn):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(files):
      if not _is_image_name(name):
        continue
      path = os.path.join(root, name)
      try:
        if not stat.S_ISREG(os.stat(path).st_mode):
          logging.warning("Skipping %s: not a regular file.", path)
          continue
      except OSError:
        pass  # e.g. a broken link: read_model_input reports it in its row
      yield path


def read_model_input(path: str, stored: per_file.Geometry,
                     image_feature: tfds.features.FeatureConnector,
                     image_size: int,
                     channels: int) -> tuple[np.ndarray, list[str]]:
  """A file -> float32 model input (image_size, image_size, channels), and
  what its score should be read with (e.g. a lateral DICOM film).

  Raises:
    ValueError: the file cannot be read or is not a decodable image; the
      message says why.
  """
  data = _read_file(path)
  if not data:
    raise ValueError("empty file")
  try:
    encoded = images_lib.process(data, stored.size, stored.channels,
                                 stored.fit, stored.encoding)
  except images_lib.ImageError as e:
    # Pillow names the in-memory buffer it was given; that says nothing here.
    raise ValueError(re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "",
                            str(e))) from None
  image = image_feature.decode_example(tf.constant(encoded))
  warnings = dicom.header(data).warnings() if dicom.is_dicom(data) else []
  return preprocess.to_model_input(image, image_size, channels).numpy(), (
      warnings)


def _read_file(path: str) -> bytes:
  """A file's bytes, local or on a TensorFlow filesystem, size-limited."""
  try:
    if storage.is_url(path):
      size = tf.io.gfile.stat(path).length
    else:
      size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
      raise ValueError(f"file is {size} bytes, over the {MAX_FILE_BYTES} "
                       "byte limit")
    if storage.is_url(path):
      return storage.read_bytes(path)
    with open(path, "rb") as f:
      return f.read()
  except OSError as e:
    raise ValueError(f"cannot read file: {e.strerror or e}") from None
  except tf.errors.OpError as e:
    raise ValueError(f"cannot read file: {e.message}") from None


def _gradcam_name(index: int, path: str) -> str:
  stem = os.path.splitext(storage.basename(path))[0]
  return f"{index:05d}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}.png"


def _header(class_names: tuple[str, ...], with_gradcam: bool) -> list[str]:
  header = ["path", "p_pneumonia", "predicted_label", "threshold"]
  if len(class_names) > 2:
    header += [f"p_{name}" for name in class_names] + ["predicted_type"]
  if with_gradcam:
    header.append("gradcam")
  return header + ["warning", "error"]


def _chunks(items: list, size: int) -> Iterator[tuple[int, list]]:
  for start in range(0, len(items), size):
    yield start, items[start:start + size]


@dataclasses.dataclass
class Scored:
  """One batch of files: what could be read, and the calibrated outputs."""
  start: int  # position of the first file among all files
  paths: list[str]
  warnings: list[str]  # per file, "" if none
  errors: list[str]  # per file, "" if scored
  good: list[int]  # positions in `paths` of the scored files
  batch: Optional[np.ndarray]  # model inputs of the scored files
  probabilities: Optional[np.ndarray]  # (len(good), K), calibrated
  scores: Optional[np.ndarray]  # (len(good),) P(pneumonia), calibrated


def score_files(trained: run_dir.TrainedModel, files: Sequence[str],
                batch_size: int = 32) -> Iterator[Scored]:
  """Reads and scores `files` in batches, as the dataset's images are scored;
  scores are read through the run's calibration. A file that cannot be read
  gets its error and is left out of the batch."""
  config = trained.config
  stored, image_feature = stored_lib.stored_format(config.dataset)
  for start, chunk in _chunks(list(files), batch_size):
    scored = Scored(start, chunk, [""] * len(chunk), [""] * len(chunk), [],
                    None, None, None)
    inputs = []
    for i, path in enumerate(chunk):
      try:
        model_input, warnings = read_model_input(
            path, stored, image_feature, config.image_size, config.channels)
        inputs.append(model_input)
        scored.warnings[i] = "; ".join(warnings)
        scored.good.append(i)
      except ValueError as e:
        scored.errors[i] = str(e)
      except Exception as e:  # pylint: disable=broad-except
        # A malformed file can make a decoder fail in ways images.decode
        # does not name; one file must not stop the others.
        scored.errors[i] = f"{type(e).__name__}: {e}"
    if inputs:
      scored.batch = np.stack(inputs)
      scored.probabilities = scores_lib.calibrated(
          trained.model.predict_on_batch(scored.batch), trained.calibration)
      scored.scores = scores_lib.positive(scored.probabilities,
                                          trained.class_names)
    yield scored


def score_paths(trained: run_dir.TrainedModel, paths: Sequence[str],
                batch_size: int = 32) -> tuple[np.ndarray, list[str]]:
  """score_files, gathered: P(pneumonia) per path (NaN where the file could
  not be read) and each path's error ("" if scored)."""
  scores = np.full(len(paths), np.nan)
  errors = [""] * len(paths)
  for scored in score_files(trained, paths, batch_size):
    errors[scored.start:scored.start + len(scored.errors)] = scored.errors
    for j, i in enumerate(scored.good):
      scores[scored.start + i] = scored.scores[j]
  return scores, errors


def _threshold(trained: run_dir.TrainedModel,
               threshold: Optional[float]) -> float:
  if trained.calibration_problem:
    logging.warning("%s; scoring with the raw model outputs.",
                    trained.calibration_problem)
  if threshold is not None:
    return threshold
  saved = trained.saved_threshold()
  if saved is None:
    logging.warning("%s has no %s (run trainer.evaluate first); calling "
                    "pneumonia at P >= %s.", trained.model_dir,
                    run_dir.THRESHOLD, thresholds.DEFAULT_THRESHOLD)
    return thresholds.DEFAULT_THRESHOLD
  return saved.threshold


def run(paths: Sequence[str], model_dir: str, output_csv: str, *,
        threshold: Optional[float] = None, gradcam_dir: Optional[str] = None,
        batch_size: int = 32) -> list[dict[str, str]]:
  """Scores image files; writes one CSV row per file; returns the rows.

  Args:
    paths: files and/or folders (searched recursively for image files).
    model_dir: a finished training run.
    output_csv: the CSV to write (its folder is created).
    threshold: call pneumonia when P(pneumonia) >= threshold; default the
      run's threshold.json, or 0.5 (with a warning) if it has none.
    gradcam_dir: if given, a Grad-CAM overlay PNG per scored file goes here.
    batch_size: images per model call.

  Raises:
    ValueError: a bad path (see find_files), threshold or batch size, or a
      saved threshold that belongs to another model file. A file that
      cannot be decoded does not raise: its row carries the error.
  """
  if threshold is not None and not 0 <= threshold <= 1:
    raise ValueError(f"threshold must be in [0, 1], got {threshold}")
  if batch_size < 1:
    raise ValueError(f"batch_size must be at least 1, got {batch_size}")
  files = find_files(paths)
  trained = run_dir.load(model_dir)
  threshold = _threshold(trained, threshold)
  names = trained.class_names
  if gradcam_dir:
    storage.makedirs(gradcam_dir)
  header = _header(names, bool(gradcam_dir))
  rows = []
  text = io.StringIO()
  writer = csv.DictWriter(text, header, lineterminator="\n")
  writer.writeheader()
  for scored in score_files(trained, files, batch_size):
    # Every column in every row, as in the CSV ("" where not applicable).
    chunk_rows = [{**dict.fromkeys(header, ""), "path": path,
                   "threshold": scores_lib.as_text(threshold),
                   "warning": warning, "error": error}
                  for path, warning, error in zip(
                      scored.paths, scored.warnings, scored.errors)]
    if scored.good:
      called = scored.scores >= threshold
      for j, i in enumerate(scored.good):
        row = chunk_rows[i]
        row["p_pneumonia"] = scores_lib.as_text(scored.scores[j])
        row["predicted_label"] = LABEL_NAMES[int(called[j])]
        if len(names) > 2:
          for name, value in zip(names, scored.probabilities[j]):
            row[f"p_{name}"] = scores_lib.as_text(value)
          row["predicted_type"] = names[int(np.argmax(
              scored.probabilities[j]))]
      if gradcam_dir:
        _write_overlays(trained, scored, called, chunk_rows, gradcam_dir)
    writer.writerows(chunk_rows)
    rows.extend(chunk_rows)
  storage.write_text(output_csv, text.getvalue())
  n_scored = sum(1 for row in rows if not row.get("error"))
  logging.info("Scored %d of %d files into %s.", n_scored, len(rows),
               output_csv)
  return rows


def _write_overlays(trained: run_dir.TrainedModel, scored: Scored,
                    called: np.ndarray, chunk_rows: list[dict[str, str]],
                    gradcam_dir: str) -> None:
  """Heat map of the class each image is called, beside the model input."""
  batch = scored.batch
  maps = np.zeros(batch.shape[:3], np.float32)
  for is_called, target in ((True, gradcam.PNEUMONIA), (False, gradcam.NORMAL)):
    rows = np.flatnonzero(called == is_called)
    if rows.size:
      maps[rows] = gradcam.heatmaps(trained.model, batch[rows], target)
  for j, i in enumerate(scored.good):
    label = LABEL_NAMES[int(called[j])]
    path = scored.paths[i]
    overlay = storage.join(gradcam_dir,
                           _gradcam_name(scored.start + i, path))
    plots.overlay_image(batch[j], maps[j], overlay,
                        f"{storage.basename(path)}: P(pneumonia) "
                        f"{scored.scores[j]:.4g}, called {label}")
    chunk_rows[i]["gradcam"] = overlay
