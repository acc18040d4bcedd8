"""Trains a pneumonia classifier on pneumonia_xray: flags -> config -> run.

  python -m trainer.train --model_dir=/tmp/run1 \\
      --data_dir=~/tensorflow_datasets --dataset=pneumonia_xray/gray_204 \\
      --model=small_resnet --epochs=30

Flags are defined only here and turned once into a validated, frozen
`TrainConfig` (written to model_dir/config.json) before anything heavy is
imported. Library users call `run(config, strategy=None, overwrite=False)`.
Restarting a killed run with the same flags resumes after its last finished
epoch; a finished run is left as it is, or trained on when --epochs is
raised; --overwrite starts over (trainer/rerun.py).
"""

import dataclasses
import sys

from absl import app
from absl import flags

from trainer import config as config_lib
from trainer import rerun

FLAGS = flags.FLAGS
_DEFAULTS = config_lib.TrainConfig(model_dir="")


def define_flags() -> None:
  """Defines one flag per TrainConfig field (defaults from TrainConfig)."""
  d = _DEFAULTS
  flags.DEFINE_string("model_dir", None,
                      "Where checkpoints, logs and the exported model go; "
                      "rerunning with the same flags resumes there.",
                      required=True)
  flags.DEFINE_string("dataset", d.dataset, "TFDS name/config to train on.")
  flags.DEFINE_string("data_dir", d.data_dir, "TFDS data_dir (TFDS default "
                      "when unset).")
  flags.DEFINE_enum("model", d.model, config_lib.MODELS,
                    "blog_cnn: the blog post's CNN; small_resnet: residual "
                    "blocks with BatchNorm and global average pooling.")
  flags.DEFINE_integer("image_size", d.image_size, "Model input side, pixels.",
                       lower_bound=config_lib.MIN_IMAGE_SIZE)
  flags.DEFINE_enum("channels", str(d.channels),
                    [str(c) for c in config_lib.CHANNELS],
                    "Model input channels (1 gray, 3 RGB).")
  flags.DEFINE_enum("target", d.target, config_lib.TARGETS,
                    "label: normal vs pneumonia (sigmoid); pneumonia_type: "
                    "one of the types (softmax).")
  flags.DEFINE_integer("epochs", d.epochs, "Epochs to train (at most; early "
                       "stopping may end sooner).", lower_bound=1)
  flags.DEFINE_integer("per_replica_batch_size", d.per_replica_batch_size,
                       "Batch size per replica; the global batch is this "
                       "times the number of replicas.", lower_bound=1)
  flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.",
                     lower_bound=0)
  flags.DEFINE_enum("precision", d.precision, config_lib.PRECISIONS,
                    "Keras dtype policy; auto: mixed_float16 on GPU, "
                    "mixed_bfloat16 on TPU or a CPU with AMX bf16 units, "
                    "else float32.")
  flags.DEFINE_enum("strategy", d.strategy, config_lib.STRATEGIES,
                    "tf.distribute strategy; multi_worker_mirrored reads "
                    "TF_CONFIG.")
  flags.DEFINE_string("tpu", d.tpu, "TPU name or grpc:// address (strategy "
                      "tpu only; 'local' on a TPU VM).")
  flags.DEFINE_integer("num_gpus", d.num_gpus, "GPUs for strategy mirrored; "
                       "0 means all (or all logical CPUs without GPUs).",
                       lower_bound=0)
  flags.DEFINE_boolean("augment", d.augment, "Augment training images.")
  flags.DEFINE_enum("augment_on", d.augment_on, config_lib.AUGMENT_PLACES,
                    "Where rotation, shift, zoom, brightness and contrast "
                    "run: device (in the compiled training step), host (in "
                    "tf.data), or auto (device on GPUs and TPUs, host on "
                    "CPUs). The pixel path (downscale, sharpen, JPEG) is "
                    "always on the host.")
  flags.DEFINE_float("rotation_degrees", d.rotation_degrees,
                     "Augmentation: maximum rotation, degrees.")
  flags.DEFINE_float("shift_fraction", d.shift_fraction,
                     "Augmentation: maximum shift, fraction of the side.")
  flags.DEFINE_float("zoom_fraction", d.zoom_fraction,
                     "Augmentation: maximum zoom in or out, fraction.")
  flags.DEFINE_float("brightness", d.brightness,
                     "Augmentation: maximum brightness change.")
  flags.DEFINE_float("contrast", d.contrast,
                     "Augmentation: maximum contrast change, fraction.")
  flags.DEFINE_boolean("horizontal_flip", d.horizontal_flip,
                       "Augmentation: random left-right flips (off by "
                       "default: the heart is on the left).")
  flags.DEFINE_float("downscale", d.downscale,
                     "Augmentation: shrink by up to 1 + this (random method) "
                     "and resize back; 0 disables.")
  flags.DEFINE_float("sharpen", d.sharpen,
                     "Augmentation: maximum unsharp-mask amount, either sign "
                     "(negative blurs); 0 disables.")
  flags.DEFINE_integer("jpeg_min_quality", d.jpeg_min_quality,
                       "Augmentation: re-encode as JPEG at a quality from "
                       "this to 100; 0 disables.")
  flags.DEFINE_enum("balance", d.balance, config_lib.BALANCES,
                    "Class imbalance: none, class_weight (loss weights from "
                    "train counts) or resample (balanced sampling).")
  flags.DEFINE_integer("seed", d.seed, "Seed for weights, shuffling and "
                       "augmentation.", lower_bound=0)
  flags.DEFINE_integer("early_stopping_patience", d.early_stopping_patience,
                       "Epochs without val_auc improvement before stopping; "
                       "0 disables.", lower_bound=0)
  flags.DEFINE_integer("reduce_lr_patience", d.reduce_lr_patience,
                       "Epochs without val_loss improvement before halving "
                       "the learning rate; 0 disables.", lower_bound=0)
  flags.DEFINE_boolean("deterministic", d.deterministic,
                       "Deterministic TF ops (tf.config.experimental."
                       "enable_op_determinism); slower.")
  flags.DEFINE_integer("shuffle_buffer", d.shuffle_buffer,
                       "Training shuffle buffer, examples.", lower_bound=1)
  flags.DEFINE_enum("tf_data_autotune", d.tf_data_autotune,
                    config_lib.AUTOTUNE_MODES,
                    "tf.data's autotuner: auto (off on machines with at most "
                    "4 CPUs, where it halved augmented epochs; on otherwise, "
                    "TensorFlow's default), on or off.")
  flags.DEFINE_boolean(
      "cache", d.cache,
      "Cache decoded images in memory: faster epochs after the first, but "
      "memory grows with the data (float32 image_size**2 * channels each).")


def define_action_flags() -> None:
  """Flags that say what to do with model_dir, not how to train."""
  flags.DEFINE_boolean("overwrite", False,
                       "Start over: remove the run already in model_dir (its "
                       "checkpoints, history, threshold and evaluations). "
                       "Without it, a finished run is left as it is and a "
                       "run with other flags is refused.")


def config_from_flags() -> config_lib.TrainConfig:
  """The validated config of the parsed flags."""
  values = {field.name: FLAGS[field.name].value
            for field in dataclasses.fields(config_lib.TrainConfig)}
  values["channels"] = int(values["channels"])
  values["tpu"] = values["tpu"] or ""
  return config_lib.TrainConfig.from_dict(values)


def run(config: config_lib.TrainConfig, strategy=None,
        overwrite: bool = False):
  """Trains, checkpoints and exports one model; returns the Keras History,
  or None when model_dir holds this run finished already.

  The library entry point (see `trainer.training.run` and `trainer.rerun`);
  TensorFlow is imported only here, so that --help and flag errors stay
  fast.
  """
  from trainer import training  # pylint: disable=g-import-not-at-top
  return training.run(config, strategy, overwrite=overwrite)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  try:
    config = config_from_flags()
    # Refuses a model_dir holding another run before training starts.
    rerun.decide(config, overwrite=FLAGS.overwrite, remove=False)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  run(config, overwrite=FLAGS.overwrite)


def console_main() -> None:
  """Entry point of the `pneumonia-train` console script."""
  define_flags()
  define_action_flags()
  app.run(main)


if __name__ == "__main__":
  sys.exit(console_main())
