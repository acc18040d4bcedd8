"""A model's scores over a dataset split, with each example's metadata.

Scores are the model's outputs read through a calibration (see
trainer.calibration and trainer.scores); the raw outputs are kept beside
them, for the before/after comparison of the report.

The images go through pipeline.input.make_for_eval, the training
preprocessing without augmentation, in stored order; patient groups (which
the pipeline does not yield) are read alongside and checked to line up.
"""

import csv
import dataclasses
import io
from typing import Optional

import numpy as np
import tensorflow_datasets as tfds

from pipeline import input as input_lib
from pneumonia_tfds import labels
from trainer import calibration as calibration_lib
from trainer import run_dir
from trainer import scores as scores_lib
from trainer import storage

PREDICTIONS_FILENAME = "predictions.csv"


@dataclasses.dataclass(frozen=True)
class Predictions:
  """Model outputs and metadata of one split, in stored order."""
  probabilities: np.ndarray  # (N, K) class probabilities (K = 2 for binary)
  scores: np.ndarray  # (N,) P(pneumonia)
  label: np.ndarray  # (N,) 0 normal, 1 pneumonia
  pneumonia_type: np.ndarray  # (N,) type ids
  source: np.ndarray  # (N,) str
  view: np.ndarray
  patient_id: np.ndarray
  patient_group: np.ndarray
  file_name: np.ndarray
  raw_probabilities: np.ndarray  # (N, K) before calibration
  class_names: tuple[str, ...]
  temperature: Optional[float] = None  # of `probabilities`; None: raw

  @property
  def raw_scores(self) -> np.ndarray:
    return scores_lib.positive(self.raw_probabilities, self.class_names)

  def calibrated(self, calibration: Optional[calibration_lib.Calibration]
                 ) -> "Predictions":
    """The same predictions read through `calibration` (None: raw)."""
    probabilities = (self.raw_probabilities if calibration is None
                     else calibration.apply(self.raw_probabilities))
    return dataclasses.replace(
        self, probabilities=probabilities,
        scores=scores_lib.positive(probabilities, self.class_names),
        temperature=None if calibration is None else calibration.temperature)


def eval_input_config(trained: run_dir.TrainedModel, dataset: Optional[str],
                      data_dir: Optional[str],
                      batch_size: int) -> input_lib.InputConfig:
  """The run's input, read in stored order without augmentation."""
  run = trained.config
  return input_lib.InputConfig(
      dataset=dataset or run.dataset,
      data_dir=data_dir if data_dir is not None else run.data_dir,
      image_size=run.image_size, channels=run.channels, target=run.target,
      global_batch_size=batch_size, augment=None, balance="none",
      cache=False, seed=run.seed, autotune=run.tf_data_autotune)


def dataset_version(config: input_lib.InputConfig) -> str:
  """The version of the TFDS dataset `config` reads."""
  return str(tfds.builder(config.dataset, data_dir=config.data_dir).version)


def _text(values) -> np.ndarray:
  return np.asarray([v.decode("utf-8") if isinstance(v, bytes) else str(v)
                     for v in values], dtype=object)


def _patient_groups(config: input_lib.InputConfig, split: str) -> tuple[
    np.ndarray, np.ndarray]:
  """(file_name, patient_group) of `split` in stored order, images unread.

  make_for_eval yields no patient_group, so it is read here in the same
  stored order (shuffle_files=False) and checked against file_name.
  """
  builder = tfds.builder(config.dataset, data_dir=config.data_dir)
  dataset = builder.as_dataset(
      split=split, shuffle_files=False,
      decoders=tfds.decode.PartialDecoding(
          {"file_name": True, "patient_group": True}),
      read_config=tfds.ReadConfig(try_autocache=False))
  names, groups = [], []
  for batch in tfds.as_numpy(dataset.batch(4096)):
    names.extend(batch["file_name"])
    groups.extend(batch["patient_group"])
  return _text(names), _text(groups)


def predict_split(trained: run_dir.TrainedModel,
                  config: input_lib.InputConfig, split: str,
                  calibration: Optional[calibration_lib.Calibration] = None
                  ) -> Predictions:
  """Runs the model over `split` with the training preprocessing; scores
  read through `calibration` (None: the raw outputs)."""
  dataset = input_lib.make_for_eval(config, split, with_metadata=True)
  outputs, meta = [], {key: [] for key in input_lib.METADATA_KEYS}
  for images, _, metadata in dataset:
    outputs.append(trained.model.predict_on_batch(images))
    for key in meta:
      meta[key].extend(metadata[key].numpy())
  if not outputs:
    raise ValueError(f"split {split!r} of {config.dataset} is empty")
  names, groups = _patient_groups(config, split)
  file_names = _text(meta["file_name"])
  if not np.array_equal(names, file_names):
    raise RuntimeError(f"patient groups of {split!r} could not be aligned with "
                       "the evaluation pipeline's examples")
  probabilities = scores_lib.probabilities(np.concatenate(outputs))
  raw = Predictions(
      probabilities=probabilities,
      scores=scores_lib.positive(probabilities, trained.class_names),
      label=np.asarray(meta["label"], np.int64),
      pneumonia_type=np.asarray(meta["pneumonia_type"], np.int64),
      source=_text(meta["source"]), view=_text(meta["view"]),
      patient_id=_text(meta["patient_id"]), patient_group=groups,
      file_name=file_names, raw_probabilities=probabilities,
      class_names=tuple(trained.class_names))
  return raw.calibrated(calibration) if calibration else raw


def write_predictions(p: Predictions, class_names: tuple[str, ...],
                      threshold: float, path: str) -> str:
  """One row per example: metadata, P(pneumonia), call, class probabilities
  (calibrated, to four significant digits; the call is made at full
  precision)."""
  type_names = labels.PNEUMONIA_TYPES
  extra = list(class_names) if len(class_names) > 2 else []
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(["file_name", "source", "view", "patient_id",
                   "patient_group", "label", "pneumonia_type", "p_pneumonia",
                   "called_pneumonia"] + [f"p_{name}" for name in extra])
  for i in range(p.label.size):
    writer.writerow(
        [p.file_name[i], p.source[i], p.view[i], p.patient_id[i],
         p.patient_group[i], "pneumonia" if p.label[i] else "normal",
         type_names[p.pneumonia_type[i]], scores_lib.as_text(p.scores[i]),
         int(p.scores[i] >= threshold)]
        + [scores_lib.as_text(v)
           for v in (p.probabilities[i] if extra else [])])
  return storage.write_text(path, text.getvalue())
