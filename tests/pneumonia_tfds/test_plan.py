"""plan and local_build: the whole-dataset decisions on real files."""

import os

import pytest

from pneumonia_tfds import local_build
from pneumonia_tfds import per_file
from pneumonia_tfds import plan as plan_lib
from pneumonia_tfds import report
from pneumonia_tfds import splits
from pneumonia_tfds.sources import kermany
from tests import conftest

GEOMETRY = per_file.Geometry(size=32, channels=1, fit="resize", encoding="jpeg")
SETTINGS = plan_lib.Settings(source_order=("kermany",),
                             split_mode=splits.PATIENT_MODE,
                             split_ratios=(0.7, 0.15, 0.15), seed=0)


@pytest.fixture
def manual_dir(tmp_path, shared_data):
  conftest.copy_kermany_subset(tmp_path, {"train": 10, "test": 5}, shared_data)
  return tmp_path


def _records(manual_dir):
  return list(kermany.read_records(os.fspath(manual_dir / "chest_xray"),
                                   os.fspath(manual_dir)))


def _status(build):
  return {row["path"]: row for row in build.plan.report_rows}


@pytest.mark.parametrize("num_workers", [1, 2])
def test_a_file_gone_after_the_listing_is_reported_and_the_rest_built(
    manual_dir, num_workers):
  found = _records(manual_dir)
  gone = found[3].path
  (manual_dir / gone).unlink()
  build = local_build.run(found, os.fspath(manual_dir), GEOMETRY, SETTINGS,
                          num_workers)
  rows = _status(build)
  assert rows[gone]["status"] == report.SKIPPED
  assert rows[gone]["reason"] == per_file.UNREADABLE
  assert gone in rows[gone]["detail"]
  written = [path for path, row in rows.items() if row["status"] == report.WRITTEN]
  assert len(written) == len(found) - 1
  # Every written image's bytes come back from the spill.
  for split in build.plan.split_names():
    for key, example in build.examples(split):
      assert example["image"][:2] == b"\xff\xd8", key  # A JPEG.


def test_an_undecodable_file_moves_no_other_image(manual_dir):
  before = local_build.run(_records(manual_dir), os.fspath(manual_dir),
                           GEOMETRY, SETTINGS, 2).plan
  broken = manual_dir / "chest_xray" / "train" / "NORMAL" / "IM-9999-0001.jpeg"
  broken.write_bytes(b"<html>404</html>")
  after = local_build.run(_records(manual_dir), os.fspath(manual_dir),
                          GEOMETRY, SETTINGS, 2).plan
  split_of = lambda plan: {e.key: e.split for e in plan.examples.values()}
  assert split_of(after) == split_of(before)
  [row] = [r for r in after.report_rows if r["path"].endswith("IM-9999-0001.jpeg")]
  assert row["reason"] == "undecodable"


def test_the_example_limit_is_reported_per_image(manual_dir):
  limited = plan_lib.Settings(**{**SETTINGS.__dict__,
                                 "max_examples_per_split": 2})
  build = local_build.run(_records(manual_dir), os.fspath(manual_dir),
                          GEOMETRY, limited, 2)
  for split in build.plan.split_names():
    assert len(list(build.examples(split))) <= 2
  reasons = [row["reason"] for row in build.plan.report_rows]
  assert reasons.count(report.NOT_GENERATED) == (
      len(reasons) - len(build.plan.examples))
  assert len(build.plan.examples) <= 6


def test_the_plan_sees_no_pixels(manual_dir):
  found = _records(manual_dir)
  digests = [per_file.digest(path, os.fspath(manual_dir))
             for path in plan_lib.readable_paths(found)]
  decoded = [per_file.encode(sha256, path, os.fspath(manual_dir), GEOMETRY)[0]
             for sha256, path in plan_lib.canonical_paths(digests).items()]
  # Its inputs are metadata: a Decoded is a fingerprint, never image bytes.
  assert all(len(d.fingerprint) == 16 + 1 + 64 for d in decoded)
  plan = plan_lib.make(found, digests, decoded, SETTINGS)
  assert len(plan.examples) == len(found)
  assert not any("image" in e.features for e in plan.examples.values())
