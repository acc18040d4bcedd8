"""How training reports progress: a bar per batch in a terminal, one line
per epoch in logs and pipes."""

import io
import os

from trainer import training


def test_a_terminal_gets_the_progress_bar():
  controller, terminal = os.openpty()
  try:
    with open(terminal, "w", closefd=False) as stream:
      assert training.fit_verbosity(stream) == 1
  finally:
    os.close(controller)
    os.close(terminal)


def test_a_pipe_or_a_file_gets_one_line_per_epoch(tmp_path):
  read_end, write_end = os.pipe()
  try:
    with open(write_end, "w", closefd=False) as pipe:
      assert training.fit_verbosity(pipe) == 2
  finally:
    os.close(read_end)
    os.close(write_end)
  with open(tmp_path / "train.log", "w") as log:
    assert training.fit_verbosity(log) == 2
  assert training.fit_verbosity(io.StringIO()) == 2
  assert training.fit_verbosity(object()) == 2  # no isatty at all
