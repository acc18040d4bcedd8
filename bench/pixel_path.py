"""Does a model trained on chest_xray_small hold on the full-size originals?

chest_xray_small's images reached 224 px through a third party's downscale
and JPEG, then the build's fit to 204 px and its JPEG q95; an original
reaches 204 px through the build alone. A model that learnt the first path
can score the second differently. This compares, for one finished run on
small_gray_204 (calibrated and thresholded by trainer.evaluate):

  in-distribution  the run's test split (records, as trainer.evaluate
                   scores them);
  originals        the shared full-resolution Kermany originals
                   (../shared/data/chest_xray) whose patients are in the
                   test split and in neither the training nor the
                   validation split, scored from their files by
                   trainer.prediction (as `trainer.predict` does).
ROC-AUC, sensitivity and specificity at the run's saved (validation-chosen)
threshold and ECE, with 95% intervals resampling patients; and, for the
originals whose 224 px copy is in the test split, the score difference
between the two copies of one film.

  python -m bench.pixel_path --model_dir=RUN --data_dir=TFDS_DIR \\
      [--shared_data=../shared/data] [--output=bench/results/pixel_path.md]
"""

import io
import os
import sys
import tempfile
from typing import Any, Callable

from absl import app
from absl import flags
import numpy as np

FLAGS = flags.FLAGS


def _shrink(factor: int, method: int) -> Callable:
  return lambda image: image.resize(
      (max(1, image.width // factor), max(1, image.height // factor)), method)


def _recipes() -> dict[str, tuple[Callable, dict]]:
  """Other ways a user's file may have been made from the same film:
  name -> (Pillow image -> image, save options)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from PIL import ImageFilter  # pylint: disable=g-import-not-at-top
  return {
      "shrunk 4x (nearest), JPEG q50": (
          _shrink(4, Image.Resampling.NEAREST),
          {"format": "JPEG", "quality": 50}),
      "shrunk 6x (box), JPEG q30": (
          _shrink(6, Image.Resampling.BOX), {"format": "JPEG", "quality": 30}),
      "Gaussian blur 2 px, JPEG q70": (
          lambda image: image.filter(ImageFilter.GaussianBlur(2)),
          {"format": "JPEG", "quality": 70}),
      "unsharp mask (2 px, 150%), PNG": (
          lambda image: image.filter(ImageFilter.UnsharpMask(2, 150, 0)),
          {"format": "PNG"}),
  }


def remade_files(paths: list[str], folder: str) -> dict[str, list[str]]:
  """Each recipe's copies of `paths`, written under `folder`."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  made = {}
  for r, (name, (change, options)) in enumerate(_recipes().items()):
    made[name] = []
    for i, path in enumerate(paths):
      with Image.open(path) as image:
        changed = change(image.convert("L"))
      buffer = io.BytesIO()
      changed.save(buffer, **options)
      target = os.path.join(folder, f"{r}_{i}.{options['format'].lower()}")
      with open(target, "wb") as f:
        f.write(buffer.getvalue())
      made[name].append(target)
  return made


def _scores(trained, paths: list[str], batch_size: int) -> np.ndarray:
  from trainer import prediction  # pylint: disable=g-import-not-at-top
  scores, errors = prediction.score_paths(trained, paths, batch_size)
  unreadable = [(p, e) for p, e in zip(paths, errors) if e]
  if unreadable:
    raise RuntimeError(f"could not score {unreadable[0][0]}: "
                       f"{unreadable[0][1]}")
  return scores


def test_patient_originals(builder, shared_data: str) -> list[str]:
  """Kermany originals of patients that only the test split holds."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from pneumonia_tfds.sources import kermany  # pylint: disable=g-import-not-at-top

  def patients(split: str) -> set[str]:
    dataset = builder.as_dataset(
        split=split, decoders=tfds.decode.PartialDecoding(
            {"patient_id": True}))
    return {x["patient_id"].decode() for x in tfds.as_numpy(dataset)}

  only_test = patients("test") - patients("train") - patients("validation")
  root = os.path.join(shared_data, "chest_xray")
  found = []
  for folder, _, names in sorted(os.walk(root)):
    for name in sorted(names):
      if name.lower().endswith(".jpeg") and (
          kermany.patient_id(name) in only_test):
        found.append(os.path.join(folder, name))
  return found


def _film(path: str) -> str:
  return "/".join(path.split("/")[-3:])


def _figures(label, scores, groups, threshold: float,
             n_resamples: int) -> dict[str, Any]:
  from trainer import bootstrap  # pylint: disable=g-import-not-at-top
  from trainer import metrics  # pylint: disable=g-import-not-at-top
  label, scores = np.asarray(label), np.asarray(scores)

  def statistic(i):
    values = metrics.binary_metrics(label[i], scores[i], threshold)
    values["ece"] = metrics.calibration_summary(label[i], scores[i])["ece"]
    return {k: values[k] for k in ("roc_auc", "sensitivity", "specificity",
                                   "ece")}

  return {"n": int(label.size), "n_positive": int(label.sum()),
          "n_patients": int(np.unique(groups).size),
          **bootstrap.confidence_intervals(statistic, groups,
                                           n_resamples=n_resamples)}


def measure(model_dir: str, data_dir: str, shared_data: str,
            n_resamples: int = 1000, batch_size: int = 32) -> dict[str, Any]:
  """The two sets' figures, and the paired score differences."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from pneumonia_tfds.sources import kermany  # pylint: disable=g-import-not-at-top
  from trainer import run_dir  # pylint: disable=g-import-not-at-top
  from trainer import split_scores  # pylint: disable=g-import-not-at-top
  trained = run_dir.load(model_dir)
  choice = trained.saved_threshold()
  if choice is None:
    raise ValueError(f"{model_dir} has no threshold: run trainer.evaluate")
  config = split_scores.eval_input_config(trained, None, data_dir, batch_size)
  test = split_scores.predict_split(trained, config, "test",
                                    trained.calibration)
  builder = tfds.builder(config.dataset, data_dir=config.data_dir)
  paths = test_patient_originals(builder, shared_data)
  scores = _scores(trained, paths, batch_size)
  label = np.asarray([int("/PNEUMONIA/" in p) for p in paths])
  groups = np.asarray([kermany.patient_id(os.path.basename(p)) for p in paths])
  # A film and its 224 px copy share <folder>/<CLASS>/<name>; Kermany's
  # folders reuse names, so the folder is part of the key.
  copies = {_film(name): i for i, name in enumerate(test.file_name)}
  both = [i for i, p in enumerate(paths) if _film(p) in copies]
  copy_index = [copies[_film(paths[i])] for i in both]
  paired = np.stack([scores[both], test.scores[copy_index]], axis=1)
  t = choice.threshold
  remade = {}
  with tempfile.TemporaryDirectory() as folder:
    for name, files in remade_files(paths, folder).items():
      changed = _scores(trained, files, batch_size)
      remade[name] = {
          **_figures(label, changed, groups, t, n_resamples),
          "median_abs_difference": float(np.median(np.abs(changed - scores))),
          "max_abs_difference": float(np.max(np.abs(changed - scores))),
          "calls_differ": int(np.sum((changed >= t) != (scores >= t)))}
  return {
      "model_dir": os.path.abspath(model_dir), "threshold": t,
      "threshold_split": choice.split, "temperature": trained.temperature,
      "in_distribution": _figures(test.label, test.scores, test.patient_group,
                                  t, n_resamples),
      "originals": _figures(label, scores, groups, t, n_resamples),
      # The same films as 224 px copies: what the originals' figures would
      # be if the pixel path did not matter (the sample is the same).
      "copies_of_the_same_films": _figures(
          test.label[copy_index], test.scores[copy_index],
          test.patient_group[copy_index], t, n_resamples),
      "paired": {
          "n": int(len(paired)),
          "median_abs_difference": float(np.median(np.abs(
              paired[:, 0] - paired[:, 1]))) if len(paired) else None,
          "max_abs_difference": float(np.max(np.abs(
              paired[:, 0] - paired[:, 1]))) if len(paired) else None,
          "calls_differ": int(np.sum((paired[:, 0] >= t) !=
                                     (paired[:, 1] >= t))) if len(paired)
                          else None},
      "remade": remade,
  }


def _cell(entry: dict) -> str:
  if entry["ci_low"] is None or np.isnan(entry["ci_low"]):
    return f"{entry['value']:.3f}"
  return f"{entry['value']:.3f} [{entry['ci_low']:.3f}–{entry['ci_high']:.3f}]"


def to_markdown(result: dict[str, Any]) -> str:
  rows = ["| scored | images (pneumonia) | patients | ROC-AUC | sensitivity | "
          "specificity | ECE |", "| --- | --- | --- | --- | --- | --- | --- |"]
  for key, words in (("in_distribution", "test split (224 px copies)"),
                     ("originals", "originals of test-split patients"),
                     ("copies_of_the_same_films",
                      "the same films' 224 px copies")):
    f = result[key]
    rows.append(f"| {words} | {f['n']} ({f['n_positive']}) | "
                f"{f['n_patients']} | " + " | ".join(
                    _cell(f[m]) for m in ("roc_auc", "sensitivity",
                                          "specificity", "ece")) + " |")
  d = (result["originals"]["specificity"]["value"]
       - result["in_distribution"]["specificity"]["value"])
  paired = result["paired"]
  rows += ["", f"Threshold {result['threshold']:.4g} (chosen on "
           f"{result['threshold_split']}), temperature "
           f"{result['temperature']}. Specificity originals − in-distribution: "
           f"{d:+.3f}. Films scored as both copies: {paired['n']}, median "
           f"|ΔP| {paired['median_abs_difference']:.3g} (max "
           f"{paired['max_abs_difference']:.3g}), calls that differ "
           f"{paired['calls_differ']}."]
  rows += ["", "The same originals remade another way, scored from the files "
           "(ΔP: absolute difference from the original's score):", "",
           "| remade as | ROC-AUC | sensitivity | specificity | ECE | median "
           "ΔP | max ΔP | calls that differ |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for name, f in result["remade"].items():
    rows.append(f"| {name} | " + " | ".join(
        _cell(f[m]) for m in ("roc_auc", "sensitivity", "specificity", "ece"))
                + f" | {f['median_abs_difference']:.3g} | "
                f"{f['max_abs_difference']:.3g} | {f['calls_differ']} of "
                f"{f['n']} |")
  return "\n".join(rows) + "\n"


def main(argv) -> None:
  del argv
  result = measure(FLAGS.model_dir, FLAGS.data_dir, FLAGS.shared_data,
                   FLAGS.bootstrap)
  text = to_markdown(result)
  print(text)
  if FLAGS.output:
    with open(FLAGS.output, "w", encoding="utf-8") as f:
      f.write(f"# Pixel path: {result['model_dir']}\n\n" + text)


if __name__ == "__main__":
  flags.DEFINE_string("model_dir", None, "A run on small_gray_204, evaluated.",
                      required=True)
  flags.DEFINE_string("data_dir", None, "TFDS data_dir; default the run's.")
  flags.DEFINE_string("shared_data", os.environ.get(
      "PNEUMONIA_SHARED_DATA", "../shared/data"), "The shared data folder.")
  flags.DEFINE_integer("bootstrap", 1000, "Patient bootstrap resamples.")
  flags.DEFINE_string("output", None, "Also write the table here.")
  sys.exit(app.run(main))
