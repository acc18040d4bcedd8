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
                      "quality"}


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
