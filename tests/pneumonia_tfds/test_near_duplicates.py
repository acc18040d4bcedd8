"""near_duplicates: fingerprints of real films, copies made of them, builds."""

import csv
import io
import pathlib
import random

import pytest
from PIL import Image

from pneumonia_tfds import images
from pneumonia_tfds import near_duplicates
from pneumonia_tfds import report
from tests import conftest

KERMANY = "chest_xray"


def _fingerprint(data: bytes) -> near_duplicates.Fingerprint:
  return near_duplicates.fingerprint(images.decode(data, 1, min_size=204))


def _save(image: Image.Image, **options) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, **options)
  return buffer.getvalue()


def _copies(data: bytes) -> dict[str, bytes]:
  """What Kaggle derivatives do to a film: re-encode, shrink, squash,
  re-save losslessly, crop a little."""
  image = images.decode(data, 1)
  width, height = image.size
  crop = (width // 100, height // 100, width - width // 100,
          height - height // 100)
  return {
      "quality 60": _save(image, format="JPEG", quality=60),
      "a third the size": _save(image.resize((width // 3, height // 3)),
                                format="JPEG", quality=90),
      "squashed to 224 px": _save(image.resize((224, 224)), format="JPEG",
                                  quality=90),
      "PNG": _save(image, format="PNG"),
      "1% cropped": _save(image.crop(crop), format="JPEG", quality=90),
  }


def _originals(shared_data, count):
  kermany = sorted((shared_data / KERMANY).rglob("*.jpeg"))
  ieee8023 = sorted((shared_data / "covid-chestxray-dataset/images").iterdir())
  chosen = kermany[::len(kermany) // count][:count - count // 3]
  chosen += ieee8023[::len(ieee8023) // (count // 3)][:count // 3]
  return [path.read_bytes() for path in chosen]


def test_made_copies_are_found_and_kept_apart_from_other_films(shared_data):
  originals = _originals(shared_data, 12)
  fingerprints, owner = [], []
  for index, data in enumerate(originals):
    fingerprints.append(_fingerprint(data))
    owner.append(index)
    for copy in _copies(data).values():
      fingerprints.append(_fingerprint(copy))
      owner.append(index)
  found = {(i, j) for i, j, _, _ in near_duplicates.pairs(fingerprints)}
  same_film = {(i, j) for i in range(len(owner)) for j in range(i + 1, len(owner))
               if owner[i] == owner[j]}
  # Every copy matches its original and the other copies of it ...
  assert same_film <= found
  # ... and nothing of another film.
  assert found == same_film


def test_real_downscaled_copies_are_found_with_no_false_match(shared_data):
  # chest_xray_small holds 270 of the shared originals at 224x224 (squashed,
  # grayscale, re-encoded: the README's part C), under the same names.
  originals = {path.name: path for path in (shared_data / KERMANY).rglob("*.jpeg")}
  small = sorted(path for path in (shared_data / "chest_xray_small").rglob("*.jpeg")
                 if path.name in originals)
  assert len(small) == 270
  paths = sorted(originals.values()) + small
  fingerprints = [_fingerprint(path.read_bytes()) for path in paths]
  pairs = near_duplicates.pairs(fingerprints)
  same_name = [(i, j) for i, j, _, _ in pairs
               if paths[i].name == paths[j].name]
  assert len(same_name) == 270
  others = {(paths[i].name, paths[j].name) for i, j, _, _ in pairs
            if paths[i].name != paths[j].name}
  # Only person128_bacteria_606/607, which are one file twice (byte-identical,
  # shared data README part A), match under different names.
  assert {frozenset(pair) for pair in others} <= {
      frozenset({"person128_bacteria_606.jpeg", "person128_bacteria_607.jpeg"})}


def test_pairs_in_blocks_equal_all_pairs(monkeypatch):
  generator = random.Random(0)
  base = [near_duplicates.Fingerprint(generator.getrandbits(64),
                                      generator.getrandbits(256))
          for _ in range(300)]
  # Plant near copies: a few flipped bits in both hashes.
  planted = []
  for fingerprint in base[:40]:
    phash, dhash = fingerprint.phash, fingerprint.dhash
    for bit in generator.sample(range(64), 3):
      phash ^= 1 << bit
    for bit in generator.sample(range(256), 10):
      dhash ^= 1 << bit
    planted.append(near_duplicates.Fingerprint(phash, dhash))
  fingerprints = base + planted
  expected = sorted(
      (i, j, bin(a.phash ^ b.phash).count("1"), bin(a.dhash ^ b.dhash).count("1"))
      for i, a in enumerate(fingerprints) for j, b in enumerate(fingerprints)
      if i < j and bin(a.phash ^ b.phash).count("1") <= 6
      and bin(a.dhash ^ b.dhash).count("1") <= 24)
  assert len(expected) >= 40
  assert near_duplicates.pairs(fingerprints) == expected
  monkeypatch.setattr(near_duplicates, "_BLOCK_ELEMENTS", 997)
  assert near_duplicates.pairs(fingerprints) == expected


def test_fingerprint_text_round_trips():
  fingerprint = near_duplicates.Fingerprint(2**64 - 1, 2**255 + 7)
  assert near_duplicates.Fingerprint.from_text(fingerprint.to_text()) == fingerprint


@pytest.fixture(scope="module")
def near_duplicate_build(tmp_path_factory, shared_data):
  """A Kermany layout whose test split holds re-encoded copies of two train
  films under other children's names."""
  manual_dir = tmp_path_factory.mktemp("near_manual")
  conftest.copy_kermany_subset(manual_dir, {"train": 12, "test": 6},
                               shared_data)
  train = sorted((manual_dir / KERMANY / "train" / "NORMAL").iterdir())[:2]
  test_folder = manual_dir / KERMANY / "test" / "NORMAL"
  copies = {}
  for number, original in enumerate(train):
    name = f"IM-90{number:02d}-0001.jpeg"
    (test_folder / name).write_bytes(
        _copies(original.read_bytes())["quality 60"])
    copies[f"{KERMANY}/test/NORMAL/{name}"] = (
        f"{KERMANY}/train/NORMAL/{original.name}")
  builder = conftest.build(manual_dir, tmp_path_factory.mktemp("near_data"),
                           "gray_96")
  text = (pathlib.Path(builder.data_dir) / report.REPORT_CSV).read_text()
  return builder, copies, list(csv.DictReader(io.StringIO(text)))


def test_near_duplicates_are_reported_grouped_and_not_merged(
    near_duplicate_build):
  import tensorflow_datasets as tfds

  builder, copies, rows = near_duplicate_build
  by_path = {row["path"]: row for row in rows}
  examples = {}
  for split in builder.info.splits:
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
      examples[example["file_name"].decode()] = (split, example)
  for copy, original in copies.items():
    copy_row, original_row = by_path[copy], by_path[original]
    # Both are examples of their own (the bytes differ) ...
    assert copy_row["status"] == original_row["status"] == report.WRITTEN
    # ... reported as near duplicates of each other ...
    assert copy_row["near_duplicate_of"].startswith(original_row["key"] + " (")
    assert original_row["near_duplicate_of"].startswith(copy_row["key"] + " (")
    # ... and one patient group, so one split, although the copy's folder
    # and name say another child in another split.
    assert copy_row["split"] == original_row["split"]
    assert (examples[copy][1]["patient_group"] ==
            examples[original][1]["patient_group"])
  near = [row for row in rows if row["near_duplicate_of"]]
  assert len(near) == 2 * len(copies)
  summary = report.read_summary(builder.data_dir)
  assert summary["near_duplicate_pairs_per_sources"] == {
      "kermany ~ kermany": len(copies)}
