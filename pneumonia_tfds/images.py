"""Decode any source image by its content, fit it to the stored size, encode.

The same `fit_image` serves the dataset build and prediction on new images, so
a model sees the same pixels for the same file in both; `pipeline.decode`
repeats these steps in TensorFlow ops, to the bit, for the serving model.
A DICOM file (recognised by content, whatever its name) is read by
`pneumonia_tfds.dicom`.
"""

import io
from typing import Optional

import numpy as np
from PIL import Image
from PIL import ImageOps

from pneumonia_tfds import dicom

# Far above the largest real source image (4298 x 4300 = 18.5 MP) and far below
# what would exhaust memory; the size is read from the header before decoding.
MAX_PIXELS = 60_000_000
FIT_METHODS = ("resize", "pad")
# "raw": the uint8 pixels themselves, row-major (H, W, C), read back with no
# decoding (a tfds.features.Tensor of bytes; fixed sizes only).
ENCODINGS = ("jpeg", "png", "raw")
JPEG_QUALITY = 95
_RESAMPLE = Image.Resampling.BILINEAR
# Raster formats X-ray collections use. Pillow would otherwise identify, e.g.,
# PostScript and hand it to Ghostscript, an interpreter, not a decoder.
# (JPEG covers MPO: Pillow's JPEG opener returns those itself.)
FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "GIF", "WEBP", "JPEG2000", "PPM")

# Why an image is refused; the build report's `reason` column.
UNDECODABLE = "undecodable"
TOO_LARGE = "image too large"
TOO_SMALL = "image too small"


class ImageError(ValueError):
  """An image that cannot be used; `reason` names the kind, the message why."""

  def __init__(self, message: str, reason: str = UNDECODABLE):
    super().__init__(message)
    self.reason = reason


def _to_8bit(image: Image.Image) -> Image.Image:
  """Scales 16-bit or 32-bit grayscale to 8 bits by its own bit depth."""
  array = np.asarray(image, dtype=np.float64)
  peak = array.max() if array.size else 0
  full_scale = 4095.0 if peak <= 4095 else 65535.0 if peak <= 65535 else peak
  scaled = np.clip(array * (255.0 / full_scale), 0, 255).round()
  return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _flatten(image: Image.Image, channels: int) -> Image.Image:
  """Converts any Pillow mode to L (channels=1) or RGB (channels=3)."""
  if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
    image = _to_8bit(image)
  if image.mode == "P":
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA", "PA"):
    # Transparent parts of screenshots become black, the X-ray background.
    background = Image.new("RGBA", image.size, (0, 0, 0, 255))
    image = Image.alpha_composite(background, image.convert("RGBA"))
  return image.convert("L" if channels == 1 else "RGB")


def _check_not_too_small(width: int, height: int) -> None:
  if width < 2 or height < 2:
    raise ImageError(f"image is only {width}x{height} pixels", TOO_SMALL)


def decode(data: bytes, channels: int,
           min_size: Optional[int] = None) -> Image.Image:
  """Decodes JPEG/PNG/... bytes by content to an upright L or RGB image.

  Args:
    data: the encoded file.
    channels: 1 for grayscale, 3 for RGB.
    min_size: if given, a JPEG may be decoded at a reduced scale as long as
      both sides stay at least this large (much less work for big files).

  Raises:
    ImageError: the bytes are not a complete image of one of FORMATS
      (reason UNDECODABLE), or the size its header declares is over
      MAX_PIXELS (TOO_LARGE) or under 2 pixels on a side (TOO_SMALL).
  """
  if not data:
    raise ImageError("undecodable image: empty file (0 bytes)")
  if dicom.is_dicom(data):
    return _flatten(decode_dicom(data), channels)
  try:
    try:
      image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.UnidentifiedImageError as e:
      # Pillow's message names the in-memory buffer by its address, which
      # would make two builds' reports differ.
      raise ImageError("undecodable image: content is none of "
                       f"{', '.join(FORMATS)}") from e
    except Image.DecompressionBombError as e:
      # Pillow's own header check (at twice Image.MAX_IMAGE_PIXELS) fires
      # inside open(), before ours can: the same refusal, so the same reason.
      raise ImageError(f"declared size is over Pillow's limit: {e}",
                       TOO_LARGE) from e
    width, height = image.size
    if width * height > MAX_PIXELS:
      raise ImageError(f"declared size {width}x{height} "
                       f"({width * height} pixels) is over the {MAX_PIXELS} "
                       "pixel limit (decompression bomb guard)", TOO_LARGE)
    _check_not_too_small(width, height)
    if min_size and image.format in ("JPEG", "MPO"):
      image.draft("L" if channels == 1 else "RGB", (min_size, min_size))
    image.load()
    image = ImageOps.exif_transpose(image)
    return _flatten(image, channels)
  except ImageError:
    raise
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
    raise ImageError(f"undecodable image: {e}") from e


def decode_dicom(data: bytes) -> Image.Image:
  """A DICOM file -> its 8-bit film (see pneumonia_tfds.dicom).

  Raises:
    ImageError: the reason of dicom.DicomError (not a chest radiograph,
      multi-frame, too large, undecodable).
  """
  try:
    film, _ = dicom.read(data, MAX_PIXELS)
  except dicom.DicomError as e:
    raise ImageError(str(e), e.reason) from None
  _check_not_too_small(film.shape[1], film.shape[0])
  return Image.fromarray(film, mode="L")


def fit_image(image: Image.Image, size: Optional[int],
              method: str = "resize") -> Image.Image:
  """Fits an image to size x size; None keeps the original resolution.

  "resize" stretches to the square (as the downscaled Kermany copy was made,
  so a model trained on it sees the same anatomy); "pad" keeps the aspect
  ratio and pads the short side with black.
  """
  if size is None:
    return image
  if method == "resize":
    return image.resize((size, size), _RESAMPLE)
  if method == "pad":
    return ImageOps.pad(image, (size, size), _RESAMPLE, color=0)
  raise ValueError(f"fit method {method!r} is not one of {FIT_METHODS}")


def encode(image: Image.Image, encoding: str) -> bytes:
  buffer = io.BytesIO()
  if encoding == "jpeg":
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
  elif encoding == "png":
    image.save(buffer, format="PNG", compress_level=3)
  elif encoding == "raw":
    return np.asarray(image, dtype=np.uint8).tobytes()
  else:
    raise ValueError(f"encoding {encoding!r} is not one of {ENCODINGS}")
  return buffer.getvalue()


def load_fitted(data: bytes, size: Optional[int], channels: int,
                method: str = "resize") -> np.ndarray:
  """Bytes -> uint8 array of shape (size, size, channels)."""
  image = fit_image(decode(data, channels, min_size=size), size, method)
  array = np.asarray(image, dtype=np.uint8)
  return array[..., np.newaxis] if array.ndim == 2 else array


def process(data: bytes, size: Optional[int], channels: int, method: str,
            encoding: str) -> bytes:
  """Bytes of a source file -> bytes of the stored example image."""
  return encode(fit_image(decode(data, channels, min_size=size), size, method),
                encoding)
