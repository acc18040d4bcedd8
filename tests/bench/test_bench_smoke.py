"""`python -m bench.run --quick` end to end, so the benchmark cannot rot.

Checks that the command succeeds, that the table has every row (measured,
except the --quality section and what --quick leaves out of sections 3
and 4)
and that the JSON parses. No timing is asserted: figures from a few images
mean nothing.
"""

import json
import os
import subprocess
import sys

import pytest

from bench import report
from bench import run as bench_run
from bench import train_step
from tests import conftest

REPO = os.fspath(conftest.REPO)
TIMEOUT_SECONDS = 900


@pytest.fixture(scope="module")
def quick_run(shared_data, tmp_path_factory):
  out_dir = tmp_path_factory.mktemp("bench_results")
  work_dir = tmp_path_factory.mktemp("bench_work")
  process = subprocess.run(
      [sys.executable, "-m", "bench.run", "--quick",
       f"--shared_data={shared_data}", f"--out_dir={out_dir}",
       f"--work_dir={work_dir}"],
      cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
      check=False)
  assert process.returncode == 0, process.stderr[-5000:]
  return process, out_dir


def test_json_parses_and_has_every_row(quick_run):
  _, out_dir = quick_run
  with open(out_dir / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  ids = [row["id"] for row in results["rows"]]
  assert ids == bench_run.expected_row_ids()
  assert len(ids) == len(set(ids))
  assert results["meta"]["mode"] == "quick"


def test_every_section_is_measured_and_what_quick_skips_is_flagged(quick_run):
  _, out_dir = quick_run
  with open(out_dir / "results.json", encoding="utf-8") as f:
    rows = json.load(f)["rows"]
  fitted = set()
  for row in rows:
    if row["id"].startswith("quality/"):
      assert row["status"] == report.NOT_RUN, row
      assert "--quality" in row["note"], row
      continue
    if row["note"] == report.QUICK_NOTE:
      # --quick fits a covering few of section 4's combinations, and
      # measures the memory of the two fractions the growth is of.
      assert row["status"] == report.NOT_RUN, row
      assert row["id"].startswith("train_step/") or (
          row["id"].startswith("memory/") and "_1_4" in row["id"]), row
      continue
    if row["id"].startswith("train_step/"):
      fitted.add(row["id"])
    assert row["status"] == report.MEASURED, row
    value = row["value"]
    assert value["min"] <= value["median"] <= value["max"], row
    # A difference (|dp|) may be 0; a rate, a size or a ratio may not.
    assert value["median"] > 0 or (row["unit"] == "|dp|"
                                   and value["median"] == 0), row
    if row["target"] is not None:
      assert row["met"] in (True, False), row
  expected = {f"train_step/{model}_{precision}_{source}"
              for model, precision, source in train_step.QUICK_FITS}
  assert expected <= fitted
  # Every model, precision and input, and a ratio of each kind.
  for part in (*train_step.MODELS, *train_step.PRECISIONS,
               *train_step.INPUTS, "ratio_small_resnet_vs_blog_cnn",
               "ratio_bf16_vs_f32", "ratio_pipeline_vs_constant",
               "ratio_raw_vs_constant", "ratio_raw_device_vs_constant"):
    assert any(part in row_id for row_id in fitted), part


def test_markdown_and_printed_table_name_every_row(quick_run):
  process, out_dir = quick_run
  markdown = (out_dir / "results.md").read_text(encoding="utf-8")
  with open(out_dir / "results.json", encoding="utf-8") as f:
    rows = json.load(f)["rows"]
  table_lines = [line for line in markdown.splitlines()
                 if line.startswith("| ") and "---" not in line]
  assert len(table_lines) == len(rows) + 1  # + the header
  for row in rows:
    assert row["name"].replace("|", "\\|") in markdown, row["id"]
    assert row["name"] in process.stdout, row["id"]
