"""Section 5 (--quality): what the default model and the blog CNN reach.

Each model is trained by the trainer (trainer.train.run with the TrainConfig
defaults: augmentation, class weights, precision "auto", early stopping on
val_auc) on the train split of small_gray_204 (chest_xray_small's training
images, validation carved out by patient), and its best checkpoint is
evaluated here:

  threshold     chosen on the validation split: the one maximizing Youden's
                J = sensitivity + specificity - 1 (ties: the highest).
  ROC-AUC       on the test split; 95% CI by a patient-group bootstrap
                (resample the test split's patient_group values with
                replacement, 2000 times, percentiles 2.5 and 97.5).
  sensitivity,  on the test split at that threshold (pneumonia = positive),
  specificity   with the same bootstrap CI.
  wall time     training + evaluation, seconds.

The metrics are plain NumPy functions below (the trainer has no evaluation
module yet).
"""

import collections
import os
import shutil
import time

import numpy as np

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "5 quality"
MODELS = ("small_resnet", "blog_cnn")
BOOTSTRAP_SAMPLES = 2000
_METRICS = (
    # (key, words, unit)
    ("auc", "test ROC-AUC", "AUC"),
    ("sensitivity", "test sensitivity at the validation threshold",
     "fraction"),
    ("specificity", "test specificity at the validation threshold",
     "fraction"),
    ("threshold", "threshold chosen on validation (Youden's J)",
     "probability"),
    ("epochs", "epochs trained (early stopping on val_auc)", "epochs"),
    ("wall_seconds", "wall time, training + evaluation", "s"),
)


def row_specs() -> list[report.Spec]:
  return [report.Spec(f"quality/{model}_{key}", SECTION, f"{model}: {words}",
                      unit)
          for model in MODELS for key, words, unit in _METRICS]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney, ties count one half)."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, dtype=np.float64)
  positives, negatives = scores[labels], scores[~labels]
  if not len(positives) or not len(negatives):
    return float("nan")
  order = np.argsort(scores, kind="mergesort")
  ranks = np.empty(len(scores))
  sorted_scores = scores[order]
  # Average ranks over ties.
  _, first, counts = np.unique(sorted_scores, return_index=True,
                               return_counts=True)
  average = first + (counts + 1) / 2.0
  ranks[order] = np.repeat(average, counts)
  rank_sum = ranks[labels].sum()
  n_pos, n_neg = len(positives), len(negatives)
  return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
  """The score threshold (predict positive at >=) maximizing
  sensitivity + specificity - 1; among ties, the highest threshold."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, dtype=np.float64)
  best, best_j = 0.5, -np.inf
  for threshold in np.unique(scores)[::-1]:
    sensitivity, specificity = rates_at(labels, scores, threshold)
    j = sensitivity + specificity - 1.0
    if j > best_j + 1e-12:
      best, best_j = float(threshold), j
  return best


def rates_at(labels: np.ndarray, scores: np.ndarray,
             threshold: float) -> tuple[float, float]:
  """(sensitivity, specificity) predicting positive where score >= threshold."""
  labels = np.asarray(labels).astype(bool)
  predicted = np.asarray(scores) >= threshold
  positives, negatives = labels.sum(), (~labels).sum()
  sensitivity = (predicted & labels).sum() / positives if positives else np.nan
  specificity = ((~predicted) & (~labels)).sum() / negatives if negatives else (
      np.nan)
  return float(sensitivity), float(specificity)


def group_bootstrap(labels, scores, groups, threshold: float,
                    samples: int = BOOTSTRAP_SAMPLES,
                    seed: int = 0) -> dict[str, tuple[float, float]]:
  """95% CIs of AUC, sensitivity and specificity, resampling whole groups."""
  labels = np.asarray(labels).astype(bool)
  scores = np.asarray(scores, dtype=np.float64)
  members = collections.defaultdict(list)
  for index, group in enumerate(groups):
    members[group].append(index)
  group_indices = [np.array(v) for v in members.values()]
  rng = np.random.default_rng(seed)
  values = collections.defaultdict(list)
  for _ in range(samples):
    chosen = rng.integers(0, len(group_indices), len(group_indices))
    index = np.concatenate([group_indices[c] for c in chosen])
    auc = roc_auc(labels[index], scores[index])
    if np.isnan(auc):
      continue
    sensitivity, specificity = rates_at(labels[index], scores[index],
                                        threshold)
    values["auc"].append(auc)
    values["sensitivity"].append(sensitivity)
    values["specificity"].append(specificity)
  return {key: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
          for key, v in values.items()}


def _predict(model, input_config, split: str):
  """(labels, P(pneumonia), file names) over a split, in stored order."""
  from pipeline import input as input_lib  # pylint: disable=g-import-not-at-top
  labels, scores, names = [], [], []
  for images, targets, metadata in input_lib.make_for_eval(
      input_config, split=split, with_metadata=True):
    scores.append(np.asarray(model(images, training=False),
                             dtype=np.float64).reshape(-1))
    labels.append(targets.numpy())
    names += [n.decode() for n in metadata["file_name"].numpy()]
  return np.concatenate(labels), np.concatenate(scores), names


def _patient_groups(dataset: str, data_dir: str, split: str) -> dict[str, str]:
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(dataset, data_dir=data_dir)
  decoders = tfds.decode.PartialDecoding(
      {"file_name": True, "patient_group": True})
  examples = builder.as_dataset(split=split, decoders=decoders)
  return {e["file_name"].decode(): e["patient_group"].decode()
          for e in tfds.as_numpy(examples)}


def evaluate_model(model_name: str, config: config_lib.BenchConfig,
                   small: data.SmallBuild) -> dict:
  """Trains one model with the trainer, evaluates it; returns the figures."""
  # pylint: disable=g-import-not-at-top
  import keras
  from pipeline import input as input_lib
  try:
    from trainer import callbacks as callbacks_lib
    from trainer import config as trainer_config
    from trainer import objectives  # pylint: disable=unused-import  (registers)
    from trainer import train
    best_model = callbacks_lib.BEST_MODEL
  except (ImportError, AttributeError) as e:
    raise NotImplementedError(
        f"section 5 needs trainer.train.run, trainer.config.TrainConfig and "
        f"trainer.callbacks.BEST_MODEL: {e}") from e
  # pylint: enable=g-import-not-at-top

  data_dir, _ = small.get()
  model_dir = os.path.join(config.work_dir, "quality", model_name)
  shutil.rmtree(model_dir, ignore_errors=True)
  train_config = trainer_config.TrainConfig(
      model_dir=model_dir, dataset=small.dataset, data_dir=data_dir,
      model=model_name, image_size=config.train_image_size,
      epochs=config.quality_epochs)
  start = time.perf_counter()
  history = train.run(train_config)
  model = keras.saving.load_model(
      os.path.join(model_dir, best_model), compile=False)
  eval_config = input_lib.InputConfig(
      dataset=small.dataset, data_dir=data_dir,
      image_size=config.train_image_size, cache=False)
  val_labels, val_scores, _ = _predict(model, eval_config, "validation")
  threshold = youden_threshold(val_labels, val_scores)
  labels, scores, names = _predict(model, eval_config, "test")
  group_of = _patient_groups(small.dataset, data_dir, "test")
  groups = [group_of[name] for name in names]
  sensitivity, specificity = rates_at(labels, scores, threshold)
  intervals = group_bootstrap(labels, scores, groups, threshold)
  wall = time.perf_counter() - start
  return {
      "auc": (roc_auc(labels, scores), intervals.get("auc")),
      "sensitivity": (sensitivity, intervals.get("sensitivity")),
      "specificity": (specificity, intervals.get("specificity")),
      "threshold": (threshold, None),
      "epochs": (float(len(history.epoch)), None),
      "wall_seconds": (wall, None),
      "test_examples": len(labels), "test_groups": len(set(groups)),
      "validation_examples": len(val_labels),
  }


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  values = {}
  for model_name in MODELS:
    figures = evaluate_model(model_name, config, small)
    for key, _, _ in _METRICS:
      value, interval = figures[key]
      if interval is None:
        values[f"{model_name}_{key}"] = (stats.Stat.of([value]),
                                         "one training run")
      else:
        values[f"{model_name}_{key}"] = (
            stats.Stat(value, interval[0], interval[1], (value,)),
            f"one training run; min-max = 95% CI, bootstrap over "
            f"{figures['test_groups']} patient groups "
            f"({figures['test_examples']} test images)")
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
