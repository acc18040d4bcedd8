"""What the project is measured against. Benchmark-only code: nothing outside
bench/ may use it.

* The blog post's preparation (HeeebsInc/NN_Pneumonia_Detection,
  Train_Test.ipynb `get_image_value`/`get_data`): Keras `load_img` with a
  target size (RGB, nearest-neighbour resize), `img_to_array` / 255, a list
  stacked with `np.array`, then `pickle.dump` of the arrays. Here at 204x204
  instead of the notebook's 28x28, and only into files the benchmark writes
  itself.
* That pickle loaded back into `tf.data.Dataset.from_tensor_slices`.
* `keras.utils.image_dataset_from_directory` over the raw JPEGs.
* The decode floor: Pillow's reduced-size JPEG decode (`draft`) plus the
  resize to 204x204, nothing written: what any build must at least do.
"""

import multiprocessing
import os
import pickle
from typing import Sequence

import numpy as np
from PIL import Image

from bench import data


def blog_arrays(paths: Sequence[str], size: int) -> tuple[np.ndarray,
                                                          np.ndarray]:
  """(x float32 (N, size, size, 3) in [0, 1], y int) the blog's way."""
  import keras  # pylint: disable=g-import-not-at-top

  images = []
  for path in paths:
    image = keras.utils.load_img(path, target_size=(size, size))
    images.append(keras.utils.img_to_array(image) / 255)
  labels = np.array([data.label_of(p) for p in paths])
  return np.array(images), labels


def blog_prepare(paths: Sequence[str], size: int, out_dir: str) -> str:
  """The blog's preparation end to end: decode, stack, pickle.dump.

  Returns the folder holding x.p and y.p.
  """
  x, y = blog_arrays(paths, size)
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "x.p"), "wb") as f:
    pickle.dump(x, f)
  with open(os.path.join(out_dir, "y.p"), "wb") as f:
    pickle.dump(y, f)
  return out_dir


def blog_load(pickle_dir: str) -> tuple[np.ndarray, np.ndarray]:
  with open(os.path.join(pickle_dir, "x.p"), "rb") as f:
    x = pickle.load(f)
  with open(os.path.join(pickle_dir, "y.p"), "rb") as f:
    y = pickle.load(f)
  return x, y


def pickle_dataset(pickle_dir: str, batch_size: int, shuffle_buffer: int,
                   seed: int = 0):
  """The pickle loaded back: from_tensor_slices -> shuffle -> batch -> prefetch
  (the same shuffle buffer and batch size as the project's pipeline)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  x, y = blog_load(pickle_dir)
  dataset = tf.data.Dataset.from_tensor_slices((x, y))
  dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                            reshuffle_each_iteration=True)
  return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def directory_dataset(directory: str, size: int, batch_size: int,
                      seed: int = 0, color_mode: str = "grayscale"):
  """keras.utils.image_dataset_from_directory at size x size.

  Grayscale by default, like the pipeline's output, so both produce the same
  tensors; color_mode="rgb" is the loader's own default (more work).
  """
  import keras  # pylint: disable=g-import-not-at-top

  return keras.utils.image_dataset_from_directory(
      directory, image_size=(size, size), batch_size=batch_size,
      color_mode=color_mode, seed=seed, verbose=False)


def floor_one(path: str, size: int = data.IMAGE_SIZE) -> tuple[int, int]:
  """Reduced-size decode + resize of one file, nothing kept."""
  with Image.open(path) as image:
    image.draft("L", (size, size))
    image = image.convert("L")
    return image.resize((size, size), Image.Resampling.BILINEAR).size


def decode_floor(paths: Sequence[str], processes: int) -> int:
  """floor_one over every path in `processes` forked processes (1: in this
  one), as the builder's pool maps its decode; returns the count."""
  if processes <= 1:
    return sum(1 for _ in map(floor_one, paths))
  with multiprocessing.get_context("fork").Pool(processes) as pool:
    return sum(1 for _ in pool.imap(floor_one, paths, chunksize=4))
