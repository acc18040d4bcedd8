"""Section 2: examples/s of the training input, epoch 1 and epoch 2.

Two image sets, each served by every contender from the same files, batch 32,
all contenders back to back in every repeat:

  originals  the train split of a 204x204 grayscale build of the Kermany
             originals (chest_xray/, full-size JPEGs): the case the project
             is for, and the one the targets apply to.
  small      the train split of small_gray_204 over chest_xray_small, whose
             JPEGs are already 224x224: decoding them is cheap, so the
             directory loader is ~10x faster here than on the originals.

Contenders:

  pipeline   pipeline.input.make_for_train: records -> shuffle -> decode ->
             batch -> [augment] -> prefetch; augmentation off and default
             (AugmentConfig()), cache off (the trainer's default) and on.
  directory  keras.utils.image_dataset_from_directory(image_size=(204, 204))
             over the source JPEGs of the same examples: grayscale, the same
             tensors as the pipeline's output (the target rows), and the
             literal call of the issue (RGB default), for reference.
  pickle     the blog's pickle (RGB float32, written by this section) loaded
             back with pickle.load into Dataset.from_tensor_slices, shuffled
             with the same buffer, batched, prefetched.

Epoch 1 is the first pass over a freshly made dataset, epoch 2 the second
pass over the same one (so a cache pays off there); making the dataset
(reading TFDS metadata, listing the folder, loading the pickle) is start-up
and not timed, as in the issue's baselines.
"""

import gc
import os
import shutil
import time

from bench import baselines
from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "2 input"
EPOCHS = ("epoch1", "epoch2")
# (key, words); the originals set is ~200 examples, so it gets more repeats
# (BenchConfig.originals_repeats).
_SETS = (("originals", "Kermany originals"), ("small", "chest_xray_small"))

_PIPELINES = (
    # (key, words, augment, cache)
    ("pipeline_noaug", "pipeline, no augmentation", False, False),
    ("pipeline_aug", "pipeline, default augmentation", True, False),
    ("pipeline_noaug_cache", "pipeline, no augmentation, cache on", False,
     True),
    ("pipeline_aug_cache", "pipeline, default augmentation, cache on", True,
     True),
)
_BASELINES = (
    ("directory", "image_dataset_from_directory, grayscale"),
    ("directory_rgb", "image_dataset_from_directory, RGB (its default)"),
    ("pickle", "pickle -> from_tensor_slices"),
)
# (numerator, denominator, target on the originals): one row per set, epoch.
_RATIOS = (
    ("pipeline_noaug", "directory", report.Target(">=", 15.0)),
    ("pipeline_aug", "directory", report.Target(">=", 5.0)),
    ("pipeline_noaug_cache", "directory", None),
    ("pipeline_aug_cache", "directory", None),
    ("pipeline_noaug", "directory_rgb", None),
    ("pipeline_aug", "directory_rgb", None),
    ("pipeline_noaug", "pickle", None),
    ("pipeline_aug", "pickle", None),
)


def _contenders():
  return [(k, w) for k, w, *_ in _PIPELINES] + list(_BASELINES)


def _epoch_words(epoch: str) -> str:
  return f"epoch {epoch[-1]}"


def _ratio_key(numerator: str, denominator: str, epoch: str) -> str:
  return f"ratio_{numerator}_vs_{denominator}_{epoch}"


def row_specs() -> list[report.Spec]:
  names = dict(_contenders())
  specs = []
  for image_set, set_words in _SETS:
    specs += [report.Spec(f"input/{image_set}/{key}_{epoch}", SECTION,
                          f"{set_words}: {words}, {_epoch_words(epoch)}",
                          "examples/s")
              for key, words in _contenders() for epoch in EPOCHS]
    specs += [report.Spec(
        f"input/{image_set}/{_ratio_key(n, d, epoch)}", SECTION,
        f"{set_words}: {names[n]} / {names[d]}, {_epoch_words(epoch)}", "x",
        target if image_set == "originals" else None)
              for n, d, target in _RATIOS for epoch in EPOCHS]
  return specs


def _drain(dataset) -> int:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  count = 0
  for batch in dataset:
    # The inputs may be nested, (images, seeds) with augmentation on the
    # device, or a batch may be records alone (section 8).
    inputs = batch[0] if isinstance(batch, tuple) else batch
    count += int(tf.nest.flatten(inputs)[0].shape[0])
  return count


def two_epochs(make) -> tuple[float, float, int]:
  """(epoch 1 examples/s, epoch 2 examples/s, count) of a fresh dataset."""
  dataset = make()
  start = time.perf_counter()
  count = _drain(dataset)
  middle = time.perf_counter()
  again = _drain(dataset)
  end = time.perf_counter()
  if again != count:
    raise RuntimeError(f"epoch 2 gave {again} examples, epoch 1 {count}")
  del dataset
  gc.collect()
  return (stats.rate(count, middle - start), stats.rate(count, end - middle),
          count)


def _originals(config: config_lib.BenchConfig) -> tuple[str, str, list[str]]:
  """(dataset, data_dir, train source files) of the Kermany originals build."""
  work = os.path.join(config.work_dir, "input_originals")
  manual_dir, _ = data.kermany_manual_dir(
      config.shared_data, os.path.join(work, "manual"),
      config.build_per_folder)
  data_dir = os.path.join(work, "data")
  builder = data.build(manual_dir, data_dir, data.kermany_config())
  return (f"pneumonia_xray/{data.KERMANY_CONFIG_NAME}", data_dir,
          data.split_files(builder, "train", manual_dir))


def baseline_files(paths: list[str], work: str) -> tuple[str, str]:
  """(folder tree for the directory loader, the blog's pickle folder) of
  `paths`, made under `work`, the files' pages warmed in the page cache."""
  data.warm_page_cache(paths)
  directory = data.link_tree(paths, os.path.join(work, "jpegs"))
  pickle_dir = baselines.blog_prepare(paths, data.IMAGE_SIZE,
                                      os.path.join(work, "pickle"))
  return directory, pickle_dir


def _measure(config: config_lib.BenchConfig, dataset: str, data_dir: str,
             paths: list[str], work: str, repeats: int):
  """{(contender, epoch): [examples/s per repeat]}, {contender: count}."""
  # pylint: disable=g-import-not-at-top
  from pipeline import augment as augment_lib
  from pipeline import input as input_lib
  # pylint: enable=g-import-not-at-top

  directory, pickle_dir = baseline_files(paths, work)
  shuffle_buffer = input_lib.InputConfig().shuffle_buffer

  def pipeline(augment, cache):
    input_config = input_lib.InputConfig(
        dataset=dataset, data_dir=data_dir,
        global_batch_size=config.batch_size, cache=cache,
        augment=augment_lib.AugmentConfig() if augment else None)
    return lambda: input_lib.make_for_train(input_config)

  makers = {key: pipeline(augment, cache)
            for key, _, augment, cache in _PIPELINES}
  for key, color_mode in (("directory", "grayscale"), ("directory_rgb",
                                                       "rgb")):
    makers[key] = lambda color_mode=color_mode: baselines.directory_dataset(
        directory, data.IMAGE_SIZE, config.batch_size, color_mode=color_mode)
  makers["pickle"] = lambda: baselines.pickle_dataset(
      pickle_dir, config.batch_size, shuffle_buffer)

  rates, counts = time_contenders(makers, repeats)
  shutil.rmtree(work, ignore_errors=True)
  return rates, counts


def time_contenders(makers: dict, repeats: int):
  """{(contender, epoch): [examples/s per repeat]}, {contender: count} of
  `two_epochs` of each maker, every contender back to back in each repeat."""
  # Untimed warm-up: imports, graph tracing and file reads of every kind.
  for make in makers.values():
    _drain(make().take(2))
  rates = {(key, epoch): [] for key in makers for epoch in EPOCHS}
  counts = {}
  keys = list(makers)
  for repeat in range(repeats):
    # Rotated, so no contender always runs first or right after another.
    shift = repeat % len(keys)
    for key in keys[shift:] + keys[:shift]:
      first, second, counts[key] = two_epochs(makers[key])
      rates[key, "epoch1"].append(first)
      rates[key, "epoch2"].append(second)
  return rates, counts


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  values = {}
  for image_set, _ in _SETS:
    if image_set == "originals":
      dataset, data_dir, paths = _originals(config)
      repeats = config.originals_repeats
    else:
      (data_dir, _), dataset = small.get(), small.dataset
      paths = small.train_files()
      repeats = config.repeats
    rates, counts = _measure(config, dataset, data_dir, paths,
                             os.path.join(config.work_dir, "input",
                                          image_set), repeats)
    for key, _ in _contenders():
      for epoch in EPOCHS:
        values[f"{image_set}/{key}_{epoch}"] = (
            stats.Stat.of(rates[key, epoch]),
            f"{counts[key]} examples, {repeats} repeats")
    for numerator, denominator, _ in _RATIOS:
      for epoch in EPOCHS:
        values[f"{image_set}/{_ratio_key(numerator, denominator, epoch)}"] = (
            stats.paired_ratio(rates[numerator, epoch],
                               rates[denominator, epoch]),
            "per-repeat ratio")
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
