"""README's quick start, end to end on the real shared images (short run)."""

import json
import os
import pathlib
import subprocess
import sys

from tests import conftest
from tests.trainer import evaluation_helpers

REPO = conftest.REPO
PLOTS = ("roc.png", "pr.png", "threshold_curves.png", "confusion.png",
         "reliability.png", "training_curves.png", "examples.png")


def test_quickstart_builds_trains_evaluates_and_reports(shared_data, tmp_path):
  env = dict(os.environ, QUICKSTART_SKIP_INSTALL="1", QUICKSTART_EPOCHS="1",
             QUICKSTART_IMAGE_SIZE="64",
             # The script calls python3 and tfds: use this interpreter's.
             PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
  result = subprocess.run(
      ["bash", os.fspath(REPO / "quickstart.sh"), os.fspath(shared_data),
       os.fspath(tmp_path)], env=env, capture_output=True, text=True,
      timeout=900)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
  for stage in ("2/4 build", "3/4 train", "4/4 evaluate", "done"):
    assert stage in result.stdout

  report_dir = tmp_path / "run" / "evaluation" / "test"
  metrics = json.loads((report_dir / "metrics.json").read_text())
  for plot in PLOTS:
    assert (report_dir / plot).stat().st_size > 1000, plot
  compared = evaluation_helpers.assert_report_matches(
      (report_dir / "report.md").read_text(), metrics)
  assert compared > 20
  # The threshold was chosen on validation and saved for predict.
  threshold = json.loads((tmp_path / "run" / "threshold.json").read_text())
  assert threshold["split"] == "validation"
  assert 0.0 < metrics["overall"]["roc_auc"]["value"] <= 1.0
  # Scores calibrated on validation; the threshold is on that scale.
  calibration = json.loads((tmp_path / "run" / "calibration.json").read_text())
  assert calibration["split"] == "validation"
  assert threshold["temperature"] == calibration["temperature"]
  # The shift paragraph is there exactly when a test rate falls outside
  # validation's interval at the threshold.
  outside = False
  for name in ("sensitivity", "specificity"):
    low, high = threshold[f"{name}_ci"]
    value = metrics["overall"][name]["value"]
    outside = outside or not low <= value <= high
  assert metrics["shift"]["shifted"] == outside
  text = (report_dir / "report.md").read_text()
  assert ("did not carry over" in text) == outside
