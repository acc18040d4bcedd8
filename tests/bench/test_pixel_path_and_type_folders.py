"""bench.pixel_path's choice of originals and bench.type_folders, on the
shared Kermany files."""

import os

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from bench import pixel_path
from bench import type_folders
from pneumonia_tfds.sources import kermany


class _Builder:
  """as_dataset of a builder whose splits hold the given patient ids."""

  def __init__(self, splits: dict[str, list[str]]):
    self._splits = splits

  def as_dataset(self, split, decoders=None):
    del decoders
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.data.Dataset.from_tensor_slices(
        {"patient_id": self._splits[split]})


def test_only_originals_of_patients_only_in_test_are_scored(shared_data):
  names = sorted(os.listdir(shared_data / "chest_xray" / "test" / "PNEUMONIA"))
  test_ids = [kermany.patient_id(name) for name in names[:6]]
  # The first test patient is also in train: its films are not "unseen".
  builder = _Builder({"test": test_ids, "train": test_ids[:1],
                      "validation": ["kermany:nobody"]})
  found = pixel_path.test_patient_originals(builder, os.fspath(shared_data))
  ids = {kermany.patient_id(os.path.basename(p)) for p in found}
  assert ids == set(test_ids[1:])
  # Every film of those patients, in any folder of chest_xray/.
  on_disk = [p for p in (shared_data / "chest_xray").rglob("*.jpeg")
             if kermany.patient_id(p.name) in ids]
  assert sorted(found) == sorted(os.fspath(p) for p in on_disk)


def test_figures_resample_patients():
  rng = np.random.default_rng(0)
  label = np.repeat([0, 1, 0, 1, 1, 0, 1, 0], 3)
  scores = np.clip(0.5 * label + 0.5 * rng.random(label.size), 0, 1)
  groups = np.repeat(np.arange(8), 3)
  f = pixel_path._figures(label, scores, groups, 0.5, n_resamples=50)
  assert f["n"] == 24 and f["n_patients"] == 8 and f["n_positive"] == 12
  assert f["roc_auc"]["value"] == pytest.approx(
      sk_metrics.roc_auc_score(label, scores))
  assert f["roc_auc"]["ci_low"] <= f["roc_auc"]["value"] <= (
      f["roc_auc"]["ci_high"])


def test_type_folders_auc_is_that_of_the_property(shared_data):
  root = shared_data / "chest_xray"
  result = type_folders.folder_aucs(os.fspath(root), "train")
  films = sorted((root / "train" / "PNEUMONIA").glob("person*"))
  viral = [int("_virus_" in p.name) for p in films]
  sizes = [os.path.getsize(p) for p in films]
  assert (result["n"], result["n_viral"]) == (len(films), sum(viral))
  assert result["bytes"] == pytest.approx(sk_metrics.roc_auc_score(viral,
                                                                   sizes))
  assert set(type_folders.PROPERTIES) <= set(result)
  assert "| chest_xray | train/ |" in type_folders.to_markdown(
      [("chest_xray", "train", result)])
