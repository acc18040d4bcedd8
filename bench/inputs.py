"""Section 2: examples/s of the training input, epoch 1 and epoch 2.

All contenders serve the train split of a small_gray_204 build of
chest_xray_small (the same files: the other two read exactly the source files
of that split's examples), batch 32, and run back to back in every repeat:

  pipeline     pipeline.input.make_for_train: records -> decode -> [cache]
               -> shuffle -> [augment] -> batch -> prefetch; with augmentation
               off and default (AugmentConfig()), cache on (the trainer's
               default) and off.
  directory    keras.utils.image_dataset_from_directory(image_size=(204, 204))
               over the JPEGs (grayscale, as the pipeline's output).
  pickle       the blog's pickle (RGB float32, written by this section) loaded
               back with pickle.load into Dataset.from_tensor_slices, shuffled
               with the same buffer, batched, prefetched.

Epoch 1 includes making the dataset (reading the TFDS metadata, listing the
folder, or loading the pickle); epoch 2 iterates the same dataset again, so a
cache pays off there.
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

_PIPELINES = (
    # (key, words, augment, cache)
    ("pipeline_noaug_cache", "pipeline, no augmentation, cache on", False,
     True),
    ("pipeline_aug_cache", "pipeline, default augmentation, cache on", True,
     True),
    ("pipeline_noaug_nocache", "pipeline, no augmentation, cache off", False,
     False),
    ("pipeline_aug_nocache", "pipeline, default augmentation, cache off",
     True, False),
)
_BASELINES = (
    ("directory", "image_dataset_from_directory"),
    ("pickle", "pickle -> from_tensor_slices"),
)
# (numerator, denominator, target): one ratio row per epoch.
_RATIOS = (
    ("pipeline_noaug_cache", "directory", report.Target(">=", 15.0)),
    ("pipeline_aug_cache", "directory", report.Target(">=", 5.0)),
    ("pipeline_noaug_nocache", "directory", None),
    ("pipeline_aug_nocache", "directory", None),
    ("pipeline_noaug_cache", "pickle", None),
    ("pipeline_aug_cache", "pickle", None),
)


def _contenders():
  return [(k, w) for k, w, *_ in _PIPELINES] + list(_BASELINES)


def _epoch_words(epoch: str) -> str:
  return f"epoch {epoch[-1]}"


def _ratio_key(numerator: str, denominator: str, epoch: str) -> str:
  return f"ratio_{numerator}_vs_{denominator}_{epoch}"


def row_specs() -> list[report.Spec]:
  specs = [report.Spec(f"input/{key}_{epoch}", SECTION,
                       f"{words}, {_epoch_words(epoch)}", "examples/s")
           for key, words in _contenders() for epoch in EPOCHS]
  names = dict(_contenders())
  specs += [report.Spec(f"input/{_ratio_key(n, d, epoch)}", SECTION,
                        f"{names[n]} / {names[d]}, {_epoch_words(epoch)}",
                        "x", target)
            for n, d, target in _RATIOS for epoch in EPOCHS]
  return specs


def _drain(dataset) -> int:
  count = 0
  for batch in dataset:
    count += int(batch[0].shape[0])
  return count


def _two_epochs(make) -> tuple[float, float, int]:
  """(epoch 1 examples/s including make(), epoch 2 examples/s, count)."""
  start = time.perf_counter()
  dataset = make()
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


def run(config: config_lib.BenchConfig,
        small: data.SmallBuild) -> list[report.Row]:
  # pylint: disable=g-import-not-at-top
  from pipeline import augment as augment_lib
  from pipeline import input as input_lib
  # pylint: enable=g-import-not-at-top

  data_dir, _ = small.get()
  paths = small.train_files()
  data.warm_page_cache(paths)
  work = os.path.join(config.work_dir, "input")
  directory = data.link_tree(paths, os.path.join(work, "train_jpegs"))
  pickle_dir = baselines.blog_prepare(paths, data.IMAGE_SIZE,
                                      os.path.join(work, "pickle"))
  shuffle_buffer = input_lib.InputConfig().shuffle_buffer

  def pipeline(augment, cache):
    input_config = input_lib.InputConfig(
        dataset=small.dataset, data_dir=data_dir,
        global_batch_size=config.batch_size, cache=cache,
        augment=augment_lib.AugmentConfig() if augment else None)
    return lambda: input_lib.make_for_train(input_config)

  makers = {key: pipeline(augment, cache)
            for key, _, augment, cache in _PIPELINES}
  makers["directory"] = lambda: baselines.directory_dataset(
      directory, data.IMAGE_SIZE, config.batch_size)
  makers["pickle"] = lambda: baselines.pickle_dataset(
      pickle_dir, config.batch_size, shuffle_buffer)

  # Untimed warm-up: imports, graph tracing and file reads of every kind.
  for make in makers.values():
    _drain(make().take(2))
  rates = {(key, epoch): [] for key in makers for epoch in EPOCHS}
  counts = {}
  keys = list(makers)
  for repeat in range(config.repeats):
    shift = repeat % len(keys)
    for key in keys[shift:] + keys[:shift]:
      first, second, counts[key] = _two_epochs(makers[key])
      rates[key, "epoch1"].append(first)
      rates[key, "epoch2"].append(second)
  shutil.rmtree(work, ignore_errors=True)

  values = {}
  for key, _ in _contenders():
    for epoch in EPOCHS:
      values[f"{key}_{epoch}"] = (
          stats.Stat.of(rates[key, epoch]),
          f"{counts[key]} examples, {config.repeats} repeats")
  for numerator, denominator, _ in _RATIOS:
    for epoch in EPOCHS:
      values[_ratio_key(numerator, denominator, epoch)] = (
          stats.paired_ratio(rates[numerator, epoch],
                             rates[denominator, epoch]), "per-repeat ratio")
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
