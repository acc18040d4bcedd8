"""DICOM reading: the four real files of ../shared/data/dicom and files made
from a real film (tests/dicom_files.py)."""

import io

import numpy as np
from PIL import Image
import pydicom
from pydicom import encaps
from pydicom import uid
import pytest

from pneumonia_tfds import dicom
from pneumonia_tfds import images
from tests import dicom_files

SIIM = "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm"
MONOCHROME1 = "Fake_MONOHR1.dcm"
NIH_DX = "1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"
SCOUT = "sample.dcm"
LIMIT = images.MAX_PIXELS


def _real(shared_data, name: str) -> bytes:
  return (shared_data / "dicom" / name).read_bytes()


@pytest.fixture(scope="module")
def film(shared_data) -> np.ndarray:
  """A quarter-size copy of the real film (fast to encode and decode)."""
  pixels = dicom_files.film_pixels(shared_data)
  return np.asarray(Image.fromarray(pixels).reduce(4))


def test_the_real_files_are_recognised_by_content(shared_data):
  for name in (SIIM, MONOCHROME1, NIH_DX, SCOUT):
    assert dicom.is_dicom(_real(shared_data, name)), name
  assert not dicom.is_dicom((shared_data / dicom_files.FILM).read_bytes())


def test_jpeg_compressed_cr_decodes_to_its_jpeg(shared_data):
  data = _real(shared_data, SIIM)
  tags = dicom.header(data)
  assert (tags.modality, tags.body_part, tags.view) == ("CR", "CHEST", "PA")
  assert tags.transfer_syntax == "JPEG Baseline (Process 1)"
  film, _ = dicom.read(data, LIMIT)
  assert film.shape == (1024, 1024) and film.dtype == np.uint8
  # The pixel data is one baseline JPEG frame: Pillow's decode of it is the
  # film (8 bits, no LUT), within the two libjpeg builds' rounding.
  frame = next(encaps.generate_frames(pydicom.dcmread(io.BytesIO(data))
                                      .PixelData, number_of_frames=1))
  expected = np.asarray(Image.open(io.BytesIO(frame)).convert("L"))
  assert np.abs(film.astype(int) - expected).max() <= 1


def test_monochrome1_is_the_inverse_of_the_same_pixels(shared_data):
  normal, _ = dicom.read(_real(shared_data, SIIM), LIMIT)
  inverted, tags = dicom.read(_real(shared_data, MONOCHROME1), LIMIT)
  assert tags.photometric == "MONOCHROME1"
  np.testing.assert_array_equal(inverted.astype(int), 255 - normal)


def test_uncompressed_dx_keeps_its_8_bit_values(shared_data):
  data = _real(shared_data, NIH_DX)
  film, tags = dicom.read(data, LIMIT)
  assert (tags.modality, tags.body_part) == ("DX", "")
  assert tags.transfer_syntax == "Implicit VR Little Endian"
  np.testing.assert_array_equal(film, pydicom.dcmread(io.BytesIO(data))
                                .pixel_array)


def test_the_abdominal_scout_is_refused_by_its_modality(shared_data):
  with pytest.raises(dicom.DicomError, match="Modality is OT") as error:
    dicom.read(_real(shared_data, SCOUT), LIMIT)
  assert error.value.reason == dicom.NOT_CHEST_RADIOGRAPH
  # Through the image decoder, as the build and predict call it.
  with pytest.raises(images.ImageError) as error:
    images.decode(_real(shared_data, SCOUT), 1)
  assert error.value.reason == dicom.NOT_CHEST_RADIOGRAPH


@pytest.mark.parametrize("syntax", [uid.ExplicitVRLittleEndian, uid.RLELossless,
                                    uid.JPEG2000Lossless])
def test_8_bit_films_read_back_exactly(film, syntax):
  data = dicom_files.make(film, transfer_syntax=syntax)
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)


@pytest.mark.parametrize("syntax", [uid.ExplicitVRLittleEndian, uid.RLELossless,
                                    uid.JPEG2000Lossless])
def test_12_bit_in_16_maps_to_8_bits_by_the_stored_bit_depth(film, syntax):
  data = dicom_files.make(dicom_files.twelve_bit(film), bits_stored=12,
                          transfer_syntax=syntax)
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)


def test_16_bit_maps_the_same_way(film):
  data = dicom_files.make(film.astype(np.uint16) * 257, bits_stored=16)
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)


def test_rescale_then_a_window_spanning_the_range_keeps_the_film(film):
  # Rescale to HU-like values (-1024 .. 1023.5), then the window that covers
  # exactly that range: the film must come back.
  data = dicom_files.make(dicom_files.twelve_bit(film), bits_stored=12,
                          rescale=(0.5, -1024), window=(0.25, 2048.5))
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)


def test_a_voi_lut_sequence_is_applied_and_mapped_by_its_bit_depth(film):
  # An 8-bit VOI LUT over 12-bit data: a gamma curve, so that a reader that
  # skipped the LUT would not come out the same.
  table = np.round(255 * (np.arange(4096) / 4095) ** 0.5).astype(np.uint16)
  stored = dicom_files.twelve_bit(film)
  data = dicom_files.make(stored, bits_stored=12, voi_lut=table)
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], table[stored])


def test_a_narrow_window_clips_as_the_standard_says(film):
  stored = dicom_files.twelve_bit(film)
  data = dicom_files.make(stored, bits_stored=12, window=(2048, 1024))
  fraction = np.clip((stored - 2047.5) / 1023 + 0.5, 0, 1)
  expected = np.round(fraction * 255)
  assert np.abs(dicom.read(data, LIMIT)[0] - expected).max() <= 1
  assert (dicom.read(data, LIMIT)[0] == 255).mean() > 0.05  # really clipped


def test_12_bit_monochrome1_is_inverted_after_the_voi(film):
  stored = 4095 - dicom_files.twelve_bit(film)
  data = dicom_files.make(stored, bits_stored=12, photometric="MONOCHROME1")
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)


def test_a_jpeg_encapsulated_film_decodes_like_the_jpeg(shared_data):
  jpeg = (shared_data / dicom_files.FILM).read_bytes()
  pixels = dicom_files.film_pixels(shared_data)
  data = dicom_files.with_jpeg(jpeg, *pixels.shape)
  film, tags = dicom.read(data, LIMIT)
  assert tags.transfer_syntax == "JPEG Baseline (Process 1)"
  assert np.abs(film.astype(int) - pixels).max() <= 1


def test_a_multi_frame_file_is_refused(film):
  data = dicom_files.make(np.stack([film, film]), frames=2)
  with pytest.raises(dicom.DicomError, match="2 frames") as error:
    dicom.read(data, LIMIT)
  assert error.value.reason == dicom.MULTI_FRAME


@pytest.mark.parametrize("tags,problem", [
    ({"body_part": "ABDOMEN"}, "Body Part Examined is ABDOMEN"),
    ({"modality": "CT"}, "Modality is CT"),
])
def test_tags_that_say_another_exam_are_refused(film, tags, problem):
  with pytest.raises(dicom.DicomError, match=problem):
    dicom.read(dicom_files.make(film, **tags), LIMIT)


def test_silent_tags_are_taken_as_a_chest_film(film):
  data = dicom_files.make(film, modality=None, body_part=None, view=None)
  np.testing.assert_array_equal(dicom.read(data, LIMIT)[0], film)
  assert dicom.header(data).warnings() == []


def test_a_lateral_film_carries_a_warning(film):
  warnings = dicom.header(dicom_files.make(film, view="LL")).warnings()
  assert len(warnings) == 1 and "lateral" in warnings[0]


def test_a_broken_file_names_the_problem(shared_data, film):
  data = _real(shared_data, NIH_DX)
  with pytest.raises(dicom.DicomError, match="undecodable DICOM") as error:
    dicom.read(data[:len(data) // 2], LIMIT)
  assert error.value.reason == images.UNDECODABLE
  # A header that ends inside an element.
  with pytest.raises(dicom.DicomError, match="undecodable DICOM"):
    dicom.read(dicom_files.make(film)[:200], LIMIT)


def test_the_pixel_limit_is_checked_from_the_header(film):
  with pytest.raises(dicom.DicomError, match="pixel limit") as error:
    dicom.read(dicom_files.make(film), film.size - 1)
  assert error.value.reason == images.TOO_LARGE


def test_decode_gives_the_film_in_the_channels_asked(shared_data):
  data = _real(shared_data, NIH_DX)
  gray = images.decode(data, 1)
  rgb = images.decode(data, 3)
  assert (gray.mode, rgb.mode, gray.size) == ("L", "RGB", (1024, 1024))
  np.testing.assert_array_equal(np.asarray(rgb)[..., 1], np.asarray(gray))
