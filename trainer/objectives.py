"""Loss and metrics for each target, so every model is compiled alike.

Both targets report "accuracy" and "auc" (for pneumonia_type the macro
one-vs-rest AUC over the classes present), so callbacks monitor `val_auc`
whatever the target.
"""

import keras
from keras import ops

from trainer import config as config_lib


@keras.saving.register_keras_serializable(package="pneumonia_tfds")
class SparseMacroAUC(keras.metrics.AUC):
  """Macro one-vs-rest ROC AUC for integer targets and softmax outputs,
  over the classes the data holds.

  A class with no example (or only examples) in the data has no ROC curve;
  Keras would count its AUC as 0 and drag the mean down (a Kermany-only
  validation split, with no covid19, fungal or other image, could never pass
  0.5). It is left out of the mean, as sklearn and `trainer.metrics` leave
  it out.
  """

  def __init__(self, num_classes: int, name: str = "auc", **kwargs):
    kwargs.pop("multi_label", None)
    kwargs.pop("num_labels", None)
    super().__init__(name=name, multi_label=True, num_labels=num_classes,
                     **kwargs)
    self.num_classes = num_classes

  def update_state(self, y_true, y_pred, sample_weight=None):
    y_true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)),
                         self.num_classes)
    return super().update_state(y_true, y_pred, sample_weight=sample_weight)

  def result(self):
    # Index 0 is the lowest threshold: everything there is called positive,
    # so tp + fn counts a class's examples and fp + tn all the others.
    positives = self.true_positives[0] + self.false_negatives[0]
    negatives = self.false_positives[0] + self.true_negatives[0]
    present = ops.cast(ops.logical_and(positives > 0, negatives > 0),
                       "float32")
    # Keras' own per-class AUCs, averaged with the present classes as the
    # label weights (the weights only average; updates ignore them when
    # multi_label is on).
    saved, self.label_weights = self.label_weights, present
    try:
      return super().result()
    finally:
      self.label_weights = saved

  def get_config(self):
    config = super().get_config()
    config["num_classes"] = self.num_classes
    return config


def loss_and_metrics(target: str, num_classes: int):
  """Returns (loss, metrics) for `model.compile`."""
  if target not in config_lib.TARGETS:
    raise ValueError(f"target: {target!r} is not one of "
                     f"{', '.join(config_lib.TARGETS)}")
  if num_classes == 2:
    return (keras.losses.BinaryCrossentropy(),
            [keras.metrics.BinaryAccuracy(name="accuracy"),
             keras.metrics.AUC(name="auc")])
  return (keras.losses.SparseCategoricalCrossentropy(),
          [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
           SparseMacroAUC(num_classes, name="auc")])
