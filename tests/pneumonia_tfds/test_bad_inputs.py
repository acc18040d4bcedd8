"""A build over hostile and broken inputs (bad_inputs.py) does the documented
thing for each: writes it with the right pixels, or skips it with a named
reason; never crashes, never hangs, never opens a file outside the sources;
and stops with a clear error where there is nothing sensible to build."""

import collections
import contextlib
import csv
import io
import os
import pathlib
import struct
import sys

import numpy as np
import pandas as pd
from PIL import Image
from PIL import ImageFile
import pytest

from pneumonia_tfds import images
from pneumonia_tfds import report
from pneumonia_tfds.sources import records
from tests import conftest
from tests.pneumonia_tfds import bad_inputs

SIZE = 96  # gray_96.
CONFIG = "gray_96"
# Mean absolute difference, in 8-bit levels, between a stored example and its
# expected pixels: room for JPEG quality 95 and Pillow's reduced-scale JPEG
# decode, far below what any mishandled case gives (asserted per case).
TOLERANCE = 3.0

# Real paths no open() may touch while a guarded build runs; see _audit.
_forbidden = []
_opened_forbidden = []


def _audit(event, args):
  """Refuses (and records) opening a forbidden path, links resolved.

  An audit hook sees every open() by Python code, in this process and in the
  forked decode workers, whichever module makes it.
  """
  if event != "open" or not _forbidden or not isinstance(args[0], (str, bytes)):
    return
  path = os.path.realpath(os.fsdecode(args[0]))
  if any(path == f or path.startswith(f + os.sep) for f in _forbidden):
    _opened_forbidden.append(path)
    raise RuntimeError(f"opened {path}, outside the source root")


sys.addaudithook(_audit)  # Cannot be removed; idle while _forbidden is empty.


@contextlib.contextmanager
def _never_opened(*paths):
  _forbidden.extend(os.path.realpath(p) for p in paths)
  try:
    yield
  finally:
    _forbidden.clear()


def _refuse_full_decode_over_limit(monkeypatch):
  """Makes a full decode of any image over MAX_PIXELS fail loudly, so that a
  refused bomb is known to have been refused from its header alone."""
  for cls in (Image.Image, ImageFile.ImageFile):
    original = cls.load

    def load(self, original=original):
      width, height = self.size
      if width * height > images.MAX_PIXELS:
        raise AssertionError(f"full decode of a {width}x{height} image")
      return original(self)

    monkeypatch.setattr(cls, "load", load)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data):
  return bad_inputs.make_corpus(tmp_path_factory.mktemp("bad_inputs"),
                                shared_data)


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
  """(builder, report rows, {file_name: stored pixels}) of a gray_96 build
  with decode workers (forked, so they inherit both guards)."""
  import tensorflow_datasets as tfds  # Deferred: heavy.

  data_dir = tmp_path_factory.mktemp("bad_inputs_data")
  with pytest.MonkeyPatch.context() as monkeypatch:
    _refuse_full_decode_over_limit(monkeypatch)
    with _never_opened(corpus.outside_dir, "/etc/passwd"):
      builder = conftest.build(corpus.manual_dir, data_dir, CONFIG,
                               num_workers=2)
  directory = pathlib.Path(builder.data_dir)
  report_rows = list(csv.DictReader(io.StringIO(
      (directory / report.REPORT_CSV).read_text())))
  pixels = {}
  for split in builder.info.splits:
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
      pixels[example["file_name"].decode()] = example["image"][..., 0]
  return builder, report_rows, pixels


def _rows_of(case, report_rows):
  return [row for row in report_rows
          if (not case.path or row["path"] == case.path) and
          (not case.metadata or row["metadata"] == case.metadata)]


def _fitted(array: np.ndarray) -> np.ndarray:
  return np.asarray(images.fit_image(Image.fromarray(array), SIZE),
                    dtype=np.float64)


def test_corpus_holds_what_it_claims(corpus):
  # Guards the premise: a case that silently came out benign would pass.
  manual = corpus.manual_dir
  folder = manual / "chest_xray" / "train" / "PNEUMONIA"
  expected_formats = {
      "gray16.png": ("PNG", "I;16"), "gray12.png": ("PNG", "I;16"),
      "palette.png": ("PNG", "P"), "rgba_screenshot.png": ("PNG", "RGBA"),
      "cmyk.jpeg": ("JPEG", "CMYK"), "png_inside.jpg": ("PNG", "L"),
      "exif_rotated.jpeg": ("JPEG", "L")}
  for name, (image_format, mode) in expected_formats.items():
    with Image.open(folder / name) as image:
      assert (image.format, image.mode) == (image_format, mode), name
  with Image.open(folder / "exif_rotated.jpeg") as image:
    assert image.getexif()[0x0112] == 6
    assert image.size == (568, 856)  # Stored sideways.
  assert np.asarray(Image.open(folder / "gray16.png")).max() > 255 * 200
  assert (folder / "zero_bytes.jpeg").stat().st_size == 0
  assert (folder / "fifo.jpeg").is_fifo()
  assert (folder / "link_outside.jpeg").resolve().is_relative_to(
      corpus.outside_dir)
  csv_bytes = (manual / "covid-chestxray-dataset" / "metadata.csv").read_bytes()
  assert csv_bytes.startswith(b"\xef\xbb\xbf")
  assert b"Bogot\xe9" in csv_bytes and b"nul\x00.jpg" in csv_bytes
  with pytest.raises(UnicodeDecodeError):
    csv_bytes.decode("utf-8")
  bomb = (folder / "bomb.png").read_bytes()
  assert bomb[12:16] == b"IHDR"
  assert struct.unpack(">II", bomb[16:24]) == (30000, 30000)
  assert len(bomb) < 200_000


def test_each_case_is_reported_as_documented(corpus, built, subtests):
  _, report_rows, _ = built
  for case in corpus.case_list():
    with subtests.test(case=case.name):
      rows = _rows_of(case, report_rows)
      assert len(rows) == 1, (case, rows)
      row = rows[0]
      assert (row["status"], row["reason"]) == (case.status, case.reason), row
      assert case.detail in row["detail"], row


def test_written_cases_have_the_right_pixels(corpus, built, subtests):
  _, _, pixels = built
  cases = [case for case in corpus.case_list() if case.truth is not None]
  assert len(cases) >= 8
  for case in cases:
    with subtests.test(case=case.name):
      stored = pixels[case.path].astype(np.float64)
      assert stored.shape == (SIZE, SIZE)
      assert np.abs(stored - _fitted(case.truth)).mean() < TOLERANCE
      if case.wrong is not None:
        # A decoder that mishandled the case would be caught, not forgiven.
        assert np.abs(stored - _fitted(case.wrong)).mean() > 4 * TOLERANCE


def test_valid_files_beside_the_bad_ones_are_all_written(corpus, built):
  _, report_rows, pixels = built
  status = {row["path"]: row["status"] for row in report_rows
            if row["status"] == report.WRITTEN}
  assert len(corpus.good_paths) >= 20
  for path in corpus.good_paths:
    assert status.get(path) == report.WRITTEN, path
    assert path in pixels, path
  # The ieee8023 row with Latin-1 notes is read like any other.
  (case,) = [c for c in corpus.case_list() if c.name == "non_utf8_in_csv_text"]
  assert _rows_of(case, report_rows)[0]["status"] == report.WRITTEN


def test_every_entry_and_every_row_is_accounted_for(corpus, built):
  _, report_rows, _ = built
  manual = corpus.manual_dir
  folders = [manual / "chest_xray" / split / cls for split in ("train", "test")
             for cls in ("NORMAL", "PNEUMONIA")]
  folders += [manual / "covid-chestxray-dataset" / "images",
              manual / bad_inputs.CORONAHACK_IMAGES / "train"]
  entries = {records.printable((folder / name).relative_to(manual).as_posix())
             for folder in folders for name in os.listdir(folder)}
  assert {row["path"] for row in report_rows if row["path"]} == entries
  # A file no metadata row names is one row of its own.
  unnamed = collections.Counter(row["path"] for row in report_rows
                                if row["path"] and not row["metadata"])
  assert set(unnamed.values()) == {1}
  for csv_path in ("covid-chestxray-dataset/metadata.csv",
                   "coronahack/Chest_xray_Corona_Metadata.csv"):
    frame = pd.read_csv(manual / csv_path, dtype=str, keep_default_na=False,
                        encoding_errors="replace")
    references = sorted(row["metadata"] for row in report_rows
                        if row["metadata"].startswith(csv_path + "#"))
    assert references == sorted(f"{csv_path}#{i + 1}"
                                for i in range(len(frame)))


def test_nothing_outside_the_sources_was_opened_or_named(built):
  _, report_rows, _ = built
  # The build ran under the guard; had any open() been refused it would have
  # failed, but a refusal swallowed on the way would still show here.
  assert not _opened_forbidden
  for row in report_rows:
    if row["path"]:
      assert not os.path.isabs(row["path"]) and ".." not in row["path"].split(
          "/"), row


@pytest.mark.parametrize("side", [30000, 9000])
def test_a_bomb_is_refused_from_its_header(monkeypatch, side):
  bomb = bad_inputs.png_bomb(side)
  _refuse_full_decode_over_limit(monkeypatch)
  with pytest.raises(images.ImageError) as error:
    images.decode(bomb, 1, min_size=SIZE)
  assert error.value.reason == images.TOO_LARGE
  assert f"{side * side} pixels" in str(error.value)


def test_a_bomb_header_on_a_real_jpeg_is_refused(monkeypatch, shared_data):
  bomb = bad_inputs.jpeg_bomb((shared_data / bad_inputs.GRAY_BASE).read_bytes())
  _refuse_full_decode_over_limit(monkeypatch)
  with pytest.raises(images.ImageError) as error:
    images.process(bomb, SIZE, 1, "resize", "jpeg")
  assert error.value.reason == images.TOO_LARGE


def test_bomb_guard_does_not_rely_on_pillow_global_limit(monkeypatch):
  # Another library may switch Pillow's own check off for the process.
  monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
  _refuse_full_decode_over_limit(monkeypatch)
  with pytest.raises(images.ImageError) as error:
    images.decode(bad_inputs.png_bomb(), 1)
  assert error.value.reason == images.TOO_LARGE
  assert "30000x30000" in str(error.value)


# Layouts with nothing sensible to build: a clear error, nothing published.


def _assert_build_fails(manual_dir, data_dir, *expected_texts):
  import tensorflow_datasets as tfds  # Deferred: heavy.

  with pytest.raises(ValueError) as error:
    conftest.build(manual_dir, data_dir, CONFIG, num_workers=1)
  for text in expected_texts:
    assert text in str(error.value), (text, str(error.value))
  builder = tfds.builder(f"pneumonia_xray/{CONFIG}",
                         data_dir=os.fspath(data_dir))
  assert not builder.is_prepared()
  leftovers = [p for p in data_dir.rglob("*") if "incomplete" in p.name]
  assert not leftovers
  return str(error.value)


def test_missing_required_column_names_the_csv_and_column(tmp_path,
                                                          shared_data):
  manual_dir = bad_inputs.make_missing_column(tmp_path / "manual", shared_data)
  message = _assert_build_fails(
      manual_dir, tmp_path / "data",
      os.fspath(manual_dir / "covid-chestxray-dataset" / "metadata.csv"),
      "missing required column(s) ['finding']")
  assert "expected at least" in message


def test_empty_manual_dir_names_the_folder_and_the_layout(tmp_path):
  manual_dir = tmp_path / "manual"
  manual_dir.mkdir()
  _assert_build_fails(manual_dir, tmp_path / "data",
                      f"{manual_dir} does not exist or is empty",
                      "chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/*.jpeg")


def test_empty_source_folders_are_an_error_not_an_empty_dataset(tmp_path):
  manual_dir = bad_inputs.make_empty_sources(tmp_path / "manual")
  _assert_build_fails(manual_dir, tmp_path / "data",
                      os.fspath(manual_dir / "chest_xray"),
                      os.fspath(manual_dir / "covid-chestxray-dataset"),
                      "no files found", "Expected layout")


def test_sources_with_only_bad_files_are_an_error(tmp_path, shared_data):
  manual_dir = tmp_path / "manual"
  folder = manual_dir / "chest_xray" / "train" / "NORMAL"
  folder.mkdir(parents=True)
  (folder / "IM-0001-0001.jpeg").write_bytes(b"")
  (folder / "IM-0002-0001.jpeg").write_bytes(b"<html>404</html>")
  _assert_build_fails(manual_dir, tmp_path / "data",
                      "no usable image",
                      "chest_xray/train/NORMAL/IM-0001-0001.jpeg: undecodable")


def test_ieee8023_folder_without_metadata_names_what_is_missing(tmp_path,
                                                                shared_data):
  manual_dir = bad_inputs.make_metadata_without_images(tmp_path / "manual",
                                                       shared_data)
  _assert_build_fails(manual_dir, tmp_path / "data",
                      os.fspath(manual_dir / "covid-chestxray-dataset"),
                      "no metadata.csv")


def test_metadata_csv_linked_from_outside_is_refused_unread(tmp_path,
                                                            shared_data):
  manual_dir = bad_inputs.make_metadata_link_outside(tmp_path, shared_data)
  outside = tmp_path / "outside.csv"
  with _never_opened(outside):
    _assert_build_fails(manual_dir, tmp_path / "data",
                        "metadata.csv: links to", "outside its source folder")
  assert not _opened_forbidden
