"""How training reports progress: a bar per batch in a terminal, one line
per epoch in logs and pipes."""

import io
import os

from trainer import training


def _verbosity_writing_to(descriptors: tuple[int, int]) -> int:
  """fit_verbosity of a stream on the second of a pair of descriptors (a
  pty's or a pipe's ends), both closed afterwards."""
  try:
    with open(descriptors[1], "w", closefd=False) as stream:
      return training.fit_verbosity(stream)
  finally:
    for descriptor in descriptors:
      os.close(descriptor)


def test_a_terminal_gets_the_progress_bar():
  assert _verbosity_writing_to(os.openpty()) == 1


def test_a_pipe_or_a_file_gets_one_line_per_epoch(tmp_path):
  assert _verbosity_writing_to(os.pipe()) == 2
  with open(tmp_path / "train.log", "w") as log:
    assert training.fit_verbosity(log) == 2
  assert training.fit_verbosity(io.StringIO()) == 2
  assert training.fit_verbosity(object()) == 2  # no isatty at all
