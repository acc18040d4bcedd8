"""DICOM files -> 8-bit grayscale films, the same way for every file.

pydicom reads the file and decodes its pixel data (uncompressed, or through
the pylibjpeg plugins: JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000,
RLE). Then, in the order the standard gives (PS3.4 N.2):
  modality LUT   Rescale Slope/Intercept, or a Modality LUT Sequence;
  VOI LUT        a VOI LUT Sequence, else Window Center/Width (the first
                 window of several), else none;
  8 bits         the VOI output range (a LUT's by its bit depth, a window's,
                 or without either the range the stored bits allow after the
                 modality LUT) mapped linearly onto 0-255, so 12- and 16-bit
                 films map alike;
  MONOCHROME1    inverted last, after the VOI step, as the standard orders.
A file whose tags say it is not a chest radiograph (Modality other than CR,
DX or DR; Body Part Examined other than chest) is refused with the reason, as
is a multi-frame file; a file whose tags are silent is taken as one.
"""

import dataclasses
import io
from typing import Optional

import numpy as np
import pydicom
from pydicom.pixels import processing

MAGIC_OFFSET = 128
MAGIC = b"DICM"
RADIOGRAPH_MODALITIES = ("CR", "DX", "DR")
CHEST_BODY_PARTS = ("CHEST", "THORAX", "LUNG", "CHEST_TO_PELVIS")
LATERAL_VIEWS = ("LL", "RL", "LAT", "LATERAL", "LLD", "RLD")

# Reasons a DICOM file is refused (the build report's `reason` column).
NOT_CHEST_RADIOGRAPH = "not a chest radiograph"
MULTI_FRAME = "multi-frame DICOM"
# The same words as pneumonia_tfds.images' reasons, so a report groups a
# broken DICOM with other broken images; the message says it is a DICOM.
UNDECODABLE = "undecodable"
TOO_LARGE = "image too large"  # the reason pneumonia_tfds.images gives


class DicomError(ValueError):
  """A DICOM file that cannot be used; `reason` names the kind."""

  def __init__(self, message: str, reason: str = UNDECODABLE):
    super().__init__(message)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class Header:
  """What the tags say the film is ("" where a tag is absent)."""
  modality: str
  body_part: str
  view: str
  photometric: str
  bits_stored: int
  transfer_syntax: str

  def problem(self) -> Optional[str]:
    """Why the tags say this is not a chest radiograph; None if they don't."""
    if self.modality and self.modality not in RADIOGRAPH_MODALITIES:
      return (f"Modality is {self.modality}, not a radiograph "
              f"({', '.join(RADIOGRAPH_MODALITIES)})")
    if self.body_part and self.body_part not in CHEST_BODY_PARTS:
      return f"Body Part Examined is {self.body_part}, not the chest"
    return None

  def warnings(self) -> list[str]:
    """What a score of this film should be read with."""
    if self.view in LATERAL_VIEWS:
      return [f"View Position is {self.view} (lateral): the model was trained "
              "on frontal films"]
    return []


def is_dicom(data: bytes) -> bool:
  """A DICOM Part 10 file: "DICM" after the 128-byte preamble."""
  return data[MAGIC_OFFSET:MAGIC_OFFSET + len(MAGIC)] == MAGIC


def _text(dataset: pydicom.Dataset, keyword: str) -> str:
  return str(dataset.get(keyword, "") or "").strip().upper()


def _dataset(data: bytes, pixels: bool) -> pydicom.Dataset:
  try:
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=not pixels)
  except Exception as e:  # pylint: disable=broad-except
    # pydicom raises many kinds (InvalidDicomError, EOFError, KeyError,
    # ValueError...) for a damaged file; all mean the same here.
    raise DicomError(f"undecodable DICOM: {type(e).__name__}: {e}") from None


def header(data: bytes) -> Header:
  """The tags of a DICOM file (its pixel data is not read)."""
  return _header(_dataset(data, pixels=False))


def _header(dataset: pydicom.Dataset) -> Header:
  meta = getattr(dataset, "file_meta", None)
  syntax = meta.get("TransferSyntaxUID", "") if meta is not None else ""
  return Header(
      modality=_text(dataset, "Modality"),
      body_part=_text(dataset, "BodyPartExamined"),
      view=_text(dataset, "ViewPosition"),
      photometric=_text(dataset, "PhotometricInterpretation"),
      bits_stored=int(dataset.get("BitsStored", 8) or 8),
      transfer_syntax=getattr(syntax, "name", str(syntax)))


def _modality_range(dataset: pydicom.Dataset) -> tuple[float, float]:
  """The range of values the stored bits allow after the modality LUT (as
  pydicom's apply_windowing takes its output range)."""
  if dataset.get("ModalityLUTSequence"):
    bits = int(dataset.ModalityLUTSequence[0].LUTDescriptor[2])
    return 0.0, float(2 ** bits - 1)
  bits = int(dataset.get("BitsStored", 8) or 8)
  if int(dataset.get("PixelRepresentation", 0) or 0) == 0:
    low, high = 0.0, float(2 ** bits - 1)
  else:
    low, high = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
  slope = dataset.get("RescaleSlope")
  intercept = dataset.get("RescaleIntercept")
  if slope is not None and intercept is not None:
    low, high = sorted((low * float(slope) + float(intercept),
                        high * float(slope) + float(intercept)))
  return low, high


def _voi_table(dataset: pydicom.Dataset) -> Optional[tuple[np.ndarray, int]]:
  """The first VOI LUT Sequence item as (table, first mapped value); None
  when there is none (or it is incomplete)."""
  sequence = dataset.get("VOILUTSequence")
  if not sequence:
    return None
  item = sequence[0]
  if item.get("LUTDescriptor") is None or item.get("LUTData") is None:
    return None
  entries, first, _ = (int(v) for v in item.LUTDescriptor)
  data = item.LUTData
  if isinstance(data, bytes):  # VR OW: 16-bit words in the file's byte order
    meta = getattr(dataset, "file_meta", None)
    big = meta is not None and meta.get("TransferSyntaxUID") == (
        pydicom.uid.ExplicitVRBigEndian)
    table = np.frombuffer(data, ">u2" if big else "<u2")
  else:  # VR US: a list of values (one value: a one-entry table)
    table = np.atleast_1d(np.asarray(data, np.int64))
  return table[:entries or 65536].astype(np.int64), first


def to_8bit(dataset: pydicom.Dataset, stored: np.ndarray) -> np.ndarray:
  """Stored pixel values -> the displayed 8-bit film (module docstring)."""
  values = processing.apply_modality_lut(stored, dataset)
  lut = _voi_table(dataset)
  if lut is not None:
    # Looked up here: pydicom 3.0's apply_voi indexes an 8-bit table through
    # a uint8 array, which wraps any stored value above 255.
    table, first = lut
    index = np.clip(np.asarray(values) - first, 0, len(table) - 1)
    values = table[index.astype(np.int64)]
    bits = int(dataset.VOILUTSequence[0].LUTDescriptor[2])
    low, high = 0.0, float(2 ** bits - 1)
  else:
    values = processing.apply_voi_lut(values, dataset, index=0)
    low, high = _modality_range(dataset)
  span = high - low if high > low else 1.0
  film = np.clip((np.asarray(values, np.float64) - low) * (255.0 / span),
                 0, 255)
  if _text(dataset, "PhotometricInterpretation") == "MONOCHROME1":
    film = 255.0 - film
  return film.round().astype(np.uint8)


def read(data: bytes, max_pixels: int) -> tuple[np.ndarray, Header]:
  """DICOM bytes -> (uint8 film (H, W), its Header).

  Raises:
    DicomError: not a chest radiograph by its tags, multi-frame, larger than
      `max_pixels`, or undecodable (the message says why).
  """
  dataset = _dataset(data, pixels=True)
  tags = _header(dataset)
  problem = tags.problem()
  if problem:
    raise DicomError(f"{NOT_CHEST_RADIOGRAPH}: {problem}",
                     NOT_CHEST_RADIOGRAPH)
  frames = int(dataset.get("NumberOfFrames", 1) or 1)
  if frames > 1:
    raise DicomError(f"{MULTI_FRAME}: {frames} frames; give one film per "
                     "file", MULTI_FRAME)
  rows, columns = int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))
  if rows * columns > max_pixels:
    raise DicomError(f"declared size {columns}x{rows} is over the "
                     f"{max_pixels} pixel limit", TOO_LARGE)
  try:
    stored = dataset.pixel_array
  except Exception as e:  # pylint: disable=broad-except
    # A missing decoder plugin, damaged pixel data, a wrong length...
    raise DicomError(f"undecodable DICOM pixel data ({tags.transfer_syntax})"
                     f": {type(e).__name__}: {e}") from None
  if stored.ndim == 3:
    # Colour (e.g. a secondary capture): pydicom gives RGB; ITU-R 601 luma.
    stored = stored[..., :3].astype(np.float64) @ np.array(
        [0.299, 0.587, 0.114])
    return np.clip(stored.round(), 0, 255).astype(np.uint8), tags
  if stored.ndim != 2:
    raise DicomError(f"undecodable DICOM: pixel array of shape {stored.shape}")
  return to_8bit(dataset, stored), tags
