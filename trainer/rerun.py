"""What running `trainer.train` on a model_dir that already holds a run does.

A run directory is never silently destroyed:
  * nothing there: a new run starts;
  * a run that did not finish (killed): it resumes after its last finished
    epoch, the epoch count may change;
  * a finished run, same flags: nothing to do (and it says so);
  * a finished run, --epochs raised: training continues from the last
    finished epoch, as if the run had been started with that many epochs;
    a run that early stopping ended is finished for any epoch count, since
    an uninterrupted run would have stopped at the same epoch;
  * any other change (or fewer epochs than a finished run has): refused,
    naming the fields, unless the user asks to start over (`overwrite`),
    which removes the run, its threshold and its evaluations first.
"""

import dataclasses
from typing import Any

from trainer import config as config_lib
from trainer import run_dir

# Fields a restarted run may change: where the run and the data are (folders
# may move) and how long to train (see `decide`).
RESUMABLE_CHANGES = frozenset({"epochs", "model_dir", "data_dir"})
START, RESUME, CONTINUE, FINISHED = "start", "resume", "continue", "finished"


@dataclasses.dataclass(frozen=True)
class Decision:
  action: str  # START, RESUME, CONTINUE or FINISHED
  message: str
  removed: tuple[str, ...] = ()  # what a start-over removed


def changed_fields(previous: dict[str, Any],
                   config: config_lib.TrainConfig) -> list[str]:
  """Fields whose values differ, RESUMABLE_CHANGES aside. A field missing
  from an older config.json had its default (as read_config reads it)."""
  defaults = config_lib.TrainConfig(model_dir=config.model_dir).to_dict()
  previous = {**defaults, **previous}
  current = config.to_dict()
  return sorted(name for name in set(previous) | set(current)
                if name not in RESUMABLE_CHANGES
                and previous.get(name) != current.get(name))


def _finished_message(model_dir: str, status: dict[str, Any]) -> str:
  best = ""
  if status.get("best_epoch"):
    best = (f", best epoch {status['best_epoch']} with val_auc "
            f"{status['best_val_auc']:.4f}")
  ended = ("early stopping ended it" if status.get("stopped_early")
           else "all epochs done")
  return (f"{model_dir} holds a finished run ({status['epochs_run']} of "
          f"{status['epochs']} epochs, {ended}{best}): "
          f"{', '.join(run_dir.present(model_dir))}. Nothing to do: raise "
          "--epochs to train on, or pass --overwrite to start over.")


def decide(config: config_lib.TrainConfig, overwrite: bool = False,
           remove: bool = True) -> Decision:
  """What a training run on config.model_dir must do.

  Args:
    config: the run's validated config.
    overwrite: start over, removing whatever run is there.
    remove: whether this process removes the old run on overwrite (only the
      chief of a multi-worker job does).

  Raises:
    ValueError: the model_dir holds a run this config may not go on with;
      the message names the differing fields.
  """
  model_dir = config.model_dir
  previous = run_dir.read_config_values(model_dir)
  if overwrite:
    removed = tuple(run_dir.clear(model_dir)) if remove else ()
    return Decision(START, f"Starting over in {model_dir}" + (
        f" (removed {', '.join(removed)})" if removed else ""), removed)
  if previous is None:
    return Decision(START, f"Starting a new run in {model_dir}")
  changed = changed_fields(previous, config)
  if changed:
    values = "; ".join(f"{name}: {previous.get(name)!r} there, "
                       f"{getattr(config, name, None)!r} now"
                       for name in changed)
    raise ValueError(
        f"model_dir: {model_dir} holds a run with other values of "
        f"{', '.join(changed)} ({values}); run with the same flags to "
        "resume or continue it, use a new model_dir, or pass --overwrite to "
        "start over (removes that run, its threshold and its evaluations)")
  status = run_dir.read_status(model_dir)
  if status is None:
    return Decision(RESUME, f"Resuming the run in {model_dir} after its last "
                    "finished epoch")
  if status["stopped_early"] and config.epochs >= status["epochs_run"]:
    return Decision(FINISHED, _finished_message(model_dir, status))
  if config.epochs == status["epochs"]:
    return Decision(FINISHED, _finished_message(model_dir, status))
  if config.epochs > status["epochs"]:
    return Decision(CONTINUE, f"Continuing the finished run in {model_dir} "
                    f"from epoch {status['epochs_run'] + 1} to "
                    f"{config.epochs}")
  raise ValueError(
      f"epochs: {model_dir} holds a run finished after "
      f"{status['epochs_run']} epochs; {config.epochs} would undo training. "
      "Use the same or more epochs, a new model_dir, or --overwrite")
