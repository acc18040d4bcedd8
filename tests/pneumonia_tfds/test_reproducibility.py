"""Same inputs, same dataset: two builds of the bad-inputs corpus, generated
into different folders and built into different data_dirs, the second with
every directory listed in reverse order and its metadata CSV rows shuffled,
give the same keys, splits and examples, image bytes included."""

import collections
import csv
import io
import os
import pathlib
import random

import numpy as np
import pytest

from pneumonia_tfds import report
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from tests import conftest
from tests.pneumonia_tfds import bad_inputs

CONFIG = "gray_96"
METADATA_CSVS = (f"{bad_inputs.IEEE}/{ieee8023.METADATA}",
                 f"coronahack/{coronahack.METADATA}")


def _shuffle_rows(csv_path: pathlib.Path, seed: int) -> None:
  """Shuffles the data rows of a CSV, header first, bytes of every field kept
  (Latin-1 maps each byte to one character and back)."""
  with open(csv_path, newline="", encoding="latin-1") as f:
    rows = list(csv.reader(f))
  header, data = rows[0], rows[1:]
  original = list(data)
  random.Random(seed).shuffle(data)
  assert data != original
  with open(csv_path, "w", newline="", encoding="latin-1") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(data)


def _plain(value):
  """A feature value as comparable Python data (image bytes stay bytes)."""
  if isinstance(value, np.ndarray):
    return tuple(value.tolist())
  if isinstance(value, np.generic):
    return value.item()
  return value


def _read(builder):
  import tensorflow_datasets as tfds  # Deferred: heavy.

  directory = pathlib.Path(builder.data_dir)
  report_rows = list(csv.DictReader(io.StringIO(
      (directory / report.REPORT_CSV).read_text())))
  examples = {}
  for split in builder.info.splits:
    dataset = builder.as_dataset(split=split, shuffle_files=False,
                                 decoders={"image": tfds.decode.SkipDecoding()})
    examples[split] = sorted(
        tuple(sorted((name, _plain(value)) for name, value in example.items()))
        for example in tfds.as_numpy(dataset))
  return report_rows, examples


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory, shared_data):
  first = bad_inputs.make_corpus(tmp_path_factory.mktemp("repro_a"),
                                 shared_data)
  second = bad_inputs.make_corpus(tmp_path_factory.mktemp("repro_b"),
                                  shared_data)
  for seed, name in enumerate(METADATA_CSVS):
    _shuffle_rows(second.manual_dir / name, seed)
  built_first = conftest.build(first.manual_dir,
                               tmp_path_factory.mktemp("repro_data_a"), CONFIG)
  listed = []
  original_listdir = os.listdir

  def reversed_listdir(path="."):
    listed.append(os.fspath(path))
    return list(reversed(original_listdir(path)))

  with pytest.MonkeyPatch.context() as monkeypatch:
    monkeypatch.setattr(os, "listdir", reversed_listdir)
    built_second = conftest.build(second.manual_dir,
                                  tmp_path_factory.mktemp("repro_data_b"),
                                  CONFIG)
  # The reversed listing reached the source folders.
  assert any(path.startswith(os.fspath(second.manual_dir)) for path in listed)
  return (first, _read(built_first)), (second, _read(built_second))


def _rows(corpus, name):
  """A corpus CSV's rows, with its own folder (named by one row, the
  absolute path out of the root) written as <corpus>."""
  with open(corpus.manual_dir / name, newline="", encoding="latin-1") as f:
    return [[field.replace(os.fspath(corpus.manual_dir.parent), "<corpus>")
             for field in row] for row in csv.reader(f)]


def test_the_two_inputs_differ_only_in_place_and_order(two_builds):
  (first, _), (second, _) = two_builds
  assert first.manual_dir != second.manual_dir
  for name in METADATA_CSVS:
    before = (first.manual_dir / name).read_bytes()
    after = (second.manual_dir / name).read_bytes()
    assert before != after
    rows_before, rows_after = (_rows(corpus, name)
                               for corpus in (first, second))
    assert rows_before[0] == rows_after[0]
    assert rows_before[1:] != rows_after[1:]
    assert sorted(rows_before[1:]) == sorted(rows_after[1:])


def test_same_keys_in_the_same_splits(two_builds):
  (_, (rows_a, _)), (_, (rows_b, _)) = two_builds

  def membership(rows):
    return {row["key"]: row["split"] for row in rows
            if row["status"] == report.WRITTEN}

  assert membership(rows_a) == membership(rows_b)
  assert set(membership(rows_a).values()) == {"train", "validation", "test"}


def test_same_examples_and_image_bytes(two_builds):
  (_, (_, examples_a)), (_, (_, examples_b)) = two_builds
  assert examples_a.keys() == examples_b.keys()
  for split in examples_a:
    assert examples_a[split] == examples_b[split], split


def test_same_outcome_for_every_file_and_row(two_builds):
  (_, (rows_a, _)), (_, (rows_b, _)) = two_builds

  def outcomes(rows):
    # A row's position in its CSV (the `metadata` reference) moved with the
    # shuffle, and the detail of a row naming an absolute path names the
    # corpus folder; everything else must match.
    return collections.Counter(
        tuple(value for column, value in sorted(row.items())
              if column not in ("metadata", "detail"))
        for row in rows)

  assert outcomes(rows_a) == outcomes(rows_b)
