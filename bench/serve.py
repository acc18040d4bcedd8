"""Section 7: images/s of the serving model against the predict job.

Both score the shared originals (286 Kermany JPEGs, 146 ieee8023 JPEGs and
PNGs, 432 files, 1-18 MP) from their encoded bytes, batch 32, with the
trainer's default model (small_resnet, 204x204 grayscale, gray_204's stored
geometry), untrained: the weights do not change the cost.

  serving_default  tf.saved_model.load(saved_model).signatures[
                   "serving_default"] on the files' bytes: decoding, fit and
                   the stored JPEG round trip in the graph, then the model.
  predict job      trainer.predict.predict(files, model_dir, csv): Pillow
                   decode and fit, the TFDS decode, the model, the CSV.
Reading the files is timed in both. One untimed warm-up round (tracing, the
page cache), then `repeats` rounds in alternating order. The parity row is
the largest |P(serving) - P(predict)| over the files of the last round.
"""

import os

from bench import config as config_lib
from bench import data
from bench import report
from bench import stats

SECTION = "7 serving"
BATCH = 32


def row_specs() -> list[report.Spec]:
  return [
      report.Spec("serve/serving_default", SECTION,
                  "serving_default on encoded originals", "images/s"),
      report.Spec("serve/predict_job", SECTION,
                  "trainer.predict on the same files", "images/s"),
      report.Spec("serve/ratio_serving_vs_predict", SECTION,
                  "serving_default / predict job", "x"),
      report.Spec("serve/max_abs_dp", SECTION,
                  "max |P(serving) - P(predict)| over the files", "|dp|",
                  report.Target("<=", 0.01)),
  ]


def _files(config: config_lib.BenchConfig) -> list[str]:
  kermany = data.class_files(os.path.join(config.shared_data, data.KERMANY),
                             data.KERMANY_SPLITS)
  images = os.path.join(config.shared_data, "covid-chestxray-dataset",
                        "images")
  ieee = sorted(os.path.join(images, name) for name in os.listdir(images))
  files = kermany + ieee
  return files[::20] if config.quick else files


def _run_dir(work_dir: str) -> str:
  """A run folder holding the default model, exported as training does."""
  # pylint: disable=g-import-not-at-top
  import keras
  from trainer import config as trainer_config
  from trainer import export
  from trainer import models
  from trainer import run_dir

  model_dir = os.path.join(work_dir, "serve_run")
  config = trainer_config.TrainConfig(model_dir=model_dir).validate()
  class_names = ("normal", "pneumonia")
  os.makedirs(model_dir, exist_ok=True)
  run_dir.write_config(config, model_dir)
  run_dir.write_class_names(class_names, model_dir)
  keras.utils.set_random_seed(0)
  model = models.build_model(config.model, config.image_size,
                             config.channels, len(class_names))
  model.save(run_dir.path(model_dir, run_dir.BEST_MODEL))
  export.export_best(model, model_dir,
                     export.serving_spec(config, class_names))
  return model_dir


def run(config: config_lib.BenchConfig, small=None) -> list[report.Row]:
  del small  # this section reads the shared originals only
  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf
  from trainer import predict
  from trainer import run_dir

  files = _files(config)
  model_dir = _run_dir(config.work_dir)
  signature = tf.saved_model.load(run_dir.path(
      model_dir, run_dir.SAVED_MODEL)).signatures["serving_default"]
  csv_path = os.path.join(config.work_dir, "serve_scores.csv")

  def serve():
    scores = []
    for start in range(0, len(files), BATCH):
      data = []
      for path in files[start:start + BATCH]:
        with open(path, "rb") as f:
          data.append(f.read())
      scores += signature(image_bytes=tf.constant(data))[
          "p_pneumonia"].numpy().tolist()
    return scores

  def predict_job():
    rows = predict.predict(files, model_dir, csv_path, batch_size=BATCH)
    return [float(row["p_pneumonia"]) for row in rows]

  contenders = {"serving_default": serve, "predict_job": predict_job}
  for function in contenders.values():
    function()  # warm-up
  rates = {name: [] for name in contenders}
  scores = {}
  for repeat in range(config.repeats):
    order = list(contenders) if repeat % 2 == 0 else list(contenders)[::-1]
    for name in order:
      seconds, scores[name] = stats.timed(contenders[name])
      rates[name].append(stats.rate(len(files), seconds))
  difference = np.abs(np.array(scores["serving_default"])
                      - np.array(scores["predict_job"]))
  note = (f"{len(files)} originals, batch {BATCH}, {config.repeats} "
          "repeats, alternating order")
  values = {
      "serving_default": (stats.Stat.of(rates["serving_default"]), note),
      "predict_job": (stats.Stat.of(rates["predict_job"]), note),
      "ratio_serving_vs_predict": (
          stats.paired_ratio(rates["serving_default"], rates["predict_job"]),
          "per-repeat ratio, run back to back"),
      "max_abs_dp": (stats.Stat.of([float(difference.max())]),
                     f"median {float(np.median(difference)):.2g}; default "
                     "model, untrained"),
  }
  return [spec.measured(*values[spec.id.split("/", 1)[1]])
          for spec in row_specs()]
