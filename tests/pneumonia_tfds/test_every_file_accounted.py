"""Every file under a source root ends as an example, a duplicate or a row
with a reason, including files in folders no layout defines."""

import csv
import io
import os
import pathlib
import shutil

import pytest

from pneumonia_tfds import report
from pneumonia_tfds.sources import records
from tests import conftest

OUTSIDE = records.OUTSIDE_LAYOUT
ARTEFACT = records.ARCHIVE_ARTEFACT


@pytest.fixture(scope="module")
def odd_layout(tmp_path_factory, shared_data):
  """Real Kermany and ieee8023 files, plus what real downloads carry."""
  manual_dir = tmp_path_factory.mktemp("odd_manual")
  conftest.copy_kermany_subset(manual_dir, {"train": 8, "test": 4}, shared_data)
  kermany = manual_dir / "chest_xray"
  film = next((kermany / "train" / "NORMAL").iterdir())
  ieee8023 = manual_dir / "covid-chestxray-dataset"
  (ieee8023 / "images").mkdir(parents=True)
  shutil.copyfile(shared_data / "covid-chestxray-dataset" / "metadata.csv",
                  ieee8023 / "metadata.csv")
  for path in sorted((shared_data / "covid-chestxray-dataset" / "images")
                     .iterdir())[:5]:
    shutil.copyfile(path, ieee8023 / "images" / path.name)
  extra = {
      # A class folder the Kermany layout does not know.
      "chest_xray/train/COVID19/covid-1.jpeg": (OUTSIDE, film.read_bytes()),
      # A split folder it does not know.
      "chest_xray/holdout/NORMAL/IM-0999-0001.jpeg": (OUTSIDE, film.read_bytes()),
      # A file at the root of the layout.
      "chest_xray/README.txt": (OUTSIDE, b"readme"),
      # The Kaggle archive's artefacts: macOS forks and a nested copy.
      "chest_xray/__MACOSX/train/NORMAL/._IM-0001-0001.jpeg": (ARTEFACT, b"x"),
      "chest_xray/chest_xray/train/NORMAL/IM-0001-0001.jpeg": (
          ARTEFACT, film.read_bytes()),
      # A git clone's other folders.
      "covid-chestxray-dataset/annotations/imageannotation_ai_lung.json": (
          OUTSIDE, b"{}"),
      "covid-chestxray-dataset/README.md": (OUTSIDE, b"# readme"),
      # A hidden file outside the image folders.
      "covid-chestxray-dataset/.gitattributes": (records.HIDDEN_FILE, b"*"),
  }
  for relative, (_, data) in extra.items():
    path = manual_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
  # A hidden folder (a git clone's .git) is one row, not walked into.
  (ieee8023 / ".git" / "objects").mkdir(parents=True)
  (ieee8023 / ".git" / "objects" / "ab").write_bytes(b"blob")
  expected = {path: reason for path, (reason, _) in extra.items()}
  expected["covid-chestxray-dataset/.git"] = records.HIDDEN_FILE
  # A link to a folder is reported, not followed.
  os.symlink(kermany / "train", kermany / "linked")
  expected["chest_xray/linked"] = records.NOT_A_FILE
  builder = conftest.build(manual_dir, tmp_path_factory.mktemp("odd_data"),
                           "gray_96")
  text = (pathlib.Path(builder.data_dir) / report.REPORT_CSV).read_text()
  return manual_dir, expected, list(csv.DictReader(io.StringIO(text)))


def test_every_file_on_disk_has_a_row(odd_layout):
  manual_dir, _, rows = odd_layout
  on_disk = set()
  for folder, folders, files in os.walk(manual_dir):
    folders[:] = [f for f in folders if f != ".git" and
                  not os.path.islink(os.path.join(folder, f))]
    on_disk |= {pathlib.Path(folder, name).relative_to(manual_dir).as_posix()
                for name in files}
  on_disk.discard("covid-chestxray-dataset/metadata.csv")  # Rows, not a path.
  paths = {row["path"] for row in rows if row["path"]}
  assert on_disk <= paths
  assert paths - on_disk == {"covid-chestxray-dataset/.git",
                             "chest_xray/linked"}


@pytest.mark.parametrize("kind", [
    "chest_xray/train/COVID19/covid-1.jpeg",
    "chest_xray/holdout/NORMAL/IM-0999-0001.jpeg",
    "chest_xray/README.txt",
    "chest_xray/__MACOSX/train/NORMAL/._IM-0001-0001.jpeg",
    "chest_xray/chest_xray/train/NORMAL/IM-0001-0001.jpeg",
    "covid-chestxray-dataset/annotations/imageannotation_ai_lung.json",
    "covid-chestxray-dataset/README.md",
    "covid-chestxray-dataset/.gitattributes",
    "covid-chestxray-dataset/.git",
    "chest_xray/linked",
])
def test_each_kind_of_stray_file_is_skipped_with_its_reason(odd_layout, kind):
  _, expected, rows = odd_layout
  [row] = [row for row in rows if row["path"] == kind]
  assert row["status"] == report.SKIPPED
  assert row["reason"] == expected[kind]
  assert row["detail"]
  # Never read: no digest, no split.
  assert not row["sha256"] and not row["split"]


def test_files_outside_the_layout_name_the_layout(odd_layout):
  _, _, rows = odd_layout
  [row] = [row for row in rows
           if row["path"] == "chest_xray/train/COVID19/covid-1.jpeg"]
  assert row["detail"] == ("train/COVID19/covid-1.jpeg: expected "
                           "{train,val,test}/{NORMAL,PNEUMONIA}/<image>")
  assert row["source"] == "kermany"
