"""Mirrored over two logical CPUs, and two multi-worker processes on loopback.

Both run in subprocesses: logical devices must be set before TensorFlow
initialises its devices, and each worker of a cluster is its own process.
"""

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.trainer import helpers

_MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from trainer import config as config_lib
    from trainer import inputs
    from trainer import strategy as strategy_lib
    from trainer import train

    config = config_lib.TrainConfig.from_json(sys.argv[1])
    strategy = strategy_lib.get_strategy(config.strategy)
    data = inputs.make_inputs(config, strategy, tf.Variable(0, dtype=tf.int64))
    images = next(iter(data.train))[0]
    per_replica = [int(t.shape[0])
                   for t in strategy.experimental_local_results(images)]
    history = train.run(config, strategy)
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "per_replica_batches": per_replica,
        "steps_per_epoch": data.steps_per_epoch,
        "epochs": history.epoch}))
""")


def _history(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


# (augment_on, where run_info.json says the augmentation ran)
_MIRRORED_VARIANTS = (("auto", "host"), ("device", "device"))


@pytest.fixture(scope="module")
def mirrored_runs(tiny_data_dir, tmp_path_factory):
  """augment_on -> (config, summary), the variants trained side by side, each
  in its own process (a second MirroredStrategy in one process fails its
  collectives)."""
  root = tmp_path_factory.mktemp("mirrored")
  # With augment_on="device", each replica's step augments its own half
  # (and Keras' first-batch build under the strategy sees plain images).
  configs = {augment_on: helpers.tiny_config(
      tiny_data_dir, root / augment_on, strategy="mirrored",
      per_replica_batch_size=8, epochs=2, model="small_resnet",
      augment_on=augment_on) for augment_on, _ in _MIRRORED_VARIANTS}
  processes = {augment_on: subprocess.Popen(
      [sys.executable, "-c", _MIRRORED_SCRIPT, config.to_json()],
      cwd=helpers.REPO, env=helpers.subprocess_env(), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
               for augment_on, config in configs.items()}
  runs = {}
  for augment_on, process in processes.items():
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    line = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
    runs[augment_on] = (configs[augment_on],
                        json.loads(line[-1][len("RESULT "):]))
  return runs


@pytest.mark.parametrize("augment_on, placed", _MIRRORED_VARIANTS)
def test_mirrored_two_cpus_splits_the_global_batch(mirrored_runs, augment_on,
                                                   placed):
  config, summary = mirrored_runs[augment_on]
  assert summary["replicas"] == 2
  assert summary["per_replica_batches"] == [8, 8]  # global batch 16, split
  assert summary["epochs"] == [0, 1]
  with open(os.path.join(config.model_dir, "run_info.json")) as f:
    info = json.load(f)
  assert info["num_replicas_in_sync"] == 2
  assert info["global_batch_size"] == 16
  assert info["augment_on"] == placed
  rows = _history(os.path.join(config.model_dir, "history.csv"))
  assert [row["epoch"] for row in rows] == ["0", "1"]
  assert os.path.exists(os.path.join(config.model_dir, "saved_model"))


def test_multi_worker_two_processes_on_loopback(make_config):
  config = make_config(strategy="multi_worker_mirrored",
                       per_replica_batch_size=8, epochs=2,
                       model="small_resnet")
  workers = [f"127.0.0.1:{helpers.free_port()}" for _ in range(2)]
  processes = []
  for index in range(2):
    tf_config = {"cluster": {"worker": workers},
                 "task": {"type": "worker", "index": index}}
    processes.append(subprocess.Popen(
        helpers.train_command(helpers.cli_flags(config)), cwd=helpers.REPO,
        env=helpers.subprocess_env({"TF_CONFIG": json.dumps(tf_config)}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
  outputs = []
  try:
    for process in processes:
      outputs.append(process.communicate(timeout=300)[0])
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  for process, output in zip(processes, outputs):
    assert process.returncode == 0, output[-3000:]

  chief_dir = config.model_dir
  worker_dir = os.path.join(chief_dir, "workers", "worker_1")
  with open(os.path.join(chief_dir, "run_info.json")) as f:
    info = json.load(f)
  assert info["multi_worker"] and info["num_replicas_in_sync"] == 2
  for name in ("model.keras", "saved_model", "config.json",
               "class_names.json"):
    assert os.path.exists(os.path.join(chief_dir, name)), name
  chief_rows = _history(os.path.join(chief_dir, "history.csv"))
  worker_rows = _history(os.path.join(worker_dir, "history.csv"))
  assert [row["epoch"] for row in chief_rows] == ["0", "1"]
  # The workers trained one model: same losses, same validation.
  assert chief_rows == worker_rows
