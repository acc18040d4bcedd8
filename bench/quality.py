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

The third entry trains small_resnet on the pneumonia types
(target="pneumonia_type") the same way, on a patient split of
chest_xray_small instead (small_gray_204_patient_splits): small_gray_204's
test split is Kermany's `test/`
folder alone, where bacterial and viral pneumonia separate almost perfectly
(an artefact of that folder), so the headline bacterial-vs-viral figure
needs test images from Kermany's `train/` folder. Its rows come from
metrics.json's "types" (trainer.type_metrics).
"""

import os
import shutil
import sys
import time
import traceback

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "5 quality"
ENTRIES = config_lib.QUALITY_MODELS
TYPE_ENTRY = "small_resnet_type"
TYPE_MODEL = "small_resnet"
MODELS = tuple(e for e in ENTRIES if e != TYPE_ENTRY)  # The binary entries.
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
_TYPE_METRICS = (
    ("macro_roc_auc", "test macro one-vs-rest ROC-AUC over the types present",
     "AUC"),
    ("bacterial_viral_auc_train_folder", "bacterial vs viral ROC-AUC, test "
     "images from Kermany's train/ folder", "AUC"),
    ("bacterial_viral_auc_test_folder", "bacterial vs viral ROC-AUC, test "
     "images from Kermany's test/ folder (an artefact of that folder: not "
     "comparable)", "AUC"),
    ("wall_seconds", "wall time, training + evaluation", "s"),
)
# Which Kermany folder each bacterial-vs-viral row reads.
_TYPE_FOLDERS = {"bacterial_viral_auc_train_folder": "train",
                 "bacterial_viral_auc_test_folder": "test"}
# The headline targets apply to the default model only.
_TARGETS = {("small_resnet", "roc_auc"): report.Target(">=", 0.96),
            ("small_resnet", "sensitivity"): report.Target(">=", 0.95),
            (TYPE_ENTRY, "bacterial_viral_auc_train_folder"):
                report.Target(">=", 0.85)}
_TITLES = {TYPE_ENTRY: f"{TYPE_MODEL} (pneumonia type)"}
# A patient split of chest_xray_small, so that test holds images of both
# Kermany folders.
TYPE_CONFIG_NAME = "small_gray_204_patient_splits"


def _metrics_of(entry: str) -> tuple:
  return _TYPE_METRICS if entry == TYPE_ENTRY else _METRICS


def entry_specs(entry: str) -> dict[str, report.Spec]:
  """Figure key -> row of one entry, in table order."""
  return {key: report.Spec(f"quality/{entry}_{key}", SECTION,
                           f"{_TITLES.get(entry, entry)}: {words}", unit,
                           _TARGETS.get((entry, key)))
          for key, words, unit in _metrics_of(entry)}


def row_specs() -> list[report.Spec]:
  return [spec for entry in ENTRIES for spec in entry_specs(entry).values()]


def _figure(entry: dict) -> tuple:
  return entry["value"], (entry["ci_low"], entry["ci_high"])


def figures_from_metrics(metrics: dict) -> dict:
  """{key: (value, (ci_low, ci_high) or None)} from evaluate's metrics.json."""
  figures = {key: _figure(metrics["overall"][key])
             for key in ("roc_auc", "sensitivity", "specificity")}
  figures["threshold"] = (metrics["threshold"]["threshold"], None)
  return figures


def type_figures_from_metrics(metrics: dict) -> dict:
  """The type entry's figures from metrics.json's "types" (type_metrics)."""
  types = metrics["types"]
  folders = types["bacterial_vs_viral"]["by_kermany_folder"]
  figures = {"macro_roc_auc": _figure(types["macro_roc_auc_ovr"])}
  for key, folder in _TYPE_FOLDERS.items():
    figures[key] = _figure(folders[folder]["roc_auc"])
  return figures


def _ci_note(n_groups: int, images: str) -> str:
  return (f"one training run; min-max = 95% CI, bootstrap over {n_groups} "
          f"patient groups ({images})")


def type_notes(metrics: dict) -> dict[str, str]:
  """The notes of the bacterial-vs-viral rows: the images each is on."""
  folders = metrics["types"]["bacterial_vs_viral"]["by_kermany_folder"]
  notes = {}
  for key, folder in _TYPE_FOLDERS.items():
    e = folders[folder]
    notes[key] = _ci_note(
        e["n_patient_groups"], f"{e['n']} test images from {folder}/: "
        f"{e['n_bacterial']} bacterial, {e['n_viral']} viral")
  return notes


def type_dataset_config():
  """chest_xray_small (Kermany only) at 204x204 in patient splits."""
  from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder as builder  # pylint: disable=g-import-not-at-top,line-too-long
  return builder.Builder.builder_configs[TYPE_CONFIG_NAME]


def _type_data(config: config_lib.BenchConfig) -> tuple[str, str]:
  """(dataset, data_dir) of the type entry's build."""
  manual_dir = config.shared_data
  if config.small_per_folder is not None:
    manual_dir = data.small_subset_manual_dir(
        config.shared_data, os.path.join(config.work_dir, "type_manual"),
        per_folder=config.small_per_folder)
  data_dir = os.path.join(config.work_dir, "type_data")
  data.build(manual_dir, data_dir, type_dataset_config())
  return f"pneumonia_xray/{TYPE_CONFIG_NAME}", data_dir


def _train_and_evaluate(model_dir: str, dataset: str, data_dir: str,
                        model_name: str, target: str,
                        config: config_lib.BenchConfig):
  """(history, metrics.json dict, wall seconds) of train + evaluate."""
  # pylint: disable=g-import-not-at-top
  from trainer import config as trainer_config
  from trainer import evaluate
  from trainer import train
  # pylint: enable=g-import-not-at-top

  shutil.rmtree(model_dir, ignore_errors=True)
  train_config = trainer_config.TrainConfig(
      model_dir=model_dir, dataset=dataset, data_dir=data_dir,
      model=model_name, image_size=config.train_image_size, target=target,
      epochs=config.quality_epochs)
  start = time.perf_counter()
  history = train.run(train_config)
  metrics = evaluate.evaluate(model_dir, data_dir=data_dir, split="test",
                              gradcam=False)
  return history, metrics, time.perf_counter() - start


def evaluate_model(model_name: str, config: config_lib.BenchConfig,
                   small: data.SmallBuild) -> tuple[dict, dict]:
  """Trains one model, evaluates it; returns (figures, metrics.json dict)."""
  data_dir, _ = small.get()
  history, metrics, seconds = _train_and_evaluate(
      os.path.join(config.work_dir, "quality", model_name), small.dataset,
      data_dir, model_name, "label", config)
  figures = figures_from_metrics(metrics)
  figures["epochs"] = (float(len(history.epoch)), None)
  figures["wall_seconds"] = (seconds, None)
  return figures, metrics


def evaluate_type_model(config: config_lib.BenchConfig) -> tuple[dict, dict]:
  """Trains small_resnet on the types, evaluates it; (figures, metrics)."""
  dataset, data_dir = _type_data(config)
  _, metrics, seconds = _train_and_evaluate(
      os.path.join(config.work_dir, "quality", TYPE_ENTRY), dataset,
      data_dir, TYPE_MODEL, "pneumonia_type", config)
  figures = type_figures_from_metrics(metrics)
  figures["wall_seconds"] = (seconds, None)
  return figures, metrics


def measured_rows(entry: str, figures: dict, metrics: dict,
                  notes: dict[str, str]) -> list[report.Row]:
  """The entry's rows from its figures; a figure that is undefined
  (metrics.json's null, e.g. an AUC on images of one type) is a failed row
  that says so."""
  ci_note = _ci_note(metrics["n_patient_groups"],
                     f"{metrics['n_examples']} test images")
  rows = []
  for key, spec in entry_specs(entry).items():
    value, interval = figures[key]
    note = notes.get(key, ci_note)
    if value is None:
      rows.append(spec.missing(report.FAILED, f"undefined; {note}"))
    elif interval is None or None in interval:
      rows.append(spec.measured(stats.Stat.of([value]), "one training run"))
    else:
      rows.append(spec.measured(
          stats.Stat(value, interval[0], interval[1], (value,)), note))
  return rows


def _entry_rows(entry: str, config: config_lib.BenchConfig,
                small: data.SmallBuild) -> list[report.Row]:
  specs = entry_specs(entry).values()
  if entry not in config.quality_models:
    return [s.missing(report.NOT_RUN, "not in --quality_models")
            for s in specs]
  try:
    if entry == TYPE_ENTRY:
      figures, metrics = evaluate_type_model(config)
      notes = type_notes(metrics)
    else:
      figures, metrics = evaluate_model(entry, config, small)
      notes = {}
  except Exception as e:  # pylint: disable=broad-except
    # One entry failing (hours in) must not cost the others' rows.
    traceback.print_exc(file=sys.stderr)
    return [s.missing(report.FAILED, f"{type(e).__name__}: {e}")
            for s in specs]
  return measured_rows(entry, figures, metrics, notes)


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  return [row for entry in ENTRIES
          for row in _entry_rows(entry, config, small)]
