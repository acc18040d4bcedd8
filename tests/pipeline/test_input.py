"""make_for_train / make_for_eval / class balance on the real tiny build."""

import os
import types

import numpy as np
import pytest
from sklearn.utils import class_weight as sklearn_class_weight
import tensorflow as tf
import tensorflow_datasets as tfds

import pneumonia_tfds  # pylint: disable=unused-import  (registers the builder)
from pipeline import augment
from pipeline import input as input_lib
from pipeline import preprocess
from pneumonia_tfds import cpus

DATASET = "pneumonia_xray/gray_96"


@pytest.fixture(scope="module")
def make_config(tiny_data_dir):
  def make(**overrides) -> input_lib.InputConfig:
    kwargs = dict(dataset=DATASET, data_dir=os.fspath(tiny_data_dir),
                  image_size=96, global_batch_size=16)
    kwargs.update(overrides)
    return input_lib.InputConfig(**kwargs)
  return make


@pytest.fixture(scope="module")
def raw_examples(tiny_data_dir):
  """split -> list of fully decoded examples, read independently of pipeline."""
  builder = tfds.builder(DATASET, data_dir=os.fspath(tiny_data_dir))
  return {split: list(tfds.as_numpy(builder.as_dataset(split=split)))
          for split in ("train", "validation")}


def _unbatch(dataset: tf.data.Dataset) -> list:
  """All examples of one pass as a list of numpy tuples."""
  return list(dataset.unbatch().as_numpy_iterator())


def _eval_by_file_name(config, split="train"):
  return {metadata["file_name"]: (image, target)
          for image, target, metadata in _unbatch(
              input_lib.make_for_eval(config, split, with_metadata=True))}


def test_train_yields_one_pass_of_the_split_per_iteration(make_config,
                                                          raw_examples):
  config = make_config()
  dataset = input_lib.make_for_train(config)
  image_spec, target_spec = dataset.element_spec
  assert image_spec.shape.as_list() == [None, 96, 96, 1]
  assert image_spec.dtype == tf.float32
  assert target_spec.shape.as_list() == [None]
  assert target_spec.dtype == tf.int32
  expected = sorted(int(example["label"]) for example in raw_examples["train"])
  for _ in range(2):  # Two Keras epochs: two iterations, each one full pass.
    batches = list(dataset.as_numpy_iterator())
    assert all(len(images) <= 16 for images, _ in batches)
    assert sorted(np.concatenate([t for _, t in batches]).tolist()) == expected


def test_train_without_augmentation_equals_eval(make_config):
  """Same pixels for the same file (the pipeline's central invariant)."""
  config = make_config(augment=None, shuffle_buffer=1)
  evaluated = _eval_by_file_name(config)
  trained = _unbatch(input_lib.make_for_train(config))
  # shuffle_buffer=1 and a one-file split: train reads in stored order.
  file_names = [metadata["file_name"] for _, _, metadata in _unbatch(
      input_lib.make_for_eval(config, "train", with_metadata=True))]
  assert len(trained) == len(file_names) == len(evaluated)
  for file_name, (image, target) in zip(file_names, trained, strict=True):
    np.testing.assert_array_equal(image, evaluated[file_name][0])
    assert target == evaluated[file_name][1]


@pytest.mark.parametrize("augment", [True, False])
def test_pipelines_run_without_the_autotuner(make_config, augment):
  # Measured: with it, most augmented epochs ran at half speed on 2 CPUs.
  config = make_config() if augment else make_config(augment=None)
  for dataset in (input_lib.make_for_train(config),
                  input_lib.make_for_eval(config)):
    assert dataset.options().autotune.enabled is False


def test_shuffled_train_holds_the_same_images(make_config):
  config = make_config(augment=None)
  trained = sorted(image.tobytes() for image, _ in
                   _unbatch(input_lib.make_for_train(config)))
  evaluated = sorted(image.tobytes() for image, _ in
                     _unbatch(input_lib.make_for_eval(config, "train")))
  assert trained == evaluated


def test_augmentation_changes_train_but_never_eval(make_config, raw_examples):
  config = make_config(shuffle_buffer=1)  # default AugmentConfig
  plain = _eval_by_file_name(config)
  file_names = list(plain)
  trained = _unbatch(input_lib.make_for_train(config))
  changed = [not np.array_equal(image, plain[name][0])
             for name, (image, _) in zip(file_names, trained, strict=True)]
  assert np.mean(changed) > 0.9

  first = _unbatch(input_lib.make_for_eval(config))
  second = _unbatch(input_lib.make_for_eval(config))
  expected = [preprocess.to_model_input(example["image"], 96, 1).numpy()
              for example in raw_examples["validation"]]
  assert len(first) == len(second) == len(expected)
  for (a, _), (b, _), c in zip(first, second, expected):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_train_is_seeded_and_reshuffled_each_epoch(make_config):
  config = make_config(seed=3)
  first_run = input_lib.make_for_train(config)
  second_run = input_lib.make_for_train(config)
  epoch_1 = _unbatch(first_run)
  epoch_2 = _unbatch(first_run)
  other_epoch_1 = _unbatch(second_run)
  for (a, ya), (b, yb) in zip(epoch_1, other_epoch_1, strict=True):
    np.testing.assert_array_equal(a, b)
    assert ya == yb
  assert any(not np.array_equal(a, b)
             for (a, _), (b, _) in zip(epoch_1, epoch_2))
  other_seed = _unbatch(input_lib.make_for_train(make_config(seed=4)))
  assert any(not np.array_equal(a, b)
             for (a, _), (b, _) in zip(epoch_1, other_seed))


def test_eval_metadata(make_config, raw_examples):
  config = make_config(target="pneumonia_type")
  dataset = input_lib.make_for_eval(config, "validation", with_metadata=True)
  assert set(dataset.element_spec[2]) == set(input_lib.METADATA_KEYS)
  examples = _unbatch(dataset)
  for (_, target, metadata), raw in zip(examples, raw_examples["validation"],
                                        strict=True):
    assert metadata["file_name"] == raw["file_name"]
    assert metadata["source"] == raw["source"]
    assert metadata["label"] == raw["label"]
    assert target == metadata["pneumonia_type"] == raw["pneumonia_type"]


def test_rgb_and_resize(make_config):
  config = make_config(image_size=64, channels=3)
  for dataset in (input_lib.make_for_train(config),
                  input_lib.make_for_eval(config)):
    assert dataset.element_spec[0].shape.as_list() == [None, 64, 64, 3]
    images, _ = next(iter(dataset))
    assert images.shape[1:] == (64, 64, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


@pytest.mark.parametrize("target", input_lib.TARGETS)
def test_class_counts_and_weights(make_config, raw_examples, target):
  config = make_config(target=target)
  classes = input_lib.num_classes(config)
  y = np.array([example[target] for example in raw_examples["train"]])
  expected_counts = np.bincount(y, minlength=classes)
  counts = input_lib.class_counts(config, "train")
  np.testing.assert_array_equal(counts, expected_counts)

  weights = input_lib.class_weights(counts)
  assert sorted(weights) == list(range(classes))
  present = np.unique(y)
  for c in range(classes):
    if expected_counts[c] == 0:
      assert weights[c] == 0.0
    else:
      assert weights[c] == pytest.approx(
          len(y) / (len(present) * expected_counts[c]))
  balanced = sklearn_class_weight.compute_class_weight(
      "balanced", classes=present, y=y)
  np.testing.assert_allclose([weights[c] for c in present], balanced)
  # Weighted by the examples, the weights average to 1.
  assert np.mean([weights[c] for c in y]) == pytest.approx(1.0)


def test_class_weights_rejects_bad_counts():
  with pytest.raises(ValueError):
    input_lib.class_weights([0, 0])
  with pytest.raises(ValueError):
    input_lib.class_weights([3, -1])


def test_num_classes_and_names(make_config):
  assert input_lib.num_classes(make_config()) == 2
  assert input_lib.class_names(make_config()) == ["normal", "pneumonia"]
  config = make_config(target="pneumonia_type")
  assert input_lib.num_classes(config) == 6
  assert input_lib.class_names(config)[:4] == [
      "normal", "bacterial", "viral", "covid19"]


def test_resample_gives_balanced_finite_epochs(make_config):
  config = make_config(target="pneumonia_type", balance="resample")
  counts = input_lib.class_counts(config)
  present = np.flatnonzero(counts)
  assert counts.max() >= 10 * counts[present].min()  # really imbalanced
  dataset = input_lib.make_for_train(config)
  assert dataset.element_spec[0].shape.as_list() == [None, 96, 96, 1]
  totals = np.zeros(len(counts), np.int64)
  sizes = []
  for _ in range(8):
    targets = np.concatenate([t for _, t in dataset.as_numpy_iterator()])
    sizes.append(len(targets))
    totals += np.bincount(targets, minlength=len(counts))
  # As many examples per epoch as the split has, every present class
  # ~1/K (a multinomial draw: over 8 epochs, 0.07 is 4 standard deviations);
  # the same batch shapes every epoch.
  assert sizes == [counts.sum()] * 8
  fractions = totals[present] / totals.sum()
  assert np.all(np.abs(fractions - 1 / len(present)) < 0.07), fractions
  assert np.all(totals[counts == 0] == 0)


def test_resample_binary_label(make_config):
  config = make_config(balance="resample", augment=None)
  targets = np.concatenate([np.concatenate(
      [t for _, t in input_lib.make_for_train(config).as_numpy_iterator()])
                            for _ in range(3)])
  assert abs(targets.mean() - 0.5) < 0.08


def test_sharding_covers_the_split_once(make_config, tiny_data_dir):
  """Two input pipelines (one per replica) on a one-file split."""
  config = make_config(augment=None, global_batch_size=8)
  builder = tfds.builder(DATASET, data_dir=os.fspath(tiny_data_dir))
  assert builder.info.splits["train"].num_shards == 1
  contexts = [tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=i,
                                         num_replicas_in_sync=2)
              for i in range(2)]
  # TFDS refuses to give two pipelines one file each...
  with pytest.raises(ValueError, match="subsplit"):
    builder.as_dataset(split="train",
                       read_config=tfds.ReadConfig(input_context=contexts[0]))

  # ...so each pipeline reads its even subsplit of the examples.
  train_images, eval_names = [], []
  for context in contexts:
    train = input_lib.make_for_train(config, context)
    batches = list(train.as_numpy_iterator())
    assert len(batches[0][0]) == 4  # per-replica batch: 8 / 2
    assert all(len(images) <= 4 for images, _ in batches)
    train_images.append({image.tobytes() for images, _ in batches
                         for image in images})
    evaluated = input_lib.make_for_eval(config, "train", context,
                                        with_metadata=True)
    eval_names.append([m["file_name"] for _, _, m in _unbatch(evaluated)])
  all_images = {image.tobytes() for image, _ in
                _unbatch(input_lib.make_for_eval(config, "train"))}
  assert not train_images[0] & train_images[1]
  assert train_images[0] | train_images[1] == all_images
  assert abs(len(train_images[0]) - len(train_images[1])) <= 1
  assert not set(eval_names[0]) & set(eval_names[1])
  assert sorted(eval_names[0] + eval_names[1]) == sorted(
      _eval_by_file_name(config))


def test_shard_choice(tiny_data_dir):
  """One pipeline: no sharding; fewer files than pipelines: even subsplits;
  enough files: TFDS's own per-file sharding via ReadConfig.input_context."""
  shard = input_lib._shard  # pylint: disable=protected-access
  builder = tfds.builder(DATASET, data_dir=os.fspath(tiny_data_dir))
  assert shard(builder, "train", None) == ("train", None)
  one = tf.distribute.InputContext(1, 0, 2)
  assert shard(builder, "train", one) == ("train", None)
  two = tf.distribute.InputContext(2, 1, 2)
  split, context = shard(builder, "train", two)
  assert context is None
  total = builder.info.splits["train"].num_examples
  assert builder.info.splits[split].num_examples == total // 2  # 2nd half
  many_files = types.SimpleNamespace(info=types.SimpleNamespace(
      splits={"train": types.SimpleNamespace(num_shards=4)}))
  assert shard(many_files, "train", two) == ("train", two)


def test_distribute_datasets_from_function(make_config):
  config = make_config(global_batch_size=8)
  strategy = tf.distribute.get_strategy()
  distributed = strategy.distribute_datasets_from_function(
      lambda context: input_lib.make_for_train(config, context))
  images, targets = next(iter(distributed))
  assert images.shape == (8, 96, 96, 1)
  assert targets.shape == (8,)


def test_drop_remainder_gives_static_batches(make_config, tiny_data_dir):
  size = tfds.builder(DATASET, data_dir=os.fspath(tiny_data_dir)).info.splits[
      "train"].num_examples
  config = make_config(drop_remainder=True)
  for dataset in (input_lib.make_for_train(config),
                  input_lib.make_for_eval(config, "train"),
                  input_lib.make_for_train(
                      make_config(drop_remainder=True, balance="resample"))):
    assert dataset.element_spec[0].shape.as_list() == [16, 96, 96, 1]
    assert dataset.element_spec[1].shape.as_list() == [16]
  batches = list(input_lib.make_for_eval(config, "train").as_numpy_iterator())
  assert len(batches) == size // 16
  # Without it, eval keeps the remainder.
  assert sum(len(t) for _, t in input_lib.make_for_eval(
      make_config(), "train").as_numpy_iterator()) == size


def test_keras_fit_takes_one_pass_per_epoch(make_config):
  import keras  # pylint: disable=g-import-not-at-top
  config = make_config(global_batch_size=32)
  model = keras.Sequential([
      keras.Input((96, 96, 1)),
      keras.layers.AveragePooling2D(8),
      keras.layers.Flatten(),
      keras.layers.Dense(input_lib.num_classes(config)),
  ])
  model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
      from_logits=True))
  weights = input_lib.class_weights(input_lib.class_counts(config))
  history = model.fit(input_lib.make_for_train(config), epochs=2,
                      class_weight=weights,
                      validation_data=input_lib.make_for_eval(config),
                      shuffle=False, verbose=0)
  assert len(history.history["loss"]) == 2
  assert np.all(np.isfinite(history.history["val_loss"]))


@pytest.mark.parametrize("field,value", [
    ("dataset", ""), ("image_size", 4), ("image_size", 96.0), ("channels", 2),
    ("target", "finding"), ("global_batch_size", 0), ("shuffle_buffer", 0),
    ("cache", "yes"), ("augment", {"rotation_degrees": 5}),
    ("balance", "oversample"), ("seed", -1), ("drop_remainder", 1),
])
def test_bad_config_raises(field, value):
  with pytest.raises(ValueError, match=field):
    input_lib.InputConfig(**{field: value})


def test_augment_none_and_defaults():
  assert input_lib.InputConfig().augment == augment.AugmentConfig()
  assert input_lib.InputConfig(augment=None).augment is None


@pytest.mark.parametrize("balance,augment,cache", [
    ("class_weight", True, False), ("resample", True, False),
    ("none", False, False), ("class_weight", True, True),
    ("resample", False, True)])
def test_epoch_draws_follow_the_epoch_number(make_config, balance, augment,
                                             cache):
  """Epoch k of a fresh pipeline told "k" equals the k-th pass of one that
  counted its own passes: what a restarted training job relies on."""
  overrides = {} if augment else {"augment": None}
  config = make_config(balance=balance, seed=5, cache=cache, **overrides)
  counting = input_lib.make_for_train(config)
  passes = [_unbatch(counting) for _ in range(3)]
  assert any(not np.array_equal(a, b)
             for (a, _), (b, _) in zip(passes[1], passes[2]))
  for epoch in (2, 1):
    told = _unbatch(input_lib.make_for_train(
        config, epoch=tf.Variable(epoch, dtype=tf.int64)))
    assert len(told) == len(passes[epoch])
    for (a, ya), (b, yb) in zip(told, passes[epoch]):
      np.testing.assert_array_equal(a, b)
      assert ya == yb


def test_steps_per_epoch_gives_fixed_epochs_from_the_epoch_number(
    make_config):
  config = make_config(drop_remainder=True)
  steps = 3
  start = tf.Variable(1, dtype=tf.int64)
  stream = iter(input_lib.make_for_train(config, epoch=start,
                                         steps_per_epoch=steps))
  epoch_1 = [next(stream)[1].numpy() for _ in range(steps)]
  epoch_2 = [next(stream)[1].numpy() for _ in range(steps)]
  alone = input_lib.make_for_train(
      config, epoch=tf.Variable(2, dtype=tf.int64), steps_per_epoch=steps)
  first_of_2 = [t.numpy() for _, t in alone.take(steps)]
  for a, b in zip(epoch_2, first_of_2, strict=True):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in zip(epoch_1, epoch_2))


@pytest.mark.parametrize("cpu_count,mode,enabled", [
    (2, "auto", False), (4, "auto", False), (16, "auto", True),
    (2, "on", True), (16, "off", False)])
def test_autotune_modes(make_config, monkeypatch, cpu_count, mode, enabled):
  monkeypatch.setattr(cpus, "available_cpus", lambda: cpu_count)
  config = make_config(autotune=mode)
  assert input_lib.autotune_enabled(config) is enabled
  assert input_lib.make_for_eval(config).options().autotune.enabled is enabled


def test_cache_changes_no_draw(make_config):
  """With a cache, the same epochs as without (one shard per split here, so
  the file order cannot differ), on the first pass and on a cached one."""
  plain = input_lib.make_for_train(make_config(seed=2))
  cached = input_lib.make_for_train(make_config(seed=2, cache=True))
  for _ in range(2):
    for (a, ya), (b, yb) in zip(_unbatch(plain), _unbatch(cached),
                                strict=True):
      np.testing.assert_array_equal(a, b)
      assert ya == yb
