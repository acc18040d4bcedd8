"""A run killed with SIGKILL after an epoch resumes there when restarted,
and, with --deterministic, ends as an uninterrupted run ends."""

import os
import signal
import subprocess
import time

from tests.trainer import helpers


def test_sigkill_then_restart_continues(make_config, tmp_path):
  # Resampling and augmentation on: every kind of random draw the input
  # makes must come out as in an uninterrupted run.
  config = make_config(model="blog_cnn", image_size=64, epochs=4,
                       early_stopping_patience=0, balance="resample",
                       deterministic=True, precision="float32")
  flagfile = tmp_path / "train.flags"
  flagfile.write_text("\n".join(helpers.cli_flags(config)) + "\n")
  command = helpers.train_command([f"--flagfile={flagfile}"])
  env = helpers.subprocess_env()

  first = subprocess.Popen(command, cwd=helpers.REPO, env=env,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
  try:
    deadline = time.monotonic() + 240
    while helpers.finished_epochs(config.model_dir) < 1:
      assert first.poll() is None, "first run ended before it was killed"
      assert time.monotonic() < deadline, "no epoch finished in time"
      time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
  finally:
    first.kill()
    first.wait()
  assert first.returncode == -signal.SIGKILL
  done = helpers.finished_epochs(config.model_dir)
  assert 1 <= done < config.epochs
  rows_before = helpers.history_rows(config.model_dir)[:done]

  second = subprocess.run(command, cwd=helpers.REPO, env=env,
                          capture_output=True, text=True, timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  assert f"Resumed at epoch {done}" in second.stderr
  assert f"Epoch {done + 1}/{config.epochs}" in second.stdout
  assert "Epoch 1/" not in second.stdout
  rows = helpers.history_rows(config.model_dir)
  assert [int(row["epoch"]) for row in rows] == list(range(config.epochs))
  assert rows[:done] == rows_before  # finished epochs were not redone
  assert os.path.exists(os.path.join(config.model_dir, "saved_model"))

  helpers.train_uninterrupted(config, tmp_path / "uninterrupted")
  helpers.assert_same_training(config.model_dir, tmp_path / "uninterrupted")
