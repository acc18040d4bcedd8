"""labels: the mapping tables against the real metadata, and resolve's rules."""

import pandas as pd
import pytest

from pneumonia_tfds import labels

# ieee8023's own "not labelled yet" values: such rows must be reported as
# unknown, never guessed into a class.
DELIBERATELY_UNKNOWN = {"todo", "Unknown"}


def _read_csv(path):
  return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def ieee8023_metadata(shared_data):
  return _read_csv(shared_data / "covid-chestxray-dataset" / "metadata.csv")


@pytest.fixture(scope="module")
def coronahack_metadata(shared_data):
  return _read_csv(
      shared_data / "coronahack" / "Chest_xray_Corona_Metadata.csv")


def _assert_consistent(finding):
  # A Finding is only useful to the builder if both halves are canonical and
  # agree with each other (the "normal" type is exactly the "normal" label).
  assert finding.label in labels.LABELS
  assert finding.pneumonia_type in labels.PNEUMONIA_TYPES
  assert (finding.label == "normal") == (finding.pneumonia_type == "normal")


def test_every_real_ieee8023_x_ray_finding_maps_or_is_deliberately_unknown(
    ieee8023_metadata):
  modality = ieee8023_metadata["modality"].str.strip()
  x_ray = ieee8023_metadata[modality == "X-ray"]
  unmapped = set()
  for finding_text in sorted(set(x_ray["finding"])):
    finding = labels.ieee8023_finding(finding_text)
    if finding is None:
      unmapped.add(finding_text)
    else:
      _assert_consistent(finding)
  assert unmapped <= DELIBERATELY_UNKNOWN, unmapped


@pytest.mark.parametrize("finding_text", sorted(DELIBERATELY_UNKNOWN))
def test_deliberately_unknown_findings_stay_unmapped(finding_text):
  assert labels.ieee8023_finding(finding_text) is None


@pytest.mark.parametrize("finding_text, expected", [
    ("COVID-19", labels.COVID19),
    ("COVID-19, ARDS", labels.COVID19),
    ("No Finding", labels.NORMAL),
    ("Streptococcus", labels.BACTERIAL),
    ("Mycoplasma Bacterial Pneumonia", labels.BACTERIAL),
    ("E.Coli", labels.BACTERIAL),
    ("Pneumocystis", labels.FUNGAL),
    ("SARS", labels.VIRAL),
    ("Varicella", labels.VIRAL),
    ("Lipoid", labels.OTHER),
    ("ARDS", labels.OTHER),
    ("Pneumonia", labels.OTHER),
    (" COVID-19 ", labels.COVID19),  # Stray spaces in a CSV cell.
])
def test_flat_ieee8023_findings(finding_text, expected):
  assert labels.ieee8023_finding(finding_text) == expected


@pytest.mark.parametrize("finding_text, expected", [
    ("Pneumonia/Viral/COVID-19", labels.COVID19),
    ("Pneumonia/Viral/SARS", labels.VIRAL),
    ("Pneumonia/Bacterial/Streptococcus", labels.BACTERIAL),
    ("Pneumonia/Bacterial/Klebsiella", labels.BACTERIAL),
    ("Pneumonia/Fungal/Pneumocystis", labels.FUNGAL),
    ("Pneumonia/Lipoid", labels.OTHER),
    ("Pneumonia", labels.OTHER),
    ("No Finding", labels.NORMAL),
    ("Tuberculosis", None),
    ("todo", None),
    ("", None),
])
def test_hierarchical_ieee8023_findings(finding_text, expected):
  assert labels.ieee8023_finding(finding_text) == expected


def test_every_real_coronahack_label_combination_maps(coronahack_metadata):
  combinations = coronahack_metadata.groupby(
      ["Label", "Label_1_Virus_category", "Label_2_Virus_category"]).size()
  assert len(combinations) >= 7  # The real CSV has 7; none may be dropped.
  for (label, category_1, category_2), _ in combinations.items():
    finding = labels.coronahack_finding(label, category_1, category_2)
    assert finding is not None, (label, category_1, category_2)
    _assert_consistent(finding)
    # `Label` alone carries the binary label; the category columns refine it.
    assert finding.label == ("normal" if label == "Normal" else "pneumonia")


def test_coronahack_bacteria_with_empty_second_category_is_bacterial():
  # The blog post this project grew from read Label_2_Virus_category as the
  # label, which turns these 2772 rows into "normal".
  assert labels.coronahack_finding("Pnemonia", "bacteria", "") == (
      labels.BACTERIAL)
  assert labels.coronahack_finding("Pnemonia", "Virus", "") == labels.VIRAL
  assert labels.coronahack_finding("Pnemonia", "Virus", "COVID-19") == (
      labels.COVID19)
  assert labels.coronahack_finding("Normal", "", "") == labels.NORMAL


def test_resolve_agreement():
  assert labels.resolve([labels.VIRAL]) == labels.VIRAL
  assert labels.resolve([labels.NORMAL, labels.NORMAL]) == labels.NORMAL
  assert labels.resolve([labels.OTHER, labels.OTHER]) == labels.OTHER


def test_resolve_other_gives_way_to_a_specific_type():
  assert labels.resolve([labels.OTHER, labels.BACTERIAL]) == labels.BACTERIAL
  assert labels.resolve([labels.COVID19, labels.OTHER]) == labels.COVID19
  assert labels.resolve(
      [labels.OTHER, labels.FUNGAL, labels.FUNGAL]) == labels.FUNGAL


def test_resolve_label_conflict_is_none():
  assert labels.resolve([labels.NORMAL, labels.BACTERIAL]) is None
  # "other" does not make a normal copy give way either.
  assert labels.resolve([labels.OTHER, labels.NORMAL]) is None


def test_resolve_two_specific_types_is_none():
  assert labels.resolve([labels.BACTERIAL, labels.VIRAL]) is None
  assert labels.resolve([labels.OTHER, labels.VIRAL, labels.COVID19]) is None


def test_resolve_nothing_is_none():
  assert labels.resolve([]) is None
