"""The benchmark's pure pieces: statistics, the table, the quality metrics."""

import json

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

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
  assert sections == {"build", "input", "memory", "train_step", "quality"}


def test_config_rejects_unknown_sections():
  with pytest.raises(ValueError, match="sections"):
    config_lib.BenchConfig("d", "w", "o", sections=("nope",)).validate()


def test_roc_auc_matches_scikit_learn_with_ties():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 200)
  scores = np.round(rng.random(200) + 0.3 * labels, 1)  # many ties
  assert quality.roc_auc(labels, scores) == pytest.approx(
      sk_metrics.roc_auc_score(labels, scores))


def test_youden_threshold_maximizes_j():
  labels = np.array([0, 0, 0, 1, 1, 1])
  scores = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
  threshold = quality.youden_threshold(labels, scores)
  sensitivity, specificity = quality.rates_at(labels, scores, threshold)
  best = max(sum(quality.rates_at(labels, scores, t)) for t in scores)
  assert sensitivity + specificity == pytest.approx(best)


def test_group_bootstrap_brackets_the_estimate():
  rng = np.random.default_rng(1)
  labels = np.repeat([0, 1], 60)
  scores = rng.random(120) + 0.5 * labels
  groups = [f"g{i // 3}" for i in range(120)]
  intervals = quality.group_bootstrap(labels, scores, groups, 0.75,
                                      samples=300)
  auc = quality.roc_auc(labels, scores)
  low, high = intervals["auc"]
  assert low <= auc <= high
  assert 0.0 <= intervals["sensitivity"][0] <= intervals["sensitivity"][1]
