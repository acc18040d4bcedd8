"""Canonical labels and every source's mapping onto them, kept as data.

A reader of this module sees every finding string the builder knows and the
label it becomes. Strings that are not here are excluded and reported, never
guessed.
"""

from typing import NamedTuple, Optional

LABELS = ("normal", "pneumonia")
PNEUMONIA_TYPES = ("normal", "bacterial", "viral", "covid19", "fungal", "other")


class Finding(NamedTuple):
  label: str
  pneumonia_type: str


NORMAL = Finding("normal", "normal")
BACTERIAL = Finding("pneumonia", "bacterial")
VIRAL = Finding("pneumonia", "viral")
COVID19 = Finding("pneumonia", "covid19")
FUNGAL = Finding("pneumonia", "fungal")
# "other" holds pneumonia whose cause is non-infectious (lipoid, ARDS) or not
# given by the source (ieee8023 "Pneumonia").
OTHER = Finding("pneumonia", "other")

# Flat `finding` strings of ieee8023 metadata.csv (2020 snapshots, as in
# ../shared/data). "todo" and "Unknown" are deliberately absent.
IEEE8023_FLAT_FINDINGS = {
    "No Finding": NORMAL,
    "COVID-19": COVID19,
    "COVID-19, ARDS": COVID19,
    "SARS": VIRAL,
    "MERS": VIRAL,
    "MERS-CoV": VIRAL,
    "Varicella": VIRAL,
    "Influenza": VIRAL,
    "Herpes pneumonia": VIRAL,
    "Streptococcus": BACTERIAL,
    "Klebsiella": BACTERIAL,
    "Legionella": BACTERIAL,
    "E.Coli": BACTERIAL,
    "Mycoplasma Bacterial Pneumonia": BACTERIAL,
    "Chlamydophila": BACTERIAL,
    "Staphylococcus": BACTERIAL,
    "Bacterial": BACTERIAL,
    "Pneumocystis": FUNGAL,
    "Aspergillosis": FUNGAL,
    "Lipoid": OTHER,
    "ARDS": OTHER,
    "Pneumonia": OTHER,
}

# Hierarchical findings of later ieee8023 versions ("Pneumonia/Viral/COVID-19").
# The longest listed prefix (in path components) decides; a finding with no
# listed prefix is unknown.
IEEE8023_FINDING_PREFIXES = {
    ("No Finding",): NORMAL,
    ("Pneumonia",): OTHER,
    ("Pneumonia", "Viral"): VIRAL,
    ("Pneumonia", "Viral", "COVID-19"): COVID19,
    ("Pneumonia", "Bacterial"): BACTERIAL,
    ("Pneumonia", "Fungal"): FUNGAL,
    ("Pneumonia", "Lipoid"): OTHER,
    ("Pneumonia", "Aspiration"): OTHER,
}

# ieee8023 `view` values: frontal ones are kept by default, lateral on request.
FRONTAL_VIEWS = frozenset({"PA", "AP", "AP Supine", "AP Erect"})
LATERAL_VIEWS = frozenset({"L"})

# CoronaHack metadata: (Label, Label_1_Virus_category, Label_2_Virus_category).
# `Label` is the binary label ("Pnemonia" is the CSV's own spelling); the two
# category columns only refine the type.
CORONAHACK_CATEGORIES = {
    ("Normal", "", ""): NORMAL,
    ("Pnemonia", "bacteria", ""): BACTERIAL,
    ("Pnemonia", "bacteria", "Streptococcus"): BACTERIAL,
    ("Pnemonia", "Virus", ""): VIRAL,
    ("Pnemonia", "Virus", "COVID-19"): COVID19,
    ("Pnemonia", "Virus", "SARS"): VIRAL,
    ("Pnemonia", "Stress-Smoking", "ARDS"): OTHER,
}

# Kermany: the class folder gives the label, the file name the type
# (`personN_bacteria_M.jpeg`, `personN_virus_M.jpeg`).
KERMANY_TYPES_BY_NAME_WORD = {"bacteria": BACTERIAL, "virus": VIRAL}
KERMANY_CLASS_FOLDERS = {"NORMAL": NORMAL, "PNEUMONIA": OTHER}


def ieee8023_finding(finding: str) -> Optional[Finding]:
  """Maps an ieee8023 `finding` (flat or hierarchical) or returns None."""
  finding = finding.strip()
  if finding in IEEE8023_FLAT_FINDINGS:
    return IEEE8023_FLAT_FINDINGS[finding]
  parts = tuple(part.strip() for part in finding.split("/"))
  for length in range(len(parts), 0, -1):
    mapped = IEEE8023_FINDING_PREFIXES.get(parts[:length])
    if mapped is not None:
      return mapped
  return None


def coronahack_finding(label: str, category_1: str,
                       category_2: str) -> Optional[Finding]:
  """Maps a CoronaHack metadata row's three label columns or returns None."""
  label = "Pnemonia" if label.strip() == "Pneumonia" else label.strip()
  return CORONAHACK_CATEGORIES.get(
      (label, category_1.strip(), category_2.strip()))


def resolve(findings: list[Finding]) -> Optional[Finding]:
  """The one finding that copies of an image agree on, or None on conflict.

  Copies must agree on the binary label. On the type, "other" (unspecified)
  gives way to a specific type; two different specific types conflict.
  """
  if not findings or len({f.label for f in findings}) != 1:
    return None
  specific = {f.pneumonia_type for f in findings} - {"other"}
  if len(specific) > 1:
    return None
  if specific:
    return Finding(findings[0].label, specific.pop())
  return findings[0]
