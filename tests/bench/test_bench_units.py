"""The benchmark's pure pieces: statistics, the table, the quality rows."""

import json

import numpy as np
import pytest

from bench import config as config_lib
from bench import quality
from bench import report
from bench import run as bench_run
from bench import stats


def test_stat_is_median_and_range():
  stat = stats.Stat.of([3.0, 1.0, 2.0, 10.0])
  assert (stat.median, stat.low, stat.high) == (2.5, 1.0, 10.0)
  with pytest.raises(ValueError):
    stats.Stat.of([])


def test_paired_ratio_pairs_repeats():
  ratio = stats.paired_ratio([10.0, 20.0, 30.0], [5.0, 5.0, 10.0])
  assert ratio.values == (2.0, 4.0, 3.0)
  assert ratio.median == 3.0
  with pytest.raises(ValueError):
    stats.paired_ratio([1.0], [1.0, 2.0])


def test_target_met():
  assert report.Target(">=", 2.5).met(2.5)
  assert not report.Target(">", 1.0).met(1.0)
  assert report.Target("<=", 1.1).met(1.05)
  with pytest.raises(ValueError):
    report.Target("==", 1.0)


def test_rows_render_in_every_format():
  spec = report.Spec("s/ratio", "1 s", "a | b", "x", report.Target(">=", 2))
  rows = [spec.measured(stats.Stat.of([1.0, 3.0]), "note"),
          report.Spec("s/other", "1 s", "other", "MB").missing(
              report.NOT_RUN, "pass --flag")]
  assert rows[0].met is True
  assert rows[1].met is None
  text = report.to_text(rows)
  assert "a | b" in text and "not run" in text
  markdown = report.to_markdown(rows, {"mode": "quick"})
  assert "a \\| b" in markdown
  parsed = json.loads(report.to_json(rows, {"mode": "quick"}))
  assert [r["id"] for r in parsed["rows"]] == ["s/ratio", "s/other"]
  assert parsed["rows"][0]["value"]["median"] == 2.0
  assert parsed["rows"][1]["value"] is None


def test_row_ids_are_unique_and_stable():
  ids = bench_run.expected_row_ids()
  assert len(ids) == len(set(ids))
  sections = {row_id.split("/")[0] for row_id in ids}
  assert sections == {"build", "input", "input_stages", "memory", "train_step",
                      "quality", "scale", "serve", "feed"}


def test_config_rejects_unknown_sections():
  with pytest.raises(ValueError, match="sections"):
    config_lib.BenchConfig("d", "w", "o", sections=("nope",)).validate()


def test_quality_rows_come_from_evaluate_metrics_json():
  overall = {key: {"value": v, "ci_low": v - 0.01, "ci_high": v + 0.01}
             for key, v in (("roc_auc", 0.95), ("sensitivity", 0.97),
                            ("specificity", 0.8))}
  metrics = {"overall": overall, "threshold": {"threshold": 0.9}}
  figures = quality.figures_from_metrics(metrics)
  assert figures["roc_auc"] == (0.95, (0.94, 0.96))
  assert figures["specificity"] == (0.8, (0.79, 0.81))
  assert figures["threshold"] == (0.9, None)
  targets = {spec.id: spec.target for spec in quality.row_specs()}
  assert targets["quality/small_resnet_roc_auc"].bound == 0.96
  assert targets["quality/blog_cnn_roc_auc"] is None


def _type_metrics_json(test_folder_has_viral: bool = True) -> dict:
  """metrics.json's "types" as trainer.type_metrics writes it."""
  from trainer import report as trainer_report
  from trainer import type_metrics

  rng = np.random.default_rng(0)
  types = np.array([1, 2] * 20 + [0] * 10)  # bacterial, viral, normal
  folder = np.array(["train"] * 30 + ["test"] * 10 + ["train"] * 10)
  if not test_folder_has_viral:
    types[30:40] = 1
  probabilities = rng.dirichlet(np.ones(6), size=types.size)
  groups = [f"p{i // 2}" for i in range(types.size)]
  types_dict = type_metrics.type_metrics(
      types, probabilities, ("normal", "bacterial", "viral", "covid19",
                             "fungal", "other"), groups, folder,
      n_resamples=50, confidence=0.95, seed=0)
  return {"types": trainer_report.json_ready(types_dict),
          "n_patient_groups": len(set(groups)), "n_examples": types.size}


def test_quality_type_rows_come_from_metrics_types():
  metrics = _type_metrics_json()
  folders = metrics["types"]["bacterial_vs_viral"]["by_kermany_folder"]
  figures = quality.type_figures_from_metrics(metrics)
  train = folders["train"]["roc_auc"]
  assert figures["bacterial_viral_auc_train_folder"] == (
      train["value"], (train["ci_low"], train["ci_high"]))
  assert figures["bacterial_viral_auc_test_folder"][0] == (
      folders["test"]["roc_auc"]["value"])
  assert figures["macro_roc_auc"][0] == (
      metrics["types"]["macro_roc_auc_ovr"]["value"])
  figures["wall_seconds"] = (12.0, None)
  rows = quality.measured_rows(quality.TYPE_ENTRY, figures, metrics,
                               quality.type_notes(metrics))
  assert [row.id for row in rows] == [
      "quality/small_resnet_type_macro_roc_auc",
      "quality/small_resnet_type_bacterial_viral_auc_train_folder",
      "quality/small_resnet_type_bacterial_viral_auc_test_folder",
      "quality/small_resnet_type_wall_seconds"]
  by_id = {row.id: row for row in rows}
  headline = by_id["quality/small_resnet_type_bacterial_viral_auc_train_folder"]
  assert headline.target == report.Target(">=", 0.85)
  assert headline.value.median == train["value"]
  assert (headline.value.low, headline.value.high) == (train["ci_low"],
                                                       train["ci_high"])
  assert "30 test images from train/" in headline.note
  assert by_id["quality/small_resnet_type_wall_seconds"].value.median == 12.0
  assert all(row.status == report.MEASURED for row in rows)
  # Only bacterial images in test/: the AUC is null, the row says why.
  metrics = _type_metrics_json(test_folder_has_viral=False)
  figures = dict(quality.type_figures_from_metrics(metrics),
                 wall_seconds=(1.0, None))
  rows = quality.measured_rows(quality.TYPE_ENTRY, figures, metrics,
                               quality.type_notes(metrics))
  test_row = rows[2]
  assert test_row.status == report.FAILED and test_row.value is None
  assert "undefined" in test_row.note and "0 viral" in test_row.note


def test_quality_models_pick_entries_without_training():
  ids = [spec.id for spec in quality.row_specs()]
  assert ids[:12] == [f"quality/{model}_{key}"
                      for model in ("small_resnet", "blog_cnn")
                      for key in ("roc_auc", "sensitivity", "specificity",
                                  "threshold", "epochs", "wall_seconds")]
  assert len(ids) == 16 and len(set(ids)) == 16
  config = config_lib.BenchConfig("d", "w", "o", quality=True,
                                  quality_models=()).validate()
  rows = quality.run(config, small=None)
  assert [row.id for row in rows] == ids
  assert {row.status for row in rows} == {report.NOT_RUN}
  with pytest.raises(ValueError, match="quality_models"):
    config_lib.BenchConfig("d", "w", "o", quality_models=("nope",)).validate()
  assert quality.ENTRIES == config_lib.QUALITY_MODELS


def test_scale_plan_names_patients_as_kermany_does():
  import collections

  from bench import scale
  from pneumonia_tfds.sources import kermany

  files = scale.plan_files(2000, originals=432)
  assert len(files) == 2000
  assert files == scale.plan_files(2000, originals=432)  # seeded
  paths = [path for path, *_ in files]
  assert len(set(paths)) == len(paths)
  patients = collections.defaultdict(set)
  folders = collections.defaultdict(set)
  for path, original, fmt, patient in files:
    top, split, cls, name = path.split("/")
    assert (top, split, cls) in {("chest_xray", s, c) for s in ("train", "test")
                                 for c in ("NORMAL", "PNEUMONIA")}
    assert kermany.looks_like_kermany_name(name), name
    assert name.endswith(".png" if fmt == "png" else ".jpeg")
    assert 0 <= original < 432
    patients[kermany.patient_id(name)].add(patient)
    folders[patient].add((split, cls))
  # The reader's patient key is the plan's patient: 1-3 images each, one
  # split and class folder each.
  assert all(len(numbers) == 1 for numbers in patients.values())
  counts = collections.Counter(patient for *_, patient in files)
  assert set(counts.values()) <= {1, 2, 3}
  assert all(len(f) == 1 for f in folders.values())
  assert 0.05 < sum(fmt == "png" for _, _, fmt, _ in files) / 2000 < 0.15


def test_scale_parts_are_whole_patient_prefixes():
  from bench import scale

  files = scale.plan_files(1000, originals=432)
  sizes = scale.part_sizes(files, config_lib.SCALE_FRACTIONS)
  assert sizes["all"] == 1000
  assert 1000 / 16 <= sizes["1/16"] < 1000 / 16 + 3
  assert 1000 / 4 <= sizes["1/4"] < 1000 / 4 + 3
  for size in sizes.values():
    assert size == len(files) or files[size][3] != files[size - 1][3]


def test_scale_synthesis_is_seeded_distinct_and_in_range():
  import io

  from PIL import Image

  from bench import scale

  original = np.random.default_rng(0).integers(0, 256, (300, 240), np.uint8)
  made = [scale.synthesize(original, np.random.default_rng([1, i]), fmt)
          for i, fmt in enumerate(["jpeg"] * 5 + ["png"] * 2)]
  assert made[0] == scale.synthesize(original, np.random.default_rng([1, 0]),
                                     "jpeg")
  assert len(set(made)) == len(made)
  for content, fmt in zip(made, ["JPEG"] * 5 + ["PNG"] * 2):
    image = Image.open(io.BytesIO(content))
    assert image.format == fmt and image.mode == "L"
    assert scale.SIDE[0] <= min(image.size) <= scale.SIDE[1]
