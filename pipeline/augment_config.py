"""The ranges of the training augmentation, without TensorFlow.

Kept apart from `pipeline/augment.py` so that trainer/config.py can take its
defaults and checks from here and still import nothing heavy.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """Ranges of the random changes; 0 (or False) turns one off.

  Attributes:
    rotation_degrees: rotation drawn from [-r, r] degrees.
    shift_fraction: shift along each axis drawn from [-s, s] of the side.
    zoom_fraction: scale drawn from [1 - z, 1 + z] (above 1 zooms in).
    brightness: delta drawn from [-b, b], added to every pixel.
    contrast: contrast factor drawn from [1 - c, 1 + c].
    horizontal_flip: flip left-right with probability 1/2. Off by default:
      flipping moves the heart to the other side.
  """
  rotation_degrees: float = 5.0
  shift_fraction: float = 0.05
  zoom_fraction: float = 0.1
  brightness: float = 0.1
  contrast: float = 0.1
  horizontal_flip: bool = False

  def __post_init__(self):
    limits = {
        "rotation_degrees": (self.rotation_degrees, 180.0),
        "shift_fraction": (self.shift_fraction, 1.0),
        "zoom_fraction": (self.zoom_fraction, 1.0),
        "brightness": (self.brightness, 1.0),
        "contrast": (self.contrast, 1.0),
    }
    for name, (value, upper) in limits.items():
      if not 0.0 <= value < upper:
        raise ValueError(f"{name}: {value} is outside [0, {upper})")
    if not isinstance(self.horizontal_flip, bool):
      raise ValueError(
          f"horizontal_flip: must be a bool, got {self.horizontal_flip!r}")

  @property
  def has_geometry(self) -> bool:
    return bool(self.rotation_degrees or self.shift_fraction or
                self.zoom_fraction)
