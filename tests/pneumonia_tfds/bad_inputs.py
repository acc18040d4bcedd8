"""A corpus of hostile and broken inputs inside otherwise valid source layouts.

`make_corpus` writes a manual_dir into a tmp folder: a few real images of the
shared data in the Kermany, ieee8023 and CoronaHack layouts, and next to them
one file or metadata row per bad case, each made from real pixels where the
case allows (a truncated real JPEG, a real image re-saved as 16-bit, palette,
CMYK, EXIF-rotated ...). Every case says what the build must do with it: write
it with known pixels, or skip it with a named reason. The `make_*` functions
at the end write the layouts that must stop the build with a clear error.

Nothing here is committed as data; the corpus is a few MB, built in about a
second.
"""

import csv
import dataclasses
import io
import os
import pathlib
import shutil
import struct
import zlib
from typing import Optional

import numpy as np
from PIL import Image

from pneumonia_tfds import images
from pneumonia_tfds import merge
from pneumonia_tfds import report
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import records

# Real files the bad ones are made from (README of the shared data).
GRAY_BASE = "chest_xray/train/PNEUMONIA/person775_virus_1404.jpeg"  # L 856x568.
RGB_BASE = "chest_xray/train/PNEUMONIA/person282_virus_579.jpeg"  # RGB 428x256.
PNG_BASE = "covid-chestxray-dataset/images/000001.jpg"  # PNG RGBA, opaque.
IEEE8023_GOOD = ("000001.jpg", "000001-9-a.jpg", "000002-11-a.jpg",
                 "000005-5-a.jpg", "16673_2_1.jpg", "16724_1_1.jpg",
                 "1-s2.0-S1684118220300608-main.pdf-001.jpg")
IEEE8023_CONFLICT = "000002-19-a.jpg"  # Lipoid; a second row says No Finding.
IEEE8023_DUPLICATE_ROW = "16673_2_1.jpg"
IEEE8023_TEMPLATE = "000001-9-a.jpg"  # Row copied for synthesized files.
GOOD_PER_CLASS = {"train": 8, "test": 4}
# One Kermany PNEUMONIA file that CoronaHack also holds, labelled Normal there.
CROSS_SOURCE_CONFLICT = "person100_virus_184.jpeg"

KERMANY = "chest_xray"
IEEE = "covid-chestxray-dataset"
IEEE_IMAGES = f"{IEEE}/images"
CORONAHACK_IMAGES = (f"coronahack/{coronahack.IMAGE_FOLDER}/"
                     f"{coronahack.IMAGE_FOLDER}")
NON_UTF8_NAME = b"r\xe9sum\xe9.jpeg"  # Latin-1 bytes, as a Windows zip leaves.
# Stand-ins replaced by raw bytes once the CSV text is encoded.
LATIN1_MARK = "@@latin1@@"  # -> b"\xe9", invalid as UTF-8.
NUL_MARK = "@@nul@@"  # -> b"\x00".
IEEE8023_COMPATIBLE_ROWS = "16724_1_1.jpg"  # COVID-19; 2nd row: COVID-19, ARDS.

WRITTEN = report.WRITTEN
SKIPPED = report.SKIPPED
DUPLICATE = report.DUPLICATE


@dataclasses.dataclass(frozen=True)
class Case:
  """One bad input and what the build report must say about it.

  Attributes:
    name: short id, used as the test id.
    description: what the input is.
    status: expected report status (written, duplicate, skipped).
    reason: expected report reason ("" when written).
    path: the report `path` (relative to manual_dir) of a file case.
    metadata: the report `metadata` reference of a metadata-row case.
    truth: for a written image, its upright 8-bit grayscale pixels at source
      resolution, computed without the product's decoder.
    wrong: what a decoder that mishandled the case would give instead (e.g.
      the sideways pixels of an EXIF-rotated file); the stored image must be
      far from it, which shows the tolerance on `truth` can tell them apart.
    detail: a substring the report `detail` must contain.
  """
  name: str
  description: str
  status: str
  reason: str = ""
  path: str = ""
  metadata: str = ""
  truth: Optional[np.ndarray] = dataclasses.field(default=None, repr=False)
  wrong: Optional[np.ndarray] = dataclasses.field(default=None, repr=False)
  detail: str = ""


@dataclasses.dataclass
class Corpus:
  manual_dir: pathlib.Path
  outside_dir: pathlib.Path  # Real images just outside manual_dir.
  cases: dict[str, Case]
  good_paths: list[str]  # Real, valid files that must all be written.

  def case_list(self) -> list[Case]:
    return list(self.cases.values())


def _encode(image: Image.Image, image_format: str, **kwargs) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format=image_format, **kwargs)
  return buffer.getvalue()


def _gray(image: Image.Image) -> np.ndarray:
  return np.asarray(image.convert("L"), dtype=np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
  return (struct.pack(">I", len(data)) + kind + data +
          struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(side: int = 30000) -> bytes:
  """A valid 1-bit PNG of side x side pixels in about 100 kB: a full decode
  would allocate side**2 bytes (900 MB for 30000), the zlib stream inflates to
  side**2 / 8."""
  row = b"\x00" * (1 + (side + 7) // 8)  # Filter byte + packed bits.
  compressor = zlib.compressobj(9)
  rows_per_piece = 1000
  pieces = [compressor.compress(row * rows_per_piece)
            for _ in range(side // rows_per_piece)]
  pieces.append(compressor.compress(row * (side % rows_per_piece)))
  pieces.append(compressor.flush())
  header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) +
          _png_chunk(b"IDAT", b"".join(pieces)) + _png_chunk(b"IEND", b""))


def jpeg_bomb(real_jpeg: bytes, side: int = 30000) -> bytes:
  """A real JPEG whose frame header declares side x side pixels."""
  data = bytearray(real_jpeg)
  for marker in (b"\xff\xc0", b"\xff\xc2"):  # Baseline or progressive SOF.
    start = data.find(marker)
    if start >= 0:
      data[start + 5:start + 9] = struct.pack(">HH", side, side)
      return bytes(data)
  raise ValueError("no SOF0/SOF2 marker in the JPEG")


def _write(path: pathlib.Path, data: bytes) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data)


def _read_real_metadata(shared_data: pathlib.Path) -> tuple[list, dict]:
  with open(shared_data / IEEE / ieee8023.METADATA, newline="",
            encoding="utf-8") as f:
    reader = csv.reader(f)
    header = next(reader)
    by_name = {row[header.index("filename")]: row for row in reader}
  return header, by_name


class _Builder:
  """Collects files, CSV rows and their expected outcomes."""

  def __init__(self, shared_data: pathlib.Path, target: pathlib.Path):
    self.shared = shared_data
    self.manual = target / "manual"
    self.outside = target / "outside"
    self.cases = {}
    self.good_paths = []

  def real(self, relative_path: str) -> bytes:
    return (self.shared / relative_path).read_bytes()

  def add(self, case: Case) -> None:
    assert case.name not in self.cases, case.name
    self.cases[case.name] = case

  def file(self, name: str, relative_path: str, data: bytes, description: str,
           status: str, reason: str = "", truth=None, wrong=None,
           detail: str = "") -> None:
    _write(self.manual / relative_path, data)
    self.add(Case(name, description, status, reason, path=relative_path,
                  truth=truth, wrong=wrong, detail=detail))


def _kermany_part(b: _Builder) -> None:
  """Real files in chest_xray/, and bad files beside them in train/."""
  for split, count in GOOD_PER_CLASS.items():
    for cls in ("NORMAL", "PNEUMONIA"):
      source = b.shared / "chest_xray_small" / split / cls
      for path in sorted(source.iterdir())[:count]:
        relative = f"{KERMANY}/{split}/{cls}/{path.name}"
        _write(b.manual / relative, path.read_bytes())
        b.good_paths.append(relative)
  # A layout folder with nothing in it contributes nothing, and is no error.
  (b.manual / KERMANY / "val" / "NORMAL").mkdir(parents=True)
  # Downloaded twice: wget keeps the second copy as "<name>.1".
  original = b.good_paths[0]
  b.file("duplicate_upload", f"{original}.1",
         (b.manual / original).read_bytes(),
         f"a second copy of {original} under another name", DUPLICATE,
         "same bytes")

  folder = f"{KERMANY}/train/PNEUMONIA"
  gray_jpeg = b.real(GRAY_BASE)
  with Image.open(io.BytesIO(gray_jpeg)) as image:
    gray = image.convert("L")
  gray_truth = _gray(gray)
  with Image.open(io.BytesIO(b.real(RGB_BASE))) as image:
    rgb = image.convert("RGB")
  png = b.real(PNG_BASE)

  b.file("zero_bytes", f"{folder}/zero_bytes.jpeg", b"",
         "zero-byte file", SKIPPED, images.UNDECODABLE, detail="empty file")
  b.file("truncated_jpeg", f"{folder}/truncated.jpeg",
         gray_jpeg[:len(gray_jpeg) * 6 // 10],
         "real JPEG cut at 60% (an interrupted download)", SKIPPED,
         images.UNDECODABLE, detail="truncated")
  b.file("truncated_png", f"{folder}/truncated.png", png[:len(png) * 6 // 10],
         "real PNG cut at 60%", SKIPPED, images.UNDECODABLE)
  b.file("text_named_jpeg", f"{folder}/not_an_image.jpeg",
         b"<html><body>404 Not Found</body></html>\n" * 20,
         "an HTML error page saved as .jpeg", SKIPPED, images.UNDECODABLE,
         detail="content is none of")
  b.file("postscript_named_jpeg", f"{folder}/postscript.jpeg",
         b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
         b"(/etc/passwd) (r) file\nshowpage\n",
         "PostScript named .jpeg (Pillow would hand it to Ghostscript)",
         SKIPPED, images.UNDECODABLE, detail="content is none of")
  b.file("png_named_jpg", f"{folder}/png_inside.jpg", _encode(gray, "PNG"),
         "PNG bytes under a .jpg name", WRITTEN, truth=gray_truth)
  array16 = np.asarray(gray, dtype=np.uint16) * 257
  b.file("png_16bit", f"{folder}/gray16.png",
         _encode(Image.fromarray(array16), "PNG"),
         "16-bit grayscale PNG using the full 0..65535 range", WRITTEN,
         truth=gray_truth, wrong=np.minimum(array16, 255).astype(np.uint8))
  array12 = np.asarray(gray, dtype=np.uint16) * 16
  b.file("png_12bit", f"{folder}/gray12.png",
         _encode(Image.fromarray(array12), "PNG"),
         "12-bit values (0..4095) in a 16-bit PNG, as DICOM exports are",
         WRITTEN, truth=np.round(array12 * (255 / 4095)).astype(np.uint8),
         wrong=(array12 // 257).astype(np.uint8))
  # A shuffled palette: index i is not gray level i, so reading the indices
  # as levels (a classic mistake) gives a scrambled image.
  order = np.random.default_rng(0).permutation(256)
  palette = Image.frombytes(
      "P", gray.size, order[np.asarray(gray)].astype(np.uint8).tobytes())
  colours = np.zeros((256, 3), dtype=np.uint8)
  colours[order] = np.arange(256, dtype=np.uint8)[:, np.newaxis]
  palette.putpalette(colours.tobytes())
  b.file("png_palette", f"{folder}/palette.png", _encode(palette, "PNG"),
         "palette (P) PNG", WRITTEN, truth=_gray(palette.convert("RGB")),
         wrong=np.asarray(palette, dtype=np.uint8))  # The indices.
  rgba = rgb.convert("RGBA")
  alpha = np.full(rgba.size[::-1], 255, dtype=np.uint8)
  alpha[:, :rgba.size[0] // 4] = 0  # Transparent left quarter.
  rgba.putalpha(Image.fromarray(alpha))
  rgba_truth = _gray(rgb).copy()
  rgba_truth[:, :rgba.size[0] // 4] = 0  # Transparent becomes black.
  b.file("png_rgba", f"{folder}/rgba_screenshot.png", _encode(rgba, "PNG"),
         "RGBA PNG with a transparent quarter", WRITTEN, truth=rgba_truth,
         wrong=_gray(rgb))
  b.file("jpeg_cmyk", f"{folder}/cmyk.jpeg",
         _encode(rgb.convert("CMYK"), "JPEG", quality=95),
         "CMYK JPEG", WRITTEN, truth=_gray(rgb), wrong=255 - _gray(rgb))
  exif = Image.Exif()
  exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display.
  b.file("jpeg_exif_rotated", f"{folder}/exif_rotated.jpeg",
         _encode(gray.transpose(Image.Transpose.ROTATE_90), "JPEG",
                 quality=95, exif=exif),
         "JPEG stored sideways with EXIF orientation 6", WRITTEN,
         truth=gray_truth,
         wrong=_gray(gray.transpose(Image.Transpose.ROTATE_90)))
  # 30000 px trips Pillow's own limit inside Image.open; 9000 px (81 MP)
  # is under Pillow's limit and over the builder's.
  b.file("png_bomb", f"{folder}/bomb.png", png_bomb(),
         "1-bit PNG declaring 30000x30000 (inflates to 900 MB)", SKIPPED,
         images.TOO_LARGE, detail="900000000 pixels")
  b.file("jpeg_bomb", f"{folder}/bomb.jpeg", jpeg_bomb(gray_jpeg),
         "real JPEG whose header declares 30000x30000", SKIPPED,
         images.TOO_LARGE, detail="900000000 pixels")
  b.file("png_bomb_9000", f"{folder}/bomb_9000.png", png_bomb(9000),
         "1-bit PNG declaring 9000x9000, under Pillow's own limit", SKIPPED,
         images.TOO_LARGE, detail="9000x9000")
  b.file("one_pixel", f"{folder}/one_pixel.png",
         _encode(Image.new("L", (1, 1), 128), "PNG"),
         "1x1 pixel image", SKIPPED, images.TOO_SMALL, detail="1x1")

  directory = f"{folder}/directory.jpeg"
  (b.manual / directory).mkdir(parents=True)
  b.add(Case("directory_named_jpeg", "a directory named like an image",
             SKIPPED, records.NOT_A_FILE, path=directory))
  fifo = f"{folder}/fifo.jpeg"
  os.mkfifo(b.manual / fifo)
  b.add(Case("fifo_named_jpeg", "a named pipe (opening it would block)",
             SKIPPED, records.NOT_A_FILE, path=fifo))
  secret = b.outside / "secret.jpeg"
  _write(secret, gray_jpeg)
  link = f"{folder}/link_outside.jpeg"
  (b.manual / link).symlink_to(secret)
  b.add(Case("symlink_outside", "symlink to a real image outside the root",
             SKIPPED, records.UNSAFE_PATH, path=link))
  dangling = f"{folder}/dangling.jpeg"
  (b.manual / dangling).symlink_to(b.manual / folder / "nowhere.jpeg")
  b.add(Case("dangling_symlink", "symlink to nothing", SKIPPED,
             records.NOT_A_FILE, path=dangling))
  loop = f"{folder}/loop.jpeg"
  (b.manual / loop).symlink_to(b.manual / loop)
  b.add(Case("symlink_loop", "symlink to itself", SKIPPED, records.NOT_A_FILE,
             path=loop))
  hidden = f"{folder}/.DS_Store"
  _write(b.manual / hidden, b"\x00\x00\x00\x01Bud1" + b"\x00" * 100)
  b.add(Case("hidden_file", "macOS .DS_Store", SKIPPED, records.HIDDEN_FILE,
             path=hidden))
  # os.fsdecode maps the undecodable bytes to surrogates, as os.listdir does.
  bad_name = os.fsdecode(NON_UTF8_NAME)
  _write(b.manual / folder / bad_name, b.real(GRAY_BASE))
  b.add(Case("non_utf8_file_name", "file name with Latin-1 bytes", SKIPPED,
             records.NON_UTF8_NAME,
             path=records.printable(f"{folder}/{bad_name}")))


def _ieee8023_part(b: _Builder) -> None:
  """metadata.csv with real rows for real images, plus hostile rows."""
  header, real_rows = _read_real_metadata(b.shared)
  column = {name: i for i, name in enumerate(header)}
  rows = []  # (row, case or None)

  def row_like(file_name: str, patient: str = "", template: str = "",
               finding: str = "") -> list:
    row = list(real_rows[template or file_name])
    row[column["filename"]] = file_name
    if patient:
      row[column["patientid"]] = patient
    if finding:
      row[column["finding"]] = finding
    return row

  for name in IEEE8023_GOOD + (IEEE8023_CONFLICT,):
    assert real_rows[name][column["view"]] in ("PA", "AP"), name
    shutil.copyfile(b.shared / IEEE_IMAGES / name,
                    b.manual / IEEE_IMAGES / name)
  for name in IEEE8023_GOOD:
    row = row_like(name)
    if name == IEEE8023_TEMPLATE:
      # Free text in Latin-1, as a spreadsheet on Windows saves it.
      row[column["clinical_notes"]] = f"Seen in Bogot{LATIN1_MARK}"
      rows.append((row, Case("non_utf8_in_csv_text",
                             "Latin-1 bytes in a free-text column", WRITTEN)))
    elif name == PNG_BASE.rsplit("/", 1)[1]:
      with Image.open(b.manual / IEEE_IMAGES / name) as image:
        truth = _gray(image.convert("RGB"))
      rows.append((row, Case("real_png_named_jpg",
                             "real ieee8023 PNG (RGBA) named .jpg", WRITTEN,
                             path=f"{IEEE_IMAGES}/{name}", truth=truth)))
    else:
      rows.append((row, None))
      b.good_paths.append(f"{IEEE_IMAGES}/{name}")
  rows.append((row_like(IEEE8023_DUPLICATE_ROW), Case(
      "duplicate_row", "the same metadata row twice", DUPLICATE,
      "same file, another metadata row")))
  # Agreeing rows written in the order that makes the later one the
  # canonical copy, were CSV position to decide.
  rows.insert(0, (row_like(IEEE8023_COMPATIBLE_ROWS,
                           finding="COVID-19, ARDS"), Case(
      "compatible_rows", "a second row for one image, same label in other "
      "words (COVID-19, ARDS)", DUPLICATE, "same file, another metadata row")))
  rows.append((row_like(IEEE8023_CONFLICT), Case(
      "conflict_row_a", "row 1 of 2 for one image: Lipoid", SKIPPED,
      merge.LABEL_CONFLICT)))
  rows.append((row_like(IEEE8023_CONFLICT, finding="No Finding"), Case(
      "conflict_row_b", "row 2 of 2 for one image: No Finding", SKIPPED,
      merge.LABEL_CONFLICT)))
  rows.append((row_like("kjr-21-e24-g002-l-a.jpg"), Case(
      "missing_file_row", "a real row whose image is not there", SKIPPED,
      records.MISSING_FILE)))
  secret = b.outside / "secret.jpeg"
  for name, file_name in (
      ("row_dot_dot_etc_passwd", "../../etc/passwd"),
      ("row_absolute_etc_passwd", "/etc/passwd"),
      ("row_dot_dot_outside", "../../../outside/secret.jpeg"),
      ("row_absolute_outside", os.fspath(secret))):
    rows.append((row_like(file_name, "9001", IEEE8023_TEMPLATE), Case(
        name, f"row naming {file_name!r}", SKIPPED, records.UNSAFE_PATH)))
  link = f"{IEEE_IMAGES}/linked.jpg"
  (b.manual / link).symlink_to(secret)
  rows.append((row_like("linked.jpg", "9002", IEEE8023_TEMPLATE), Case(
      "row_symlink_outside", "row naming a link out of the root", SKIPPED,
      records.UNSAFE_PATH)))
  b.add(Case("symlink_outside_unnamed_listing",
             "the same link, as a file in images/", SKIPPED,
             records.UNSAFE_PATH, path=link))
  rows.append((row_like(f"caf{LATIN1_MARK}.jpg", "9003", IEEE8023_TEMPLATE),
               Case("non_utf8_in_csv_file_name",
                    "row naming a file in Latin-1 bytes", SKIPPED,
                    records.MISSING_FILE, detail="caf\ufffd.jpg")))
  rows.append((row_like(f"nul{NUL_MARK}.jpg", "9005", IEEE8023_TEMPLATE),
               Case("row_nul_in_file_name", "row naming a file with a NUL byte",
                    SKIPPED, records.UNSAFE_PATH)))
  directory = f"{IEEE_IMAGES}/folder.jpg"
  (b.manual / directory).mkdir()
  rows.append((row_like("folder.jpg", "9006", IEEE8023_TEMPLATE),
               Case("row_naming_a_directory", "row naming a directory",
                    SKIPPED, records.NOT_A_FILE)))
  b.add(Case("directory_in_images", "the same directory, as listed",
             SKIPPED, records.NOT_A_FILE, path=directory))
  png = b.real(PNG_BASE)
  truncated = f"{IEEE_IMAGES}/truncated-upload.png"
  _write(b.manual / truncated, png[:len(png) // 2])
  rows.append((row_like("truncated-upload.png", "9004", IEEE8023_TEMPLATE),
               Case("row_truncated_png", "row for a PNG cut in half", SKIPPED,
                    images.UNDECODABLE, path=truncated)))

  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(header)
  for index, (row, case) in enumerate(rows):
    writer.writerow(row)
    if case is not None:
      b.add(dataclasses.replace(
          case, metadata=f"{IEEE}/{ieee8023.METADATA}#{index + 1}"))
  data = buffer.getvalue().encode("utf-8").replace(
      LATIN1_MARK.encode(), b"\xe9").replace(NUL_MARK.encode(), b"\x00")
  # With the byte-order mark a spreadsheet saving "CSV UTF-8" puts first.
  _write(b.manual / IEEE / ieee8023.METADATA, b"\xef\xbb\xbf" + data)


def _coronahack_part(b: _Builder) -> None:
  """A CoronaHack copy of a Kermany PNEUMONIA file that its CSV calls Normal,
  and a row with a split CoronaHack does not have."""
  kermany_path = f"{KERMANY}/train/PNEUMONIA/{CROSS_SOURCE_CONFLICT}"
  data = (b.shared / "chest_xray_small/train/PNEUMONIA" /
          CROSS_SOURCE_CONFLICT).read_bytes()
  _write(b.manual / kermany_path, data)
  copy_path = f"{CORONAHACK_IMAGES}/train/{CROSS_SOURCE_CONFLICT}"
  _write(b.manual / copy_path, data)
  b.add(Case("cross_source_conflict_kermany",
             "Kermany PNEUMONIA file ...", SKIPPED, merge.LABEL_CONFLICT,
             path=kermany_path))
  columns = ["", "X_ray_image_name", "Label", "Dataset_type",
             "Label_2_Virus_category", "Label_1_Virus_category"]
  rows = [
      ([CROSS_SOURCE_CONFLICT, "Normal", "TRAIN", "", ""], Case(
          "cross_source_conflict_coronahack",
          "... whose byte-identical CoronaHack copy is labelled Normal",
          SKIPPED, merge.LABEL_CONFLICT, path=copy_path)),
      (["IM-0999-0001.jpeg", "Normal", "VALIDATION", "", ""], Case(
          "unknown_split_row", "row with Dataset_type VALIDATION", SKIPPED,
          records.UNKNOWN_SPLIT)),
  ]
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator="\n")
  writer.writerow(columns)
  for index, (row, case) in enumerate(rows):
    writer.writerow([str(index)] + row)
    b.add(dataclasses.replace(
        case, metadata=f"coronahack/{coronahack.METADATA}#{index + 1}"))
  _write(b.manual / "coronahack" / coronahack.METADATA,
         buffer.getvalue().encode())


def make_corpus(target: pathlib.Path, shared_data: pathlib.Path) -> Corpus:
  """Writes target/manual (the manual_dir) and target/outside (see above)."""
  b = _Builder(shared_data, target)
  (b.manual / IEEE_IMAGES).mkdir(parents=True)
  _kermany_part(b)
  _ieee8023_part(b)
  _coronahack_part(b)
  return Corpus(b.manual, b.outside, b.cases, b.good_paths)


# Layouts that must stop the build with an error naming what is wrong.


def make_missing_column(target: pathlib.Path, shared_data: pathlib.Path,
                        column: str = "finding") -> pathlib.Path:
  """ieee8023 layout whose metadata.csv lacks a required column."""
  header, real_rows = _read_real_metadata(shared_data)
  keep = [i for i, name in enumerate(header) if name != column]
  root = target / IEEE
  (root / "images").mkdir(parents=True)
  shutil.copyfile(shared_data / IEEE_IMAGES / IEEE8023_TEMPLATE,
                  root / "images" / IEEE8023_TEMPLATE)
  with open(root / ieee8023.METADATA, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow([header[i] for i in keep])
    writer.writerow([real_rows[IEEE8023_TEMPLATE][i] for i in keep])
  return target


def make_empty_sources(target: pathlib.Path) -> pathlib.Path:
  """Every source layout present, and not one file in any of them."""
  for split in ("train", "test"):
    for cls in ("NORMAL", "PNEUMONIA"):
      (target / KERMANY / split / cls).mkdir(parents=True)
  (target / IEEE_IMAGES).mkdir(parents=True)
  header = ",".join(ieee8023.REQUIRED_COLUMNS) + "\n"
  (target / IEEE / ieee8023.METADATA).write_text(header)
  return target


def make_metadata_without_images(target: pathlib.Path,
                                 shared_data: pathlib.Path) -> pathlib.Path:
  """A covid-chestxray-dataset folder holding images but no metadata.csv."""
  (target / IEEE_IMAGES).mkdir(parents=True)
  shutil.copyfile(shared_data / IEEE_IMAGES / IEEE8023_TEMPLATE,
                  target / IEEE_IMAGES / IEEE8023_TEMPLATE)
  return target


def make_metadata_link_outside(target: pathlib.Path,
                               shared_data: pathlib.Path) -> pathlib.Path:
  """metadata.csv is a link to a CSV outside the source root."""
  manual_dir = target / "manual"
  (manual_dir / IEEE_IMAGES).mkdir(parents=True)
  shutil.copyfile(shared_data / IEEE_IMAGES / IEEE8023_TEMPLATE,
                  manual_dir / IEEE_IMAGES / IEEE8023_TEMPLATE)
  outside = target / "outside.csv"
  shutil.copyfile(shared_data / IEEE / ieee8023.METADATA, outside)
  (manual_dir / IEEE / ieee8023.METADATA).symlink_to(outside)
  return manual_dir
