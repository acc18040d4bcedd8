"""Helpers of the evaluation, prediction and Grad-CAM tests.

Training is the slow part of those tests, so each (data_dir, target) run is
trained once per test session through the trainer's library entry point and
reused. The report check parses report.md's tables back into numbers.
"""

import os
import pathlib
import re
from typing import Any, Mapping

from tests.trainer import helpers
from trainer import train

IMAGE_SIZE = 64  # small_resnet's last feature map is 2x2 here (1x1 at 32)
_RUNS: dict[tuple[str, str], str] = {}


def trained_run(tmp_path_factory, data_dir: pathlib.Path,
                target: str = "label") -> str:
  """model_dir of a 1-epoch small_resnet run on `data_dir` (gray_96).

  Shared by every test of the session: a test that writes into it (e.g.
  threshold.json) must not assume it was first.
  """
  key = (os.fspath(data_dir), target)
  if key not in _RUNS:
    model_dir = tmp_path_factory.mktemp(f"trained_{target}")
    train.run(helpers.tiny_config(
        data_dir, model_dir, image_size=IMAGE_SIZE, target=target,
        early_stopping_patience=0, reduce_lr_patience=0))
    _RUNS[key] = os.fspath(model_dir)
  return _RUNS[key]


def tables(markdown: str) -> dict[str, list[list[str]]]:
  """Section heading -> rows (cells) of the first table under it."""
  result, section, rows = {}, None, None
  for line in markdown.splitlines():
    if line.startswith("## "):
      section, rows = line[3:].strip(), None
    elif line.startswith("|") and section and section not in result:
      cells = [c.strip() for c in line.strip().strip("|").split("|")]
      if rows is None:
        rows = []  # the header
      elif not all(set(c) <= {"-"} for c in cells):
        rows.append(cells)
    elif rows is not None and section not in result:
      result[section] = rows
  if rows is not None and section not in result:
    result[section] = rows
  return result


def value(cell: str):
  """A printed number back as a number (None for n/a)."""
  cell = cell.replace(" (chosen)", "")
  if cell == "n/a":
    return None
  return float(cell) if re.search(r"[.e]", cell) else int(cell)


def interval(cell: str):
  if cell == "n/a":
    return None, None
  low, high = cell.split(" to ")
  return value(low), value(high)


def assert_report_matches(markdown: str, m: Mapping[str, Any]) -> int:
  """Every table cell of report.md equals its value in metrics.json.

  Returns the number of numbers compared.
  """
  t = tables(markdown)
  checked = 0

  def same(cell: str, expected) -> None:
    nonlocal checked
    assert value(cell) == expected, (cell, expected)
    checked += 1

  for key, _, point, ci in t["Metrics"]:
    entry = m["overall"][key]
    same(point, entry["value"])
    assert interval(ci) == (entry["ci_low"], entry["ci_high"])
  assert len(t["Metrics"]) == len(m["overall"])
  for row, entry in zip(t["Confusion matrices"], m["confusion_matrices"],
                        strict=True):
    # Thresholds print to 4 significant digits (exact in the JSON).
    assert value(row[0]) == float(f"{entry['threshold']:.4g}")
    for cell, key in zip(row[1:], ("tn", "fp", "fn", "tp", "sensitivity",
                                   "specificity")):
      same(cell, entry[key])
  for section, key in (("By source collection", "by_source"),
                       ("By view", "by_view")):
    rows = t[section]
    assert [r[0] for r in rows] == [g or "(none)" for g in m[key]]
    for row, entry in zip(rows, m[key].values()):
      same(row[1], entry["n"])
      same(row[2], entry["n_positive"])
      same(row[3], entry["n_patient_groups"])
      for cell, name in zip(row[4:], ("roc_auc", "sensitivity",
                                      "specificity")):
        point, ci = cell.split(" (", 1)
        same(point, entry["metrics"][name]["value"])
        assert interval(ci[:-1]) == (entry["metrics"][name]["ci_low"],
                                     entry["metrics"][name]["ci_high"])
  for row, (name, entry) in zip(t["By pneumonia type"],
                                m["by_pneumonia_type"].items(), strict=True):
    assert row[0] == name
    same(row[1], entry["n"])
    same(row[2], entry["called_positive"])
    same(row[3], entry["fraction_called_positive"])
  calibration = m["calibration"]
  if calibration["fitted"]:
    raw, calibrated = t["Calibration"]
    assert raw[0] == "raw model output"
    same(raw[1], calibration["raw"]["ece"])
    same(raw[2], calibration["raw"]["brier"])
    same(calibrated[1], calibration["ece"])
    same(calibrated[2], calibration["brier"])
    assert (f"T = {calibration['fitted']['temperature']:.4g}**" in markdown)
  else:
    assert (f"Brier score {calibration['brier']:.4f}; expected calibration "
            f"error {calibration['ece']:.4f}") in markdown
  if "multiclass" in m:
    mc = m["multiclass"]
    for row in t["Pneumonia type (multi-class)"]:
      entry = mc["per_class"][row[0]]
      for cell, key in zip(row[1:], ("support", "roc_auc_ovr", "precision",
                                     "recall", "f1")):
        same(cell, entry[key])
    for key in ("accuracy", "balanced_accuracy", "macro_roc_auc_ovr",
                "macro_f1"):
      assert f"{mc[key]:.4f}" in markdown
  return checked
