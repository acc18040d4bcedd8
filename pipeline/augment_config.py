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
    downscale: shrink by a factor drawn from [1, 1 + d], by a method drawn
      from augment.DOWNSCALE_METHODS, and resize back up at the end (bilinear
      or bicubic): the detail a file loses when someone stored it smaller.
    sharpen: unsharp masking by an amount drawn from [-s, s]:
      image + amount * (image - blur(image)), a Gaussian of sigma 1 px; a
      negative amount blurs (-1 would give the Gaussian itself).
    jpeg_min_quality: re-encode as JPEG at a quality drawn from [q, 100];
      0 turns it off (quality 100 is still lossy, so it cannot mean off).

  The last three (the "pixel path": how a file was made) run first: shrink,
  then sharpen and JPEG at the shrunk size (where the file's maker did
  them), then back up to our size. They are on by default, with moderate
  ranges, so that a model does not learn one source's way of making its files
  (issue #13: specificity fell from 0.99 to 0.80 between chest_xray_small's
  twice resized, twice JPEG-coded files and the originals resized once).
  Downscale up to 2x spans one more resize near our size (224 -> 204) up to
  files stored at half our size; quality from 60 reaches below the 75 that
  Pillow saves at unless told otherwise; sharpen up to 0.5 spans soft (area,
  bilinear) to crisp (Lanczos, scanner sharpening) resize kernels without
  inventing edges.
  """
  rotation_degrees: float = 5.0
  shift_fraction: float = 0.05
  zoom_fraction: float = 0.1
  brightness: float = 0.1
  contrast: float = 0.1
  horizontal_flip: bool = False
  downscale: float = 1.0
  sharpen: float = 0.5
  jpeg_min_quality: int = 60

  def __post_init__(self):
    limits = {
        "rotation_degrees": (self.rotation_degrees, 180.0),
        "shift_fraction": (self.shift_fraction, 1.0),
        "zoom_fraction": (self.zoom_fraction, 1.0),
        "brightness": (self.brightness, 1.0),
        "contrast": (self.contrast, 1.0),
        "downscale": (self.downscale, 3.0),
        "sharpen": (self.sharpen, 1.0),
    }
    for name, (value, upper) in limits.items():
      if not 0.0 <= value < upper:
        raise ValueError(f"{name}: {value} is outside [0, {upper})")
    if not isinstance(self.horizontal_flip, bool):
      raise ValueError(
          f"horizontal_flip: must be a bool, got {self.horizontal_flip!r}")
    quality = self.jpeg_min_quality
    if (isinstance(quality, bool) or not isinstance(quality, int) or
        not (quality == 0 or 1 <= quality <= 100)):
      raise ValueError(f"jpeg_min_quality: {quality!r} is not 0 (off) or an "
                       "int in [1, 100]")

  @property
  def has_geometry(self) -> bool:
    return bool(self.rotation_degrees or self.shift_fraction or
                self.zoom_fraction)

  @property
  def has_pixel_path(self) -> bool:
    return bool(self.downscale or self.sharpen or self.jpeg_min_quality)
