"""metrics.json and report.md: the evaluation's numbers, and one page of them.

The report is rendered from the very dict written to metrics.json, after the
same rounding, so every number on the page is the number in the file (to
its last printed digit). Metric values are rounded to DECIMALS places: more
digits than any interval here can support. Thresholds are kept exact in the
file (a rounded threshold calls different images) and print to four
significant digits.
"""

import math
from typing import Any, Mapping, Optional, Sequence

from trainer import storage

DECIMALS = 4
METRICS_FILENAME = "metrics.json"
REPORT_FILENAME = "report.md"
# Keys whose float values are thresholds or temperatures: kept exact.
_EXACT_KEYS = frozenset({"threshold", "temperature"})
_METRIC_LABELS = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC (average precision)",
    "accuracy": "accuracy", "f1": "F1", "sensitivity": "sensitivity (recall)",
    "specificity": "specificity", "ppv": "PPV (precision)", "npv": "NPV",
}
# Figures in page order: key -> caption.
FIGURES = (
    ("roc", "ROC curve; the dot is the chosen operating point."),
    ("pr", "Precision-recall curve."),
    ("threshold_curves", "Sensitivity and false positive rate against the "
     "threshold (dotted: the fixed thresholds; dashed: the chosen one)."),
    ("confusion", "Confusion matrices at the fixed and the chosen thresholds."),
    ("confusion_types", "Confusion matrix of the pneumonia types (arg max)."),
    ("reliability", "Reliability diagram: observed fraction with pneumonia "
     "against the mean predicted probability per bin, for the calibrated "
     "scores and the raw model output."),
    ("training_curves", "Training history (per epoch)."),
    ("examples", "Examples with their P(pneumonia) and Grad-CAM heat maps of "
     "the class each is called: true/false positives/negatives at the "
     "chosen threshold, the most confident of each kind."),
)


def json_ready(value: Any, key: Optional[str] = None) -> Any:
  """Plain JSON values: numpy -> Python, NaN/inf -> None, floats rounded to
  DECIMALS except under threshold keys."""
  if isinstance(value, Mapping):
    return {str(k): json_ready(v, str(k)) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_ready(v, key) for v in value]
  if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
    return json_ready(value.tolist(), key)  # numpy scalars and arrays
  if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
    return value
  if isinstance(value, float):
    if not math.isfinite(value):
      return None
    return value if key in _EXACT_KEYS else round(value, DECIMALS)
  raise TypeError(f"cannot write {type(value).__name__} ({value!r}) to JSON")


def write_metrics(metrics: Mapping[str, Any], output_dir: str) -> dict:
  """Writes metrics.json; returns the dict as written (what the report uses)."""
  ready = json_ready(metrics)
  # In report order (e.g. pneumonia types in label order), not sorted.
  storage.write_json(storage.join(output_dir, METRICS_FILENAME), ready,
                     sort_keys=False)
  return ready


def number(value: Any) -> str:
  """A metric as printed: 4 decimals, ints as they are, None as n/a."""
  if value is None:
    return "n/a"
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, int):
    return str(value)
  return f"{value:.{DECIMALS}f}"


def threshold_text(value: Optional[float]) -> str:
  return "n/a" if value is None else f"{float(value):.4g}"


def interval(entry: Mapping[str, Any]) -> str:
  if entry.get("ci_low") is None or entry.get("ci_high") is None:
    return "n/a"
  return f"{number(entry['ci_low'])} to {number(entry['ci_high'])}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  lines = ["| " + " | ".join(header) + " |",
           "| " + " | ".join("---" for _ in header) + " |"]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return lines


def _metric_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
  return [[name, _METRIC_LABELS.get(name, name), number(entry["value"]),
           interval(entry)] for name, entry in metrics.items()]


def _subgroup_table(groups: Mapping[str, Mapping[str, Any]],
                    names: Sequence[str], percent: str) -> list[str]:
  header = ["group", "images", "pneumonia", "patient groups"]
  header += [f"{name} ({percent} CI)" for name in names]
  rows = []
  for group, entry in groups.items():
    row = [group or "(none)", number(entry["n"]), number(entry["n_positive"]),
           number(entry["n_patient_groups"])]
    for name in names:
      value = entry["metrics"][name]
      row.append(f"{number(value['value'])} ({interval(value)})")
    rows.append(row)
  return table(header, rows)


def _percent(bootstrap_info: Mapping[str, Any]) -> str:
  return f"{bootstrap_info['confidence'] * 100:g}%"


def _threshold_section(m: Mapping[str, Any]) -> list[str]:
  t = m["threshold"]
  how = {"youden": "maximum Youden's J (sensitivity + specificity - 1)",
         "sensitivity": f"highest threshold reaching sensitivity "
                        f"{number(t.get('target_sensitivity'))}",
         "cost": f"minimum cost with a false negative costing "
                 f"{number(t.get('cost_fn'))} and a false positive "
                 f"{number(t.get('cost_fp'))}"}.get(t["method"], t["method"])
  return [
      "## Operating threshold", "",
      f"P(pneumonia) >= **{threshold_text(t['threshold'])}** is called "
      f"pneumonia: {how}, chosen on the **{t['split']}** split "
      f"({number(t['n'])} images, {number(t['n_positive'])} with pneumonia), "
      f"where it gives sensitivity {number(t['sensitivity'])}"
      f"{_ci_text(t.get('sensitivity_ci'))} and specificity "
      f"{number(t['specificity'])}{_ci_text(t.get('specificity_ci'))}"
      f"{_scores_text(t.get('temperature'))}. The split reported here was "
      "not used to choose it.", ""]


def _ci_text(bounds: Optional[Sequence[float]]) -> str:
  if not bounds:
    return ""
  return f" (interval {number(bounds[0])} to {number(bounds[1])})"


def _scores_text(temperature: Optional[float]) -> str:
  if temperature is None:
    return ", on the model's raw scores"
  return (f", on scores calibrated with temperature "
          f"{threshold_text(temperature)}")


_SHIFT_CAUSES = (
    "The images here differ from those the threshold was chosen on in a "
    "way the model notices. Likely causes: another period, site or scanner, "
    "or another pixel path (how an image reached its size and codec, e.g. "
    "an original film against a downscaled, re-encoded copy). Remedy: "
    "choose the threshold again on labelled images from where the model is "
    "used (`python -m trainer.choose_threshold --model_dir=... "
    "--images=FOLDER_OR_CSV`), which keeps the calibration and records "
    "where the threshold came from.")


def shift_lines(m: Mapping[str, Any]) -> list[str]:
  """A plain-words paragraph when sensitivity or specificity here fall
  outside the choosing split's interval; nothing otherwise."""
  found = m.get("shift") or {}
  if not found.get("shifted"):
    return []
  t = m["threshold"]
  parts = []
  for name, rate in found["rates"].items():
    if rate["side"]:
      low, high = rate["reference_ci"]
      parts.append(f"{name} {number(rate['value'])} is {rate['side']} the "
                   f"interval {number(low)} to {number(high)} that "
                   f"{t['split']} gave")
  return ["**The operating point did not carry over.** At this threshold, "
          + "; ".join(parts) + ". " + _SHIFT_CAUSES, ""]


def calibration_lines(c: Mapping[str, Any]) -> list[str]:
  """The calibration section: the temperature, and before/after figures."""
  lines = ["## Calibration", ""]
  fitted = c.get("fitted")
  if fitted:
    lines += [
        f"Scores are temperature-scaled: the model's logits divided by "
        f"**T = {threshold_text(fitted['temperature'])}**, fitted on the "
        f"{fitted['split']} split ({number(fitted['n'])} images; mean "
        f"negative log-likelihood {number(fitted['nll_before'])} raw, "
        f"{number(fitted['nll_after'])} scaled). One number cannot reorder "
        "two images: AUCs and the images a threshold calls are unchanged.",
        ""]
    lines += table(["scores", "ECE", "Brier score"],
                    [["raw model output", number(c["raw"]["ece"]),
                      number(c["raw"]["brier"])],
                     ["calibrated (reported)", number(c["ece"]),
                      number(c["brier"])]])
    lines += ["", f"ECE: expected calibration error over "
              f"{number(c['n_bins'])} equal-width bins.", ""]
  else:
    lines += [f"Raw model outputs (no calibration fitted): Brier score "
              f"{number(c['brier'])}; expected calibration error "
              f"{number(c['ece'])} ({number(c['n_bins'])} equal-width "
              "bins).", ""]
  return lines


def markdown(m: Mapping[str, Any], figures: Mapping[str, str]) -> str:
  """The report page for a metrics dict as returned by `write_metrics`.

  Args:
    m: the metrics dict (json_ready).
    figures: figure key (see FIGURES) -> path relative to the report.
  """
  b = m["bootstrap"]
  lines = [
      f"# Evaluation: {m['model']} on {m['dataset']} ({m['split']})", "",
      f"Model `{m['model_dir']}` (target `{m['target']}`, classes "
      f"{', '.join(m['class_names'])}), evaluated on the **{m['split']}** "
      f"split: {number(m['n_examples'])} images, {number(m['n_positive'])} "
      f"with pneumonia, {number(m['n_negative'])} normal, from "
      f"{number(m['n_patient_groups'])} patient groups.", "",
      "Not for diagnosis: public research collections with known biases; a "
      "model can learn which collection an image came from (see the "
      "per-source and per-view tables).", ""]
  lines += _threshold_section(m)
  lines += [
      "## Metrics", "",
      f"At the operating threshold; intervals are {_percent(b)} percentile "
      f"bootstrap intervals over {number(b['n_resamples'])} resamples of "
      f"{b['unit']} (whole patients, not images).", ""]
  lines += table(["key", "metric", "value", f"{_percent(b)} CI"],
                  _metric_rows(m["overall"]))
  lines += [""] + shift_lines(m)
  lines += calibration_lines(m["calibration"])
  lines += ["## Confusion matrices", "",
            "Rows of [[TN, FP], [FN, TP]] at each threshold.", ""]
  lines += table(
      ["threshold", "TN", "FP", "FN", "TP", "sensitivity", "specificity"],
      [[f"{threshold_text(e['threshold'])}"
        + (" (chosen)" if e["name"] == "chosen" else ""),
        number(e["tn"]), number(e["fp"]), number(e["fn"]), number(e["tp"]),
        number(e["sensitivity"]), number(e["specificity"])]
       for e in m["confusion_matrices"]])
  shortcut = ["roc_auc", "sensitivity", "specificity"]
  lines += ["", "## By source collection", "",
            "A model that tells collections apart can score well without "
            "seeing pneumonia; compare within each collection.", ""]
  lines += _subgroup_table(m["by_source"], shortcut, _percent(b))
  lines += ["", "## By view", ""]
  lines += _subgroup_table(m["by_view"], shortcut, _percent(b))
  lines += ["", "## By pneumonia type", "",
            "Fraction of each type called pneumonia at the threshold "
            "(sensitivity within a type; for normal, 1 - specificity).", ""]
  lines += table(["type", "images", "called pneumonia", "fraction"],
                  [[name, number(e["n"]), number(e["called_positive"]),
                    number(e["fraction_called_positive"])]
                   for name, e in m["by_pneumonia_type"].items()])
  if m.get("multiclass"):
    mc = m["multiclass"]
    lines += ["", "## Pneumonia type (multi-class)", "",
              f"Accuracy {number(mc['accuracy'])}, balanced accuracy "
              f"{number(mc['balanced_accuracy'])}, macro one-vs-rest ROC AUC "
              f"{number(mc['macro_roc_auc_ovr'])}, macro precision "
              f"{number(mc['macro_precision'])}, macro recall "
              f"{number(mc['macro_recall'])}, macro F1 "
              f"{number(mc['macro_f1'])}.", ""]
    lines += table(["class", "support", "one-vs-rest ROC AUC", "precision",
                     "recall", "F1"],
                    [[name, number(e["support"]), number(e["roc_auc_ovr"]),
                      number(e["precision"]), number(e["recall"]),
                      number(e["f1"])]
                     for name, e in mc["per_class"].items()])
    lines += ["", "Confusion matrix (rows true, columns called):", ""]
    lines += table([""] + list(m["class_names"]),
                    [[name] + [number(v) for v in row] for name, row in
                     zip(m["class_names"], mc["confusion_matrix"])])
  if m.get("types"):
    # Imported here: type_metrics formats its numbers with this module.
    from trainer import type_metrics  # pylint: disable=g-import-not-at-top
    lines += [""] + type_metrics.markdown_lines(m["types"], _percent(b))
  lines += ["", "## Figures", ""]
  for key, caption in FIGURES:
    if key in figures:
      lines += [f"![{key}]({figures[key]})", "", f"*{caption}*", ""]
  return "\n".join(lines).rstrip() + "\n"


def write_markdown(m: Mapping[str, Any], figures: Mapping[str, str],
                   output_dir: str) -> str:
  return storage.write_text(storage.join(output_dir, REPORT_FILENAME),
                            markdown(m, figures))
