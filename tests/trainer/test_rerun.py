"""A finished run is never silently destroyed (trainer/rerun.py).

The decision table on run directories written by hand, then the real thing:
a finished run left byte-identical, trained on with more epochs, refused
with other flags, and started over only when asked.
"""

import dataclasses
import json
import os
import pathlib

import pytest

from tests.trainer import helpers
from trainer import config as config_lib
from trainer import rerun
from trainer import run_dir
from trainer import storage
from trainer import train


def _finished(model_dir: pathlib.Path, config: config_lib.TrainConfig,
              epochs_run: int) -> None:
  """A run directory as a finished run leaves it (without a model)."""
  run_dir.write_config(config, os.fspath(model_dir))
  storage.write_json(run_dir.path(os.fspath(model_dir), run_dir.STATUS), {
      "finished": True, "epochs": config.epochs, "epochs_run": epochs_run,
      "stopped_early": epochs_run < config.epochs, "best_epoch": 1,
      "best_val_auc": 0.9, "model_sha256": "0" * 64})


def _config(tmp_path, **overrides) -> config_lib.TrainConfig:
  return config_lib.TrainConfig(model_dir=os.fspath(tmp_path / "run"),
                                epochs=5, **overrides).validate()


def test_new_and_unfinished_runs(tmp_path):
  config = _config(tmp_path)
  assert rerun.decide(config).action == rerun.START
  run_dir.write_config(config, config.model_dir)  # killed before the end
  assert rerun.decide(config).action == rerun.RESUME
  assert rerun.decide(dataclasses.replace(config, epochs=2)).action == (
      rerun.RESUME)


def test_a_field_an_older_run_did_not_record_is_its_default(tmp_path):
  config = _config(tmp_path)
  run_dir.write_config(config, config.model_dir)
  path = tmp_path / "run" / "config.json"
  values = json.loads(path.read_text())
  del values["tf_data_autotune"]  # a config.json written before the field
  path.write_text(json.dumps(values))
  assert rerun.decide(config).action == rerun.RESUME
  with pytest.raises(ValueError, match="tf_data_autotune"):
    rerun.decide(dataclasses.replace(config, tf_data_autotune="on"))


def test_finished_run_same_more_fewer_epochs(tmp_path):
  config = _config(tmp_path)
  _finished(tmp_path / "run", config, epochs_run=5)
  same = rerun.decide(config)
  assert same.action == rerun.FINISHED
  assert "5 of 5 epochs" in same.message and "Nothing to do" in same.message
  assert "config.json" in same.message  # names what is there
  more = rerun.decide(dataclasses.replace(config, epochs=8))
  assert more.action == rerun.CONTINUE
  assert "from epoch 6 to 8" in more.message
  with pytest.raises(ValueError, match=r"^epochs: .* finished after 5 "):
    rerun.decide(dataclasses.replace(config, epochs=3))


def test_early_stopped_run_is_finished_for_any_longer_run(tmp_path):
  config = _config(tmp_path)
  _finished(tmp_path / "run", config, epochs_run=3)
  for epochs in (3, 5, 50):
    decision = rerun.decide(dataclasses.replace(config, epochs=epochs))
    assert decision.action == rerun.FINISHED, epochs
    assert "early stopping" in decision.message


def test_other_flags_are_refused_with_the_fields_named(tmp_path):
  config = _config(tmp_path)
  _finished(tmp_path / "run", config, epochs_run=5)
  with pytest.raises(ValueError, match=r"^model_dir: .* image_size, model "
                     r"\(.*--overwrite"):
    rerun.decide(dataclasses.replace(config, model="blog_cnn",
                                     image_size=96))
  moved = dataclasses.replace(config, data_dir="/moved/tfds")
  assert rerun.decide(moved).action == rerun.FINISHED


def test_overwrite_removes_the_run_its_threshold_and_evaluations(tmp_path):
  config = _config(tmp_path)
  model_dir = tmp_path / "run"
  _finished(model_dir, config, epochs_run=5)
  (model_dir / "threshold.json").write_text("{}")
  (model_dir / "evaluation" / "test").mkdir(parents=True)
  (model_dir / "notes.txt").write_text("the user's own file")
  other = dataclasses.replace(config, model="blog_cnn")
  checked = rerun.decide(other, overwrite=True, remove=False)
  assert checked.action == rerun.START and (model_dir / "threshold.json"
                                            ).exists()
  decision = rerun.decide(other, overwrite=True)
  assert decision.action == rerun.START
  assert {"config.json", "threshold.json", "evaluation",
          "training_status.json"} <= set(decision.removed)
  assert sorted(os.listdir(model_dir)) == ["notes.txt"]


def test_rerun_leaves_a_finished_run_byte_identical(make_config, capsys):
  config = make_config(epochs=1)
  assert train.run(config) is not None
  model_dir = pathlib.Path(config.model_dir)
  before = {path: path.read_bytes() for path in model_dir.rglob("*")
            if path.is_file()}
  assert train.run(config) is None
  said = capsys.readouterr().out
  assert "holds a finished run" in said and "Nothing to do" in said
  after = {path: path.read_bytes() for path in model_dir.rglob("*")
           if path.is_file()}
  assert after == before

  # On the command line, once (a fresh process costs seconds): other flags
  # are refused with a non-zero exit, the run untouched.
  refused = helpers.run_cli(helpers.cli_flags(
      dataclasses.replace(config, model="blog_cnn")))
  assert refused.returncode != 0
  assert "other values of model" in refused.stderr
  assert (model_dir / "model.keras").read_bytes() == before[
      model_dir / "model.keras"]


def test_more_epochs_continue_and_overwrite_starts_over(make_config):
  config = make_config(epochs=1, early_stopping_patience=0)
  train.run(config)
  history = train.run(dataclasses.replace(config, epochs=2))
  assert history.epoch == [1]  # only the new epoch ran
  assert [int(row["epoch"]) for row in helpers.history_rows(
      config.model_dir)] == [0, 1]
  status = run_dir.read_status(config.model_dir)
  assert (status["epochs"], status["epochs_run"]) == (2, 2)
  assert run_dir.read_config(config.model_dir).epochs == 2

  again = train.run(dataclasses.replace(config, model="blog_cnn"),
                    overwrite=True)
  assert again.epoch == [0]
  assert run_dir.read_config(config.model_dir).model == "blog_cnn"
  assert len(helpers.history_rows(config.model_dir)) == 1
