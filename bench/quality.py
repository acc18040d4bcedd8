"""Section 5 (--quality): what the default model and the blog CNN reach.

Each model goes through the same two jobs a user runs, as library calls:
trainer.train.run with the TrainConfig defaults (augmentation, class
weights, precision "auto", early stopping on val_auc) on the train split of
small_gray_204 (chest_xray_small's training images, validation carved out by
patient), then trainer.evaluate.evaluate on the test split with its defaults:
the threshold is chosen on the validation split for sensitivity >= 0.95, and
every figure has a 95% CI from a patient-group bootstrap. So the rows are
exactly what `python -m trainer.evaluate` writes to metrics.json for that
run, plus the wall time of training + evaluation.
"""

import os
import shutil
import time

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "5 quality"
MODELS = ("small_resnet", "blog_cnn")
_METRICS = (
    # (key, words, unit)
    ("roc_auc", "test ROC-AUC", "AUC"),
    ("sensitivity", "test sensitivity at the validation threshold",
     "fraction"),
    ("specificity", "test specificity at the validation threshold",
     "fraction"),
    ("threshold", "threshold chosen on validation (sensitivity >= 0.95)",
     "probability"),
    ("epochs", "epochs trained (early stopping on val_auc)", "epochs"),
    ("wall_seconds", "wall time, training + evaluation", "s"),
)
# The headline target applies to the default model only.
_TARGETS = {("small_resnet", "roc_auc"): report.Target(">=", 0.96),
            ("small_resnet", "sensitivity"): report.Target(">=", 0.95)}


def row_specs() -> list[report.Spec]:
  return [report.Spec(f"quality/{model}_{key}", SECTION, f"{model}: {words}",
                      unit, _TARGETS.get((model, key)))
          for model in MODELS for key, words, unit in _METRICS]


def figures_from_metrics(metrics: dict) -> dict:
  """{key: (value, (ci_low, ci_high) or None)} from evaluate's metrics.json."""
  figures = {}
  for key in ("roc_auc", "sensitivity", "specificity"):
    entry = metrics["overall"][key]
    figures[key] = (entry["value"], (entry["ci_low"], entry["ci_high"]))
  figures["threshold"] = (metrics["threshold"]["threshold"], None)
  return figures


def evaluate_model(model_name: str, config: config_lib.BenchConfig,
                   small: data.SmallBuild) -> tuple[dict, dict]:
  """Trains one model, evaluates it; returns (figures, metrics.json dict)."""
  # pylint: disable=g-import-not-at-top
  from trainer import config as trainer_config
  from trainer import evaluate
  from trainer import train
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
  metrics = evaluate.evaluate(model_dir, data_dir=data_dir, split="test",
                              gradcam=False)
  figures = figures_from_metrics(metrics)
  figures["epochs"] = (float(len(history.epoch)), None)
  figures["wall_seconds"] = (time.perf_counter() - start, None)
  return figures, metrics


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  values = {}
  for model_name in MODELS:
    figures, metrics = evaluate_model(model_name, config, small)
    ci_note = (f"one training run; min-max = 95% CI, bootstrap over "
               f"{metrics['n_patient_groups']} patient groups "
               f"({metrics['n_examples']} test images)")
    for key, _, _ in _METRICS:
      value, interval = figures[key]
      if interval is None:
        values[f"{model_name}_{key}"] = (stats.Stat.of([value]),
                                         "one training run")
      else:
        values[f"{model_name}_{key}"] = (
            stats.Stat(value, interval[0], interval[1], (value,)), ci_note)
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
