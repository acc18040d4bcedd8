"""A `tfds build` killed with SIGKILL midway leaves nothing tfds.load would
read, and running it again completes with the dataset a clean build gives."""

import contextlib
import csv
import hashlib
import io
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from pneumonia_tfds import report
from tests import conftest

CONFIG = "gray_96"
# 600 real files: enough that the later splits take a while after the first
# split's records appear, so the kill lands midway.
PER_CLASS = {"train": 200, "test": 100}
POLL_SECONDS = 0.005
TIMEOUT_SECONDS = 300


def _make_manual_dir(target: pathlib.Path, shared_data: pathlib.Path):
  conftest.copy_kermany_subset(target, PER_CLASS, shared_data)
  return target


def _tfds_build(manual_dir, data_dir) -> list[str]:
  """The `tfds build` command line, with this interpreter's `tfds`."""
  return conftest.tfds_command(
      "build", "pneumonia_xray", "--imports", "pneumonia_tfds", "--config",
      CONFIG, "--manual_dir", os.fspath(manual_dir), "--data_dir",
      os.fspath(data_dir))


def _environment():
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _partial_records(config_dir: pathlib.Path) -> list[pathlib.Path]:
  return sorted(config_dir.glob("incomplete.*/*.tfrecord*"))


def _alive(processes) -> list:
  alive = []
  for member in processes:
    with contextlib.suppress(psutil.NoSuchProcess):
      if member.status() != psutil.STATUS_ZOMBIE:
        alive.append(member)
  return alive


def _kill_midway(command, config_dir, log_path, moment):
  """Runs `command`; SIGKILLs it (the build process only, as the kernel's
  out-of-memory killer would) while its decode workers are at work
  (moment "decoding") or once the temporary build folder holds records
  (moment "writing").

  Returns the record files present at the kill.
  """
  with open(log_path, "wb") as log:
    # A session of its own, so that its decode workers can be found and
    # ended with it.
    process = subprocess.Popen(command, cwd=conftest.REPO, stdout=log,
                               stderr=subprocess.STDOUT, env=_environment(),
                               start_new_session=True)
  try:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    build = psutil.Process(process.pid)
    while True:
      if process.poll() is not None:
        pytest.fail("tfds build ended before it could be interrupted "
                    f"(exit {process.returncode}):\n{log_path.read_text()}")
      if time.monotonic() > deadline:
        pytest.fail(f"no records after {TIMEOUT_SECONDS} s:\n"
                    f"{log_path.read_text()}")
      partial = _partial_records(config_dir)
      children = []
      with contextlib.suppress(psutil.NoSuchProcess):  # Just ended.
        children = build.children(recursive=True)
      if moment == "decoding" and _alive(children):
        break
      if moment == "writing" and partial:
        break
      time.sleep(POLL_SECONDS)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # Workers outliving the build would hold memory forever; they notice
    # the build is gone and exit. (The deadline only bounds a failure.)
    deadline = time.monotonic() + 60
    while _alive(children) and time.monotonic() < deadline:
      time.sleep(0.1)
    assert not _alive(children), _alive(children)
    return partial
  finally:
    # Whatever happened above, leave no process of this session behind.
    with contextlib.suppress(ProcessLookupError):
      os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _written(builder) -> dict[str, str]:
  text = (pathlib.Path(builder.data_dir) / report.REPORT_CSV).read_text()
  return {row["key"]: row["split"] for row in csv.DictReader(io.StringIO(text))
          if row["status"] == report.WRITTEN}


def _examples(builder) -> dict[str, list]:
  """Split -> sorted examples, every feature as plain bytes/ints (the image
  left encoded)."""
  import tensorflow_datasets as tfds  # Deferred: heavy.

  def plain(value):
    return tuple(value.tolist()) if isinstance(value, np.ndarray) else value

  return {
      split: sorted(
          tuple(sorted((name, plain(value)) for name, value in example.items()))
          for example in tfds.as_numpy(builder.as_dataset(
              split=split, decoders={"image": tfds.decode.SkipDecoding()})))
      for split in builder.info.splits}


@pytest.mark.parametrize("moment", ["decoding", "writing"])
def test_killed_build_is_invisible_and_a_rerun_completes(tmp_path, shared_data,
                                                         moment):
  import tensorflow_datasets as tfds  # Deferred: heavy.

  manual_dir = _make_manual_dir(tmp_path / "manual", shared_data)
  data_dir = tmp_path / "data"
  config_dir = data_dir / "pneumonia_xray" / CONFIG
  command = _tfds_build(manual_dir, data_dir)

  partial = _kill_midway(command, config_dir, tmp_path / "killed.log", moment)
  if moment == "writing":
    # Midway: some split's records were written, the dataset was not
    # finished.
    (incomplete_dir,) = {path.parent for path in partial}
    assert not (incomplete_dir / "dataset_info.json").exists()
  assert not any(config_dir.glob("[0-9]*"))  # No version folder.

  builder = tfds.builder(f"pneumonia_xray/{CONFIG}",
                         data_dir=os.fspath(data_dir))
  assert not builder.is_prepared()
  with pytest.raises(AssertionError, match="could not find data"):
    tfds.load(f"pneumonia_xray/{CONFIG}", split="train",
              data_dir=os.fspath(data_dir), download=False)

  rerun = subprocess.run(command, cwd=conftest.REPO, env=_environment(),
                         capture_output=True, text=True,
                         timeout=TIMEOUT_SECONDS, check=False)
  assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
  resumed = tfds.builder(f"pneumonia_xray/{CONFIG}",
                         data_dir=os.fspath(data_dir))
  assert resumed.is_prepared()
  assert not any("incomplete" in path.name
                 for path in pathlib.Path(resumed.data_dir).iterdir())

  clean = conftest.build(manual_dir, tmp_path / "clean", CONFIG)
  written = _written(resumed)
  # One example per distinct file (chest_xray_small has byte-identical pairs).
  assert len(written) == len({hashlib.sha256(path.read_bytes()).digest()
                              for path in manual_dir.rglob("*.jpeg")})
  assert written == _written(clean)
  for split in ("train", "validation", "test"):
    assert (resumed.info.splits[split].num_examples ==
            clean.info.splits[split].num_examples > 0)
  # Every feature of every example as in the clean build; nothing of the
  # killed run's records on top.
  assert _examples(resumed) == _examples(clean)
  assert sum(1 for _ in tfds.load(f"pneumonia_xray/{CONFIG}",
                                  split="train+validation+test",
                                  data_dir=os.fspath(data_dir),
                                  download=False)) == len(written)


def test_a_dead_decode_worker_fails_the_build_instead_of_hanging(tmp_path):
  # multiprocessing.Pool would wait forever for the dead worker's result.
  # Run apart, so that a regression fails on the timeout, not hangs pytest.
  script = tmp_path / "dead_worker.py"
  script.write_text(textwrap.dedent("""\
      import os
      from pneumonia_tfds import local_build

      def decode(task):
        if task == 5:
          os._exit(1)  # As a decoder crash or the out-of-memory killer would.
        return task

      try:
        with local_build.Pool(2) as pool:
          list(pool.map(decode, list(range(40))))
      except RuntimeError as e:
        print("raised:", e)
      """))
  result = subprocess.run([sys.executable, os.fspath(script)],
                          cwd=conftest.REPO, env=_environment(),
                          capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, check=False)
  assert result.returncode == 0, result.stderr
  assert "raised: pneumonia_xray: a decode worker died" in result.stdout
