"""type_metrics: values against scikit-learn, patient resampling, folders."""

import math
import os

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from pneumonia_tfds import labels
from pneumonia_tfds import merge
from pneumonia_tfds.datasets.pneumonia_xray import (
    pneumonia_xray_dataset_builder)
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import kermany
from pneumonia_tfds.sources import records
from trainer import metrics
from trainer import report
from trainer import type_metrics

NAMES = labels.PNEUMONIA_TYPES
BACTERIAL, VIRAL = NAMES.index("bacterial"), NAMES.index("viral")
FOLDER_VALUES = ("train", "val", "test", "")


def _synthetic(n_patients: int = 80, seed: int = 0,
               types: tuple[int, ...] = (0, 1, 2, 3)) -> dict:
  """Patients of 1-3 images, each patient one type and one folder; the
  true type's logit raised so that the figures are neither 0.5 nor 1."""
  rng = np.random.default_rng(seed)
  columns = {"pneumonia_type": [], "logits": [], "patient_group": [],
             "folder": []}
  for patient in range(n_patients):
    kind = int(rng.choice(types))
    place = str(rng.choice(FOLDER_VALUES))
    for _ in range(int(rng.integers(1, 4))):
      logits = rng.normal(size=len(NAMES))
      logits[kind] += 1.5
      columns["pneumonia_type"].append(kind)
      columns["logits"].append(logits)
      columns["patient_group"].append(f"kermany:person{patient}")
      columns["folder"].append(place)
  logits = np.asarray(columns.pop("logits"))
  probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  return {"pneumonia_type": np.asarray(columns["pneumonia_type"]),
          "probabilities": probabilities,
          "patient_group": np.asarray(columns["patient_group"]),
          "folder": np.asarray(columns["folder"])}


def _run(data: dict, n_resamples: int = 100, **kwargs) -> dict:
  return type_metrics.type_metrics(
      data["pneumonia_type"], data["probabilities"], NAMES,
      data["patient_group"], data["folder"], n_resamples=n_resamples,
      confidence=0.95, seed=kwargs.pop("seed", 0), **kwargs)


def _intervals(result: dict) -> list[dict]:
  """Every interval entry of a type_metrics dict."""
  found = [result["macro_roc_auc_ovr"]]
  for entry in result["per_class"].values():
    found += [entry[m] for m in type_metrics.PER_CLASS_METRICS]
  bv = result["bacterial_vs_viral"]
  found += [e["roc_auc"] for e in [bv["overall"],
                                   *bv["by_kermany_folder"].values()]]
  return found


def _viral_score(p: np.ndarray) -> np.ndarray:
  return p[:, VIRAL] / (p[:, BACTERIAL] + p[:, VIRAL])


def test_point_estimates_equal_sklearn():
  data = _synthetic()
  y, p = data["pneumonia_type"], data["probabilities"]
  result = _run(data, n_resamples=0)
  called = p.argmax(axis=1)
  assert list(result["per_class"]) == [NAMES[c] for c in range(4)]
  assert result["absent_classes"] == ["fungal", "other"]
  for c in range(4):
    got = result["per_class"][NAMES[c]]
    assert got["roc_auc_ovr"]["value"] == pytest.approx(
        sk_metrics.roc_auc_score(y == c, p[:, c]), abs=1e-12)
    assert got["recall"]["value"] == pytest.approx(sk_metrics.recall_score(
        y, called, labels=[c], average=None, zero_division=np.nan)[0])
    assert got["precision"]["value"] == pytest.approx(
        sk_metrics.precision_score(y, called, labels=[c], average=None,
                                   zero_division=np.nan)[0])
    assert got["support"] == int(np.sum(y == c))
    assert got["n_patient_groups"] == len(set(data["patient_group"][y == c]))
  multiclass = metrics.multiclass_metrics(y, p, NAMES)
  assert result["macro_roc_auc_ovr"]["value"] == pytest.approx(
      multiclass["macro_roc_auc_ovr"], abs=1e-12)
  pneumonia = np.isin(y, (BACTERIAL, VIRAL))
  overall = result["bacterial_vs_viral"]["overall"]
  assert overall["roc_auc"]["value"] == pytest.approx(sk_metrics.roc_auc_score(
      y[pneumonia] == VIRAL, _viral_score(p[pneumonia])), abs=1e-12)
  assert (overall["n_bacterial"], overall["n_viral"]) == (
      int(np.sum(y == BACTERIAL)), int(np.sum(y == VIRAL)))


def test_intervals_contain_the_point_estimate():
  result = _run(_synthetic(n_patients=120, seed=3), n_resamples=200)
  checked = 0
  for entry in _intervals(result):
    if entry["n_resamples"] and not math.isnan(entry["ci_low"]):
      assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], entry
      checked += 1
  assert checked >= 14  # 4 classes x 3, the macro AUC, bacterial-vs-viral


def test_absent_classes_and_undefined_figures_are_nan_not_errors():
  data = _synthetic(types=(0, BACTERIAL))  # no viral image at all
  result = _run(data)
  assert "viral" not in result["per_class"]
  assert "viral" in result["absent_classes"]
  overall = result["bacterial_vs_viral"]["overall"]
  assert overall["n_viral"] == 0 and math.isnan(overall["roc_auc"]["value"])
  assert math.isnan(overall["roc_auc"]["ci_low"])
  # One type only: no one-vs-rest AUC, but recall is defined.
  only = _synthetic(types=(BACTERIAL,))
  result = _run(only)
  assert math.isnan(result["per_class"]["bacterial"]["roc_auc_ovr"]["value"])
  assert math.isnan(result["macro_roc_auc_ovr"]["value"])
  assert 0 <= result["per_class"]["bacterial"]["recall"]["value"] <= 1
  ready = report.json_ready(result)
  assert ready["per_class"]["bacterial"]["roc_auc_ovr"]["value"] is None
  text = "\n".join(type_metrics.markdown_lines(ready, "95%"))
  assert "n/a" in text


def test_an_empty_folder_is_nan_not_an_error():
  data = _synthetic()
  data["folder"] = np.where(data["folder"] == "val", "train", data["folder"])
  val = _run(data)["bacterial_vs_viral"]["by_kermany_folder"]["val"]
  assert val["n"] == 0 and val["n_patient_groups"] == 0
  assert math.isnan(val["roc_auc"]["value"])


def test_bootstrap_resamples_whole_patient_groups():
  data = _synthetic(n_patients=60, seed=1)
  twice = {key: np.repeat(value, 2, axis=0) for key, value in data.items()}
  by_patient = _run(data, n_resamples=100)
  # Each image twice in its own patient group: the unit (and its count) is
  # the same, every draw holds the same patients, so every figure and every
  # interval is unchanged.
  same_unit = _run(twice, n_resamples=100)
  assert same_unit["n_examples"] == 2 * by_patient["n_examples"]
  assert same_unit["n_patient_groups"] == by_patient["n_patient_groups"]
  for got, expected in zip(_intervals(same_unit), _intervals(by_patient)):
    np.testing.assert_equal(got, expected)
  # The same images with each copy its own unit: twice the units, and
  # intervals that claim more certainty than the patients support.
  per_image = dict(twice, patient_group=np.asarray(
      [f"image{i}" for i in range(twice["patient_group"].size)]))
  narrow = _run(per_image, n_resamples=100)
  assert narrow["n_patient_groups"] == 2 * by_patient["n_examples"]
  width = lambda e: e["ci_high"] - e["ci_low"]
  assert width(narrow["macro_roc_auc_ovr"]) < width(
      by_patient["macro_roc_auc_ovr"])
  assert (narrow["bacterial_vs_viral"]["overall"]["roc_auc"]["value"] ==
          by_patient["bacterial_vs_viral"]["overall"]["roc_auc"]["value"])


def test_folder_figures_use_only_that_folders_images():
  data = _synthetic(n_patients=150, seed=2, types=(BACTERIAL, VIRAL))
  y, p, folder = data["pneumonia_type"], data["probabilities"], data["folder"]
  # In test/ the types separate perfectly, as in Kermany's test folder.
  in_test = folder == "test"
  p = p.copy()
  p[in_test, VIRAL] = np.where(y[in_test] == VIRAL, 0.6, 0.1)
  p[in_test, BACTERIAL] = np.where(y[in_test] == VIRAL, 0.1, 0.6)
  data["probabilities"] = p
  result = _run(data)["bacterial_vs_viral"]["by_kermany_folder"]
  assert list(result) == ["train", "val", "test", "other"]
  assert result["test"]["roc_auc"]["value"] == 1.0
  for name, value in (("train", "train"), ("test", "test"), ("other", "")):
    mask = folder == value
    assert result[name]["n"] == int(mask.sum())
    assert result[name]["n_patient_groups"] == len(
        set(data["patient_group"][mask]))
    assert result[name]["roc_auc"]["value"] == pytest.approx(
        sk_metrics.roc_auc_score(y[mask] == VIRAL, _viral_score(p[mask])),
        abs=1e-12)
  assert result["train"]["roc_auc"]["value"] < 1.0
  # Scores outside test/ do not move test/'s figure or its interval.
  shuffled = dict(data, probabilities=p.copy())
  rest = ~in_test
  shuffled["probabilities"][rest] = np.random.default_rng(9).permutation(
      p[rest])
  again = _run(shuffled)["bacterial_vs_viral"]["by_kermany_folder"]
  assert again["test"] == result["test"]
  assert again["train"] != result["train"]


def test_bacterial_vs_viral_ignores_the_other_types_mass():
  data = _synthetic(seed=4, types=(BACTERIAL, VIRAL))
  p = data["probabilities"]
  # Move a random share of each image's mass onto "normal", keeping the
  # bacterial:viral ratio: P(viral) alone would rank the images anew.
  share = np.random.default_rng(5).uniform(0.05, 0.95, size=p.shape[0])
  moved = p * (1 - share)[:, None]
  moved[:, NAMES.index("normal")] += share
  before = _run(data, n_resamples=50)["bacterial_vs_viral"]["overall"]
  after = _run(dict(data, probabilities=moved),
               n_resamples=50)["bacterial_vs_viral"]["overall"]
  assert after["roc_auc"]["value"] == pytest.approx(before["roc_auc"]["value"],
                                                    abs=1e-12)
  y = data["pneumonia_type"] == VIRAL
  assert sk_metrics.roc_auc_score(y, moved[:, VIRAL]) != pytest.approx(
      before["roc_auc"]["value"], abs=1e-3)


def test_viral_score_when_both_probabilities_are_zero():
  p = np.zeros((2, len(NAMES)))
  p[:, 0] = 1.0
  p[1, VIRAL], p[1, 0] = 0.5, 0.5
  np.testing.assert_array_equal(
      type_metrics.viral_score(p, BACTERIAL, VIRAL), [0.5, 1.0])


def test_bad_inputs_raise():
  data = _synthetic()
  with pytest.raises(ValueError, match="shape"):
    type_metrics.type_metrics(
        data["pneumonia_type"], data["probabilities"][:, :3], NAMES,
        data["patient_group"], data["folder"])
  with pytest.raises(ValueError, match="folder"):
    type_metrics.type_metrics(
        data["pneumonia_type"], data["probabilities"], NAMES,
        data["patient_group"], np.full(data["folder"].size, "validation"))
  with pytest.raises(ValueError, match="viral"):
    type_metrics.type_metrics([0, 1], [[0.4, 0.6], [0.5, 0.5]],
                              ("normal", "pneumonia"), ["a", "b"], ["", ""])


def test_markdown_section_renders_the_json_ready_dict():
  result = report.json_ready(_run(_synthetic(), n_resamples=50))
  lines = type_metrics.markdown_lines(result, "95%")
  text = "\n".join(lines)
  assert lines[0] == "## Pneumonia types with intervals"
  assert "Not among these images: fungal, other." in text
  for name in ("normal", "bacterial", "viral", "covid19"):
    assert f"| {name} | {result['per_class'][name]['support']} |" in text
  test_row = result["bacterial_vs_viral"]["by_kermany_folder"]["test"]
  assert (f"| Kermany `test/` | {test_row['n']} | {test_row['n_bacterial']} "
          f"| {test_row['n_viral']} |") in text
  assert "not comparable to the `train/` folder" in text
  assert report.interval(result["macro_roc_auc_ovr"]) in text


def _walked(root: str, manual_dir: str) -> dict[str, str]:
  """Every file under root as the builder names it (relative to
  manual_dir), and the folder right under root that holds it."""
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      path = os.path.join(folder, name)
      top = os.path.relpath(path, root).split(os.sep)[0]
      found[records.relative(path, manual_dir)] = top
  return found


@pytest.mark.parametrize("kermany_folder", ["chest_xray", "chest_xray_small"])
def test_kermany_folder_of_every_real_kermany_file(shared_data, kermany_folder):
  manual_dir = os.fspath(shared_data)
  root = kermany.find_root(manual_dir, kermany_folder)
  walked = _walked(root, manual_dir)
  # The walk names files exactly as the reader does (file_name's source).
  read = {r.path for r in kermany.read_records(root, manual_dir)
          if r.skip_reason is None}
  assert read == set(walked)
  assert {type_metrics.kermany_folder(path) for path in walked} == (
      {"train", "val", "test"} if kermany_folder == "chest_xray"
      else {"train", "test"})
  for path, folder in walked.items():
    assert type_metrics.kermany_folder(path) == folder, path


def test_kermany_folder_is_empty_for_other_sources(shared_data):
  manual_dir = os.fspath(shared_data)
  images = os.path.join(ieee8023.find_root(manual_dir), ieee8023.IMAGE_FOLDER)
  walked = _walked(images, manual_dir)
  assert len(walked) > 100
  read = {r.path for r in ieee8023.read_records(ieee8023.find_root(manual_dir),
                                                manual_dir) if r.path}
  corona = {r.path for r in coronahack.read_records(
      coronahack.find_root(manual_dir), manual_dir) if r.path}
  assert corona
  for path in set(walked) | read | corona:
    assert type_metrics.kermany_folder(path) == "", path


def test_kermany_folder_reads_the_path_from_its_end():
  assert type_metrics.kermany_folder(
      "chest_xray/test/PNEUMONIA/person1_virus_6.jpeg") == "test"
  # Built from the download folder: more components in front.
  assert type_metrics.kermany_folder(
      "extracted/ZIP.abc/chest_xray/val/NORMAL/NORMAL2-IM-1427-0001.jpeg"
  ) == "val"
  for other in ("", "x.jpeg", "chest_xray/train/x.jpeg",
                "chest_xray/train/OTHER/x.jpeg",
                "coronahack/Coronahack-Chest-XRay-Dataset/train/x.jpeg"):
    assert type_metrics.kermany_folder(other) == "", other


def test_kermany_copy_names_the_example():
  # CoronaHack re-distributes Kermany's files: the same bytes from both.
  name = "person1_virus_6.jpeg"
  copies = [
      records.SourceRecord(
          source=coronahack.NAME,
          path=f"coronahack/{coronahack.IMAGE_FOLDER}/train/{name}",
          key_path=f"{coronahack.IMAGE_FOLDER}/train/{name}",
          finding=labels.VIRAL, finding_text="Pnemonia/Virus/"),
      records.SourceRecord(
          source=kermany.NAME, path=f"chest_xray/test/PNEUMONIA/{name}",
          key_path=f"test/PNEUMONIA/{name}", finding=labels.VIRAL,
          finding_text="PNEUMONIA", source_split="test"),
  ]
  merged = merge.merge(
      copies, pneumonia_xray_dataset_builder.SOURCE_NAMES,
      digests={c.path: "same" for c in copies})
  assert len(merged) == 1
  assert type_metrics.kermany_folder(merged[0].canonical.path) == "test"
