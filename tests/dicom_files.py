"""DICOM files made at test time from real X-rays, the way scanners and
PACS exports write them: 8-, 12- and 16-bit, MONOCHROME1, rescale and window
tags, uncompressed, RLE, JPEG 2000 and JPEG-encapsulated."""

import io
from typing import Optional

import numpy as np
from PIL import Image
import pydicom
from pydicom import encaps
from pydicom import uid

# The shared Kermany film the made files start from: a grayscale baseline
# JPEG (checked by the tests that use it).
FILM = "chest_xray/test/NORMAL/IM-0001-0001.jpeg"


def film_pixels(shared_data) -> np.ndarray:
  """The film decoded at full size (uint8, (H, W)), as Pillow decodes it."""
  return np.asarray(Image.open(shared_data / FILM).convert("L"))


def make(pixels: np.ndarray, *, bits_stored: int = 8,
         photometric: str = "MONOCHROME2", modality: Optional[str] = "CR",
         body_part: Optional[str] = "CHEST", view: Optional[str] = "PA",
         window: Optional[tuple[float, float]] = None,
         rescale: Optional[tuple[float, float]] = None,
         voi_lut: Optional[np.ndarray] = None,
         transfer_syntax: str = uid.ExplicitVRLittleEndian,
         frames: int = 1) -> bytes:
  """A DICOM Part 10 file holding `pixels` (stored values) as given.

  Args:
    pixels: (H, W) stored values, uint8 or uint16 (or (frames, H, W)).
    window: (center, width) for Window Center/Width.
    rescale: (slope, intercept) for Rescale Slope/Intercept.
    voi_lut: a VOI LUT Sequence item's table (8-bit values), indexed by the
      stored value from 0.
    transfer_syntax: uncompressed, or RLELossless/JPEG2000Lossless (encoded
      by pydicom's plugins).
  """
  meta = pydicom.dataset.FileMetaDataset()
  meta.MediaStorageSOPClassUID = uid.ComputedRadiographyImageStorage
  meta.MediaStorageSOPInstanceUID = uid.generate_uid(
      entropy_srcs=[str(pixels.shape), photometric, str(bits_stored)])
  meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
  ds = pydicom.Dataset()
  ds.file_meta = meta
  ds.SOPClassUID = meta.MediaStorageSOPClassUID
  ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
  for keyword, value in (("Modality", modality), ("BodyPartExamined",
                                                  body_part),
                         ("ViewPosition", view)):
    if value is not None:
      setattr(ds, keyword, value)
  ds.Rows, ds.Columns = pixels.shape[-2:]
  if frames > 1:
    ds.NumberOfFrames = frames
  ds.SamplesPerPixel = 1
  ds.PhotometricInterpretation = photometric
  ds.BitsAllocated = 8 if bits_stored <= 8 else 16
  ds.BitsStored = bits_stored
  ds.HighBit = bits_stored - 1
  ds.PixelRepresentation = 0
  if window:
    ds.WindowCenter, ds.WindowWidth = window
  if rescale:
    ds.RescaleSlope, ds.RescaleIntercept = rescale
  if voi_lut is not None:
    item = pydicom.Dataset()
    item.LUTDescriptor = [len(voi_lut), 0, 8]
    item.add_new("LUTData", "US", [int(v) for v in voi_lut])
    ds.VOILUTSequence = [item]
  dtype = np.uint8 if ds.BitsAllocated == 8 else np.uint16
  ds.PixelData = np.ascontiguousarray(pixels, dtype).tobytes()
  if transfer_syntax != uid.ExplicitVRLittleEndian:
    ds.compress(transfer_syntax)
  buffer = io.BytesIO()
  ds.save_as(buffer, enforce_file_format=True)
  return buffer.getvalue()


def with_jpeg(jpeg: bytes, rows: int, columns: int, **tags) -> bytes:
  """A DICOM whose pixel data is an existing baseline JPEG file, as a PACS
  stores a JPEG-compressed CR film (Transfer Syntax JPEG Baseline)."""
  data = make(np.zeros((rows, columns), np.uint8), **tags)
  ds = pydicom.dcmread(io.BytesIO(data))
  ds.file_meta.TransferSyntaxUID = uid.JPEGBaseline8Bit
  ds.PixelData = encaps.encapsulate([jpeg])
  ds["PixelData"].VR = "OB"
  ds["PixelData"].is_undefined_length = True
  buffer = io.BytesIO()
  ds.save_as(buffer, enforce_file_format=True)
  return buffer.getvalue()


def twelve_bit(pixels: np.ndarray) -> np.ndarray:
  """8-bit pixels spread over 12 bits (0..4095), rounded."""
  return np.round(pixels.astype(np.float64) * (4095 / 255)).astype(np.uint16)
