"""Pneumonia-type figures with patient-bootstrap intervals, and their report.

For a model trained with --target=pneumonia_type (a softmax over the types):
per-class one-vs-rest figures, and bacterial against viral pneumonia, split
by the Kermany folder each image came from. Kermany's `test/` folder
separates the two types almost perfectly (an artefact of that folder), so its
figure is reported apart from that of `train/`. Pure NumPy/scikit-learn;
intervals come from `bootstrap` (whole patient groups); undefined figures
are NaN.
"""

from typing import Any, Mapping, Sequence

import numpy as np
from sklearn import metrics as sk_metrics

from pneumonia_tfds import labels
from pneumonia_tfds.sources import kermany
from trainer import bootstrap
from trainer import metrics
from trainer import report

BACTERIAL = "bacterial"
VIRAL = "viral"
OTHER_FOLDER = "other"
# Kermany's own folder names (kermany.SPLIT_FOLDERS), then OTHER_FOLDER for
# images of other sources, in report order.
FOLDERS = tuple(kermany.SPLIT_FOLDERS) + (OTHER_FOLDER,)
PER_CLASS_METRICS = ("roc_auc_ovr", "recall", "precision")
_FOLDER_WORDS = {"train": "Kermany `train/`", "val": "Kermany `val/`",
                 "test": "Kermany `test/`", OTHER_FOLDER: "other sources"}


def kermany_folder(file_name: str) -> str:
  """The Kermany folder ("train", "val", "test") of an example, or "".

  `file_name` is the example's canonical copy's path relative to manual_dir
  (plan._features). The Kermany reader lists only
  <kermany_folder>/{train,val,test}/{NORMAL,PNEUMONIA}/<image>, so the folder
  is the third component from the end; reading from the end also covers
  builds from the download folder, whose paths have more components in
  front. Other sources' paths never end in a split folder and a class folder
  (ieee8023: images/<image>; CoronaHack: .../{train,test}/<image>). A Kermany
  copy is the canonical one whenever an image has one (merge puts labelled
  copies first, then by source priority, Kermany first; Kermany copies are
  always labelled), so no image read from Kermany's folders is missed.
  """
  parts = file_name.split("/")
  if (len(parts) >= 3 and parts[-3] in kermany.SPLIT_FOLDERS and
      parts[-2] in labels.KERMANY_CLASS_FOLDERS):
    return parts[-3]
  return ""


def _undefined() -> dict[str, float]:
  return {"value": float("nan"), "ci_low": float("nan"),
          "ci_high": float("nan"), "n_resamples": 0}


def _class_statistic(types: np.ndarray, probabilities: np.ndarray,
                     present: Sequence[int], class_names: Sequence[str]):
  """Index array -> per-class AUC, recall, precision and the macro AUC."""
  called = probabilities.argmax(axis=1)
  ids = list(range(len(class_names)))

  def statistic(i: np.ndarray) -> dict[str, float]:
    y, p = types[i], probabilities[i]
    matrix = sk_metrics.confusion_matrix(y, called[i], labels=ids)
    values, aucs = {}, []
    for c in present:
      auc = metrics.roc_auc(y == c, p[:, c])
      if not np.isnan(auc):
        aucs.append(auc)
      name = class_names[c]
      values[f"{name}/roc_auc_ovr"] = auc
      values[f"{name}/recall"] = metrics.ratio(matrix[c, c], matrix[c].sum())
      values[f"{name}/precision"] = metrics.ratio(matrix[c, c], matrix[:, c].sum())
    # As metrics.multiclass_metrics: over the classes present in this draw.
    values["macro_roc_auc_ovr"] = float(np.mean(aucs)) if aucs else float(
        "nan")
    return values

  return statistic


def viral_score(probabilities: np.ndarray, bacterial: int,
                viral: int) -> np.ndarray:
  """P(viral) / (P(bacterial) + P(viral)); 0.5 where both are 0."""
  both = probabilities[:, bacterial] + probabilities[:, viral]
  # A float32 softmax can underflow to 0 on both: no evidence either way.
  return np.divide(probabilities[:, viral], both,
                   out=np.full(both.shape, 0.5), where=both > 0)


def _bacterial_vs_viral(is_viral: np.ndarray, score: np.ndarray,
                        groups: np.ndarray, mask: np.ndarray,
                        options: dict) -> dict[str, Any]:
  """Counts and the AUC with its interval on the images under `mask`."""
  y, s, g = is_viral[mask], score[mask], groups[mask]
  entry = {"n": int(mask.sum()), "n_bacterial": int((~y).sum()),
           "n_viral": int(y.sum()), "n_patient_groups": int(np.unique(g).size)}
  if not entry["n"]:
    return {**entry, "roc_auc": _undefined()}
  entry["roc_auc"] = bootstrap.confidence_intervals(
      lambda i: {"roc_auc": metrics.roc_auc(y[i], s[i])}, g,
      **options)["roc_auc"]
  return entry


def _check(types, probabilities, class_names, groups, folders) -> None:
  n, k = types.size, len(class_names)
  if probabilities.shape != (n, k):
    raise ValueError(f"probabilities must have shape ({n}, {k}), got "
                     f"{probabilities.shape}")
  if n and (types.min() < 0 or types.max() >= k):
    raise ValueError(f"pneumonia_type must hold class ids in [0, {k})")
  if groups.shape != (n,) or folders.shape != (n,):
    raise ValueError(f"patient_group and folder must have {n} entries, got "
                     f"{groups.shape[0]} and {folders.shape[0]}")
  unknown = set(folders.tolist()) - set(kermany.SPLIT_FOLDERS) - {""}
  if unknown:
    raise ValueError(f"folder: unknown {sorted(unknown)}; expected values of "
                     "kermany_folder")
  missing = {BACTERIAL, VIRAL} - set(class_names)
  if missing:
    raise ValueError(f"class_names {list(class_names)} lack {sorted(missing)}")


def type_metrics(pneumonia_type, probabilities, class_names: Sequence[str],
                 patient_group: Sequence, folder: Sequence[str], *,
                 n_resamples: int = bootstrap.DEFAULT_RESAMPLES,
                 confidence: float = bootstrap.DEFAULT_CONFIDENCE,
                 seed: int = 0) -> dict[str, Any]:
  """Per-class and bacterial-vs-viral figures with patient-bootstrap CIs.

  Bacterial against viral is ranked by P(viral) / (P(bacterial) + P(viral)):
  the model's probability of viral given that the image is one of the two.
  It ignores the mass the softmax puts on normal, covid19 and the rest, so
  an image's certainty of being pneumonia at all does not move its rank;
  only how the model splits the pneumonia between the two types does.

  Args:
    pneumonia_type: true class ids, shape (N,), in class_names order.
    probabilities: softmax outputs, shape (N, K).
    class_names: K names (labels.PNEUMONIA_TYPES for a type model).
    patient_group: each image's resampling unit (whole patient groups).
    folder: each image's `kermany_folder` ("" for other sources).
    n_resamples: bootstrap resamples; 0 gives point estimates only.
    confidence: interval coverage, e.g. 0.95.
    seed: seed of the resampling.

  Returns:
    {"n_examples", "n_patient_groups", "bootstrap": {unit, n_resamples,
     confidence, seed},
     "macro_roc_auc_ovr": CI,
     "per_class": {name: {"support", "n_patient_groups", "roc_auc_ovr": CI,
                          "recall": CI, "precision": CI}} for the classes
       present in pneumonia_type, in class order,
     "absent_classes": [names],
     "bacterial_vs_viral": {"score": text, "overall": entry,
                            "by_kermany_folder": {train, val, test, other:
                                                  entry}}},
    where CI is bootstrap.confidence_intervals' {"value", "ci_low",
    "ci_high", "n_resamples"} and entry is {"n", "n_bacterial", "n_viral",
    "n_patient_groups", "roc_auc": CI}. Recall and precision are of the
    arg-max call. Undefined figures (one class present, an empty folder)
    are NaN.

  Raises:
    ValueError: inputs of mismatched shapes, unknown folders or class ids,
      class_names without bacterial and viral, or no images.
  """
  types = np.asarray(pneumonia_type).astype(np.int64).ravel()
  probabilities = np.asarray(probabilities, dtype=np.float64)
  groups = np.asarray(patient_group).astype(str)
  folders = np.asarray(folder).astype(str)
  _check(types, probabilities, class_names, groups, folders)
  options = {"n_resamples": n_resamples, "confidence": confidence,
             "seed": seed}
  present = [c for c in range(len(class_names)) if np.any(types == c)]
  intervals = bootstrap.confidence_intervals(
      _class_statistic(types, probabilities, present, class_names), groups,
      **options)
  per_class = {}
  for c in present:
    name = class_names[c]
    per_class[name] = {
        "support": int(np.sum(types == c)),
        "n_patient_groups": int(np.unique(groups[types == c]).size),
        **{m: intervals[f"{name}/{m}"] for m in PER_CLASS_METRICS}}
  bacterial, viral = (list(class_names).index(BACTERIAL),
                      list(class_names).index(VIRAL))
  pneumonia = np.isin(types, (bacterial, viral))
  is_viral, score = types == viral, viral_score(probabilities, bacterial,
                                                viral)
  folder_of = np.where(folders == "", OTHER_FOLDER, folders)
  return {
      "n_examples": int(types.size),
      "n_patient_groups": int(np.unique(groups).size),
      "bootstrap": {"unit": "patient_group", **options},
      "macro_roc_auc_ovr": intervals["macro_roc_auc_ovr"],
      "per_class": per_class,
      "absent_classes": [n for c, n in enumerate(class_names)
                         if c not in present],
      "bacterial_vs_viral": {
          "score": "P(viral) / (P(bacterial) + P(viral))",
          "overall": _bacterial_vs_viral(is_viral, score, groups, pneumonia,
                                         options),
          "by_kermany_folder": {
              name: _bacterial_vs_viral(is_viral, score, groups,
                                        pneumonia & (folder_of == name),
                                        options)
              for name in FOLDERS},
      },
  }


def _with_interval(entry: Mapping[str, Any]) -> str:
  return f"{report.number(entry['value'])} ({report.interval(entry)})"


def _folder_row(words: str, entry: Mapping[str, Any]) -> list[str]:
  return [words, report.number(entry["n"]), report.number(entry["n_bacterial"]),
          report.number(entry["n_viral"]),
          report.number(entry["n_patient_groups"]),
          _with_interval(entry["roc_auc"])]


def markdown_lines(result: Mapping[str, Any], percent: str) -> list[str]:
  """The "## Pneumonia types with intervals" report section for `type_metrics`' dict.

  Args:
    result: type_metrics' dict after report.json_ready (NaN -> None).
    percent: the interval coverage as printed, e.g. "95%".
  """
  b = result["bootstrap"]
  lines = [
      "## Pneumonia types with intervals", "",
      f"One class against the rest; recall and precision of the arg-max "
      f"call. Intervals are {percent} percentile bootstrap intervals over "
      f"{report.number(b['n_resamples'])} resamples of {b['unit']} (whole "
      f"patients, not images). Macro one-vs-rest ROC AUC "
      f"{_with_interval(result['macro_roc_auc_ovr'])}.", ""]
  lines += report.table(
      ["type", "images", "patient groups", f"one-vs-rest ROC AUC ({percent} "
       "CI)", f"recall ({percent} CI)", f"precision ({percent} CI)"],
      [[name, report.number(e["support"]), report.number(e["n_patient_groups"]),
        _with_interval(e["roc_auc_ovr"]), _with_interval(e["recall"]),
        _with_interval(e["precision"])]
       for name, e in result["per_class"].items()])
  if result["absent_classes"]:
    lines += ["", f"Not among these images: "
              f"{', '.join(result['absent_classes'])}."]
  bv = result["bacterial_vs_viral"]
  lines += [
      "", "### Bacterial against viral pneumonia", "",
      f"Images labelled bacterial or viral, ranked by {bv['score']}: how the "
      "model splits pneumonia between the two, whatever it gives the other "
      "types. Kermany's `test/` folder is not a fair sample of this task: "
      "there the two types separate almost perfectly, which says more about "
      "how that folder was put together than about the model. Its figure is "
      "not comparable to the `train/` folder's, so each folder has its own "
      "row; judge the model by the `train/` row.", ""]
  lines += report.table(
      ["images from", "images", "bacterial", "viral", "patient groups",
       f"ROC AUC ({percent} CI)"],
      [_folder_row("all", bv["overall"])] +
      [_folder_row(_FOLDER_WORDS.get(name, name), entry)
       for name, entry in bv["by_kermany_folder"].items()])
  return lines
