"""Augmentation in the training step: where "auto" puts it, the same changes
as on the host, none at evaluation, the exported model unchanged."""

import dataclasses
import json
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline import augment
from pipeline import input as input_lib
from tests.trainer import evaluation_helpers
from tests.trainer import helpers
from trainer import device_augment
from trainer import inputs
from trainer import run_dir
from trainer import train
from trainer import training

AUGMENT = augment.AugmentConfig(rotation_degrees=15.0, shift_fraction=0.1,
                                zoom_fraction=0.2, brightness=0.2,
                                contrast=0.3, horizontal_flip=True)


def _strategy_on(device: str):
  """A stand-in strategy whose replicas run on `device`."""
  return types.SimpleNamespace(extended=types.SimpleNamespace(
      worker_devices=(f"/job:localhost/replica:0/task:0/device:{device}:0",)))


def test_auto_is_the_device_on_gpus_and_the_host_on_cpus():
  assert device_augment.resolve("auto", _strategy_on("GPU"))[0] == "device"
  assert device_augment.resolve("auto", _strategy_on("CPU"))[0] == "host"
  # This machine has no GPU: the default strategy runs on the CPU.
  place, reason = device_augment.resolve("auto", tf.distribute.get_strategy())
  assert (place, "no GPU or TPU" in reason) == ("host", True)
  assert device_augment.resolve("device", _strategy_on("CPU"))[0] == "device"
  assert device_augment.resolve("host", _strategy_on("GPU"))[0] == "host"
  assert device_augment.resolve("device", _strategy_on("GPU"),
                                augment=False)[0] == "host"


def _train_inputs(tiny_data_dir, augment_on: str):
  config = input_lib.InputConfig(
      dataset=helpers.TINY_DATASET, data_dir=os.fspath(tiny_data_dir),
      image_size=64, global_batch_size=16, augment=AUGMENT,
      augment_on=augment_on)
  return input_lib.make_for_train(config)


def test_the_step_s_changes_are_the_host_s_for_the_same_examples(
    tiny_data_dir):
  # Each step compiled with XLA, as Keras compiles a GPU step.
  step = tf.function(
      lambda images, seeds: augment.transform_batch(images, AUGMENT, seeds,
                                                    warp_with="gather"),
      jit_compile=True)
  host = list(_train_inputs(tiny_data_dir, "host"))
  device = list(_train_inputs(tiny_data_dir, "device"))
  assert len(host) == len(device) > 1
  for (host_images, host_targets), ((images, seeds), targets) in zip(
      host, device):
    assert seeds.shape == (images.shape[0], 2) and seeds.dtype == tf.int64
    np.testing.assert_array_equal(targets, host_targets)
    # The pipeline left these for the step: it ran the pixel path only.
    assert np.abs(images.numpy() - host_images.numpy()).mean() > 1e-3
    np.testing.assert_allclose(step(images, seeds), host_images, atol=2e-4)


def _build(config, augment_on: str = "host"):
  # The same seed for each: the same initial weights and dropout masks.
  keras.utils.set_random_seed(0)
  return training.build_and_compile(config, 2, tf.distribute.get_strategy(),
                                    augment_on)


def _compiled(make_config):
  """(config, plain model, a copy whose training step augments)."""
  config = make_config(model="small_resnet", image_size=64,
                       **dataclasses.asdict(AUGMENT))
  return config, _build(config), _build(config, "device")


def test_a_training_step_on_the_device_trains_on_the_host_s_batch(
    make_config):
  config, plain, patched = _compiled(make_config)
  untouched = _build(config)
  (images, seeds), targets = next(iter(input_lib.make_for_train(
      inputs.input_config(config, 16, augment_on="device"))))
  # The loss each step reports is of the batch it trained on, before the
  # update (Adam's first update is about lr times the gradient's sign, so
  # weights would magnify float noise in near-zero gradients).
  on_device = patched.train_on_batch((images, seeds), targets,
                                     return_dict=True)
  on_host = plain.train_on_batch(
      augment.transform_batch(images, AUGMENT, seeds), targets,
      return_dict=True)
  as_left = untouched.train_on_batch(images, targets, return_dict=True)
  assert on_device == pytest.approx(on_host, abs=1e-5)
  # The batch as the pipeline left it gives another loss: the step did
  # augment.
  assert abs(on_device["loss"] - as_left["loss"]) > 1e-3


def test_nothing_is_augmented_outside_the_training_step(make_config,
                                                        tiny_data_dir):
  _, plain, patched = _compiled(make_config)
  config = input_lib.InputConfig(
      dataset=helpers.TINY_DATASET, data_dir=os.fspath(tiny_data_dir),
      image_size=64, global_batch_size=16)
  images, targets = next(iter(input_lib.make_for_eval(config)))
  expected = plain(images, training=False).numpy()
  np.testing.assert_allclose(patched.predict(images, verbose=0), expected,
                             atol=1e-6)
  assert patched.evaluate(images, targets, verbose=0, return_dict=True) == (
      pytest.approx(plain.evaluate(images, targets, verbose=0,
                                   return_dict=True), abs=1e-6))


def _serving_ops(model_dir) -> set[str]:
  signature = tf.saved_model.load(run_dir.path(
      model_dir, run_dir.SAVED_MODEL)).signatures["serving_default"]
  graph = signature.graph.as_graph_def()
  ops = {node.op for node in graph.node}
  for function in graph.library.function:
    ops |= {node.op for node in function.node_def}
  return ops


def test_a_run_with_augmentation_in_the_step_exports_the_plain_model(
    make_config, tmp_path_factory, tiny_data_dir):
  # The session's host-augmented run (evaluation_helpers), and the same
  # config with the augmentation in the step.
  runs = {"host": evaluation_helpers.trained_run(tmp_path_factory,
                                                 tiny_data_dir)}
  config = make_config(image_size=evaluation_helpers.IMAGE_SIZE,
                       augment_on="device", early_stopping_patience=0,
                       reduce_lr_patience=0)
  train.run(config)
  runs["device"] = config.model_dir
  for place, model_dir in runs.items():
    with open(os.path.join(model_dir, "run_info.json")) as f:
      assert json.load(f)["augment_on"] == place
  ops = {place: _serving_ops(model_dir) for place, model_dir in runs.items()}
  assert ops["device"] == ops["host"]
  # No augmentation op in it: no transform, no gather warp, no seed hash.
  assert not {"ImageProjectiveTransformV3", "Bitcast", "BitwiseXor"} & (
      ops["device"])
  loaded = {place: run_dir.load(model_dir).model
            for place, model_dir in runs.items()}
  assert [w.shape for w in loaded["device"].weights] == [
      w.shape for w in loaded["host"].weights]
  # Same seeds, same batches, the same changes to float rounding: the two
  # runs' weights are close (Adam magnifies rounding in tiny gradients).
  for device_weight, host_weight in zip(loaded["device"].get_weights(),
                                        loaded["host"].get_weights()):
    np.testing.assert_allclose(device_weight, host_weight, atol=1e-2)
