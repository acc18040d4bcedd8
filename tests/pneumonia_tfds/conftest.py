"""Session fixtures shared by the pneumonia_tfds tests: the real sources, read
once, since several modules check different facts about the same records."""

import os

import pytest

from pneumonia_tfds import merge
from pneumonia_tfds.sources import coronahack
from pneumonia_tfds.sources import ieee8023
from pneumonia_tfds.sources import kermany

# The builder's priority order, spelt out here so that a change to it shows up
# as a failing merge test rather than silently moving every key.
SOURCE_ORDER = (kermany.NAME, ieee8023.NAME, coronahack.NAME)


@pytest.fixture(scope="session")
def kermany_records(shared_data):
  manual_dir = os.fspath(shared_data)
  return list(kermany.read_records(kermany.find_root(manual_dir), manual_dir))


@pytest.fixture(scope="session")
def ieee8023_records(shared_data):
  manual_dir = os.fspath(shared_data)
  return list(ieee8023.read_records(ieee8023.find_root(manual_dir), manual_dir))


@pytest.fixture(scope="session")
def coronahack_records(shared_data):
  manual_dir = os.fspath(shared_data)
  return list(coronahack.read_records(coronahack.find_root(manual_dir),
                                      manual_dir))


@pytest.fixture(scope="session")
def real_merged(shared_data, kermany_records, ieee8023_records,
                coronahack_records):
  """merge.merge over the three real sources, as the builder calls it."""
  all_records = kermany_records + ieee8023_records + coronahack_records
  return merge.merge(all_records, SOURCE_ORDER, os.fspath(shared_data))
