"""Tests of the pneumonia_xray builder on dummy_data/.

dummy_data/ is written by make_dummy_data.py; the expected counts below are
derived from its tables and the split rules in pneumonia_tfds/splits.py (see
README.md, "Tests"). Rerun make_dummy_data.py and update them together.
"""

import collections
import csv
import os
import shutil
import tempfile

from absl.testing import absltest
import tensorflow_datasets as tfds

from pneumonia_tfds import report
from pneumonia_tfds.datasets.pneumonia_xray import pneumonia_xray_dataset_builder

Builder = pneumonia_xray_dataset_builder.Builder
DUMMY_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "dummy_data")
CORONAHACK_IMAGES = ("coronahack/Coronahack-Chest-XRay-Dataset/"
                     "Coronahack-Chest-XRay-Dataset")
IEEE8023_IMAGES = "covid-chestxray-dataset/images"
METADATA_CSVS = ("coronahack/Chest_xray_Corona_Metadata.csv",
                 "covid-chestxray-dataset/metadata.csv")


class PatientSplitsTest(tfds.testing.DatasetBuilderTestCase):
  """The standard TFDS checks for a patient-split config.

  25 distinct images become examples (17 Kermany, 8 ieee8023), in 18
  patient groups; each group's split is the seeded hash of its anchor key
  (splits.split_of): 12 groups (18 images) in train, 4 groups (5 images,
  person1's two among them) in validation, 2 (person4, ieee8023:103) in test.
  """
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["gray_96"]
  SPLITS = {"train": 18, "validation": 5, "test": 2}
  # The builder reads manual_dir with `os` and `open`, not tf.io.gfile.
  MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False


class SourceSplitsTest(tfds.testing.DatasetBuilderTestCase):
  """The standard TFDS checks for the sources' own splits.

  Kermany keeps train 9 / val 2 / test 6. The ieee8023 images of patients 100
  and 102 follow their CoronaHack copies into train (3 images); of the other
  5 ieee8023 patients, placed by their anchor's hash, 103 goes to test and
  106 to validation. Validation then takes IM-0001 and IM-0003 out of the
  source-train images (the carve's own hash).
  """
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["gray_204_source_splits"]
  SPLITS = {"train": 13, "validation": 5, "test": 7}
  MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False


def _build(config: str, data_dir: str) -> tfds.core.DatasetBuilder:
  builder = Builder(config=config, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=DUMMY_DATA))
  return builder


def _examples(builder: tfds.core.DatasetBuilder) -> dict[str, dict]:
  """file_name -> decoded example (with its split), for every split."""
  type_names = builder.info.features["pneumonia_type"].names
  label_names = builder.info.features["label"].names
  examples = {}
  for split in builder.info.splits:
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
      decoded = {
          name: value.decode() for name, value in example.items()
          if isinstance(value, bytes) and name != "image"}
      decoded.update(
          split=split, image_shape=example["image"].shape,
          label=label_names[example["label"]],
          pneumonia_type=type_names[example["pneumonia_type"]],
          sources=sorted(s.decode() for s in example["sources"]),
          file_names=sorted(f.decode() for f in example["file_names"]))
      examples[decoded["file_name"]] = decoded
  return examples


def _dummy_files() -> set[str]:
  """Every image file in dummy_data/, relative to it."""
  files = set()
  for root, _, names in os.walk(DUMMY_DATA):
    for name in names:
      path = os.path.relpath(os.path.join(root, name), DUMMY_DATA)
      if path.replace(os.sep, "/") not in METADATA_CSVS:
        files.add(path.replace(os.sep, "/"))
  return files


class DummyDataBuildTest(absltest.TestCase):
  """What the gray_96 build of dummy_data holds, example by example."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._data_dir = tempfile.mkdtemp()
    cls.builder = _build("gray_96", cls._data_dir)
    cls.examples = _examples(cls.builder)
    report_path = os.path.join(cls.builder.data_dir, report.REPORT_CSV)
    with open(report_path, encoding="utf-8", newline="") as f:
      cls.report = list(csv.DictReader(f))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls._data_dir, ignore_errors=True)
    super().tearDownClass()

  def _report_rows(self, path: str) -> list[dict[str, str]]:
    return [row for row in self.report if row["path"] == path]

  def test_images_are_fitted(self):
    for example in self.examples.values():
      self.assertEqual(example["image_shape"], (96, 96, 1))

  def test_hierarchical_findings_map_to_types(self):
    expected = {
        "covid-19-pneumonia-1.jpeg": ("Pneumonia/Viral/COVID-19", "covid19"),
        "covid-19-pneumonia-1-day3.jpg": ("Pneumonia/Viral/COVID-19",
                                          "covid19"),
        "000001-1.jpg": ("Pneumonia/Viral/COVID-19", "covid19"),
        "streptococcus-pneumoniae-pneumonia-1.jpg": (
            "Pneumonia/Bacterial/Streptococcus", "bacterial"),
        "pneumocystis-pneumonia-1.jpg": ("Pneumonia/Fungal/Pneumocystis",
                                         "fungal"),
        "influenza-pneumonia-1.jpeg": ("Pneumonia/Viral/Influenza", "viral"),
        "lipoid-pneumonia-1.jpg": ("Pneumonia/Lipoid", "other"),
        "no-finding-1.png": ("No Finding", "normal"),
    }
    actual = {
        name[len(IEEE8023_IMAGES) + 1:]: (e["finding"], e["pneumonia_type"])
        for name, e in self.examples.items() if e["source"] == "ieee8023"}
    self.assertEqual(actual, expected)
    for name, (_, pneumonia_type) in expected.items():
      example = self.examples[f"{IEEE8023_IMAGES}/{name}"]
      self.assertEqual(example["label"],
                       "normal" if pneumonia_type == "normal" else "pneumonia")

  def test_kermany_folder_and_name_give_the_type(self):
    for name, example in self.examples.items():
      if example["source"] != "kermany":
        continue
      base = os.path.basename(name)
      if "/NORMAL/" in name:
        expected = ("normal", "normal")
      elif "_bacteria_" in base:
        expected = ("pneumonia", "bacterial")
      else:
        self.assertIn("_virus_", base)
        expected = ("pneumonia", "viral")
      self.assertEqual((example["label"], example["pneumonia_type"]),
                       expected, name)

  def test_ct_lateral_todo_and_unnamed_files_are_not_examples(self):
    excluded = {
        f"{IEEE8023_IMAGES}/covid-19-pneumonia-1-L.jpg": "excluded view",
        f"{CORONAHACK_IMAGES}/train/covid-19-pneumonia-1-L.jpg":
            "excluded view",
        f"{IEEE8023_IMAGES}/todo-1.jpeg": "unknown finding",
        f"{IEEE8023_IMAGES}/covid-19-ct-1.jpg": "excluded modality",
        f"{IEEE8023_IMAGES}/no-metadata-row-1.jpg": "no metadata row",
    }
    in_examples = {f for e in self.examples.values() for f in e["file_names"]}
    for path, reason in excluded.items():
      self.assertNotIn(path, in_examples)
      rows = self._report_rows(path)
      self.assertLen(rows, 1, path)
      self.assertEqual((rows[0]["status"], rows[0]["reason"]),
                       (report.SKIPPED, reason), path)
    # The CoronaHack copy of the lateral image is vetoed by ieee8023's view.
    coronahack_copy = self._report_rows(
        f"{CORONAHACK_IMAGES}/train/covid-19-pneumonia-1-L.jpg")[0]
    self.assertEqual(coronahack_copy["detail"],
                     "L (per ieee8023/images/covid-19-pneumonia-1-L.jpg)")

  def test_coronahack_copies_are_deduplicated(self):
    copies = sorted(f for f in _dummy_files()
                    if f.startswith(CORONAHACK_IMAGES) and "-L." not in f)
    self.assertLen(copies, 7)
    for copy in copies:
      holding = [e for e in self.examples.values() if copy in e["file_names"]]
      self.assertLen(holding, 1, copy)
      example = holding[0]
      # The original names the example (priority kermany > ieee8023 >
      # coronahack); the example lists both files and both sources.
      self.assertNotEqual(example["source"], "coronahack")
      self.assertLen(example["file_names"], 2)
      self.assertIn(example["file_name"], example["file_names"])
      self.assertEqual(os.path.basename(example["file_name"]),
                       os.path.basename(copy))
      self.assertEqual(example["sources"],
                       sorted({example["source"], "coronahack"}))
    self.assertFalse([name for name in self.examples
                      if name.startswith("coronahack/")])

  def test_identical_kermany_files_are_one_example(self):
    example = self.examples["chest_xray/test/NORMAL/NORMAL2-IM-0095-0001.jpeg"]
    self.assertEqual(example["file_names"], [
        "chest_xray/test/NORMAL/NORMAL2-IM-0095-0001.jpeg",
        "chest_xray/test/NORMAL/NORMAL2-IM-0096-0001.jpeg"])
    self.assertNotIn("chest_xray/test/NORMAL/NORMAL2-IM-0096-0001.jpeg",
                     self.examples)
    self.assertEqual(
        self.examples["chest_xray/test/PNEUMONIA/person5_bacteria_7.jpeg"]
        ["file_names"],
        ["chest_xray/test/PNEUMONIA/person5_bacteria_7.jpeg",
         "chest_xray/test/PNEUMONIA/person5_bacteria_8.jpeg"])

  def test_patients_stay_in_one_split(self):
    splits_of = collections.defaultdict(set)
    for example in self.examples.values():
      splits_of[example["patient_id"]].add(example["split"])
    for patient_id, splits in splits_of.items():
      self.assertLen(splits, 1, patient_id)
    # personN is one key across types: person2's bacteria (train folder) and
    # virus (test folder) images are one patient.
    self.assertEqual(
        self.examples["chest_xray/train/PNEUMONIA/person2_bacteria_3.jpeg"]
        ["patient_id"], "kermany:person2")
    self.assertEqual(
        self.examples["chest_xray/test/PNEUMONIA/person2_virus_10.jpeg"]
        ["patient_id"], "kermany:person2")

  def test_report_accounts_for_every_file_and_metadata_row(self):
    self.assertEqual({row["path"] for row in self.report if row["path"]},
                     _dummy_files())
    expected_rows = set()
    for csv_path in METADATA_CSVS:
      with open(os.path.join(DUMMY_DATA, csv_path), encoding="utf-8",
                newline="") as f:
        count = sum(1 for _ in csv.reader(f)) - 1  # Rows, not lines.
      expected_rows.update(f"{csv_path}#{i}" for i in range(1, count + 1))
    self.assertEqual(
        {row["metadata"] for row in self.report if row["metadata"]},
        expected_rows)
    # One row per Kermany file (19), metadata row (12 + 12) and file no row
    # names (1).
    self.assertLen(self.report, 44)
    self.assertEqual(
        collections.Counter(row["status"] for row in self.report),
        {report.WRITTEN: 25, report.DUPLICATE: 9, report.SKIPPED: 10})
    self.assertEqual(
        collections.Counter((row["source"], row["reason"])
                            for row in self.report
                            if row["status"] == report.SKIPPED),
        {("coronahack", "missing file"): 4,
         ("coronahack", "excluded view"): 1,
         ("ieee8023", "excluded view"): 1,
         ("ieee8023", "excluded modality"): 1,
         ("ieee8023", "unknown finding"): 1,
         ("ieee8023", "missing file"): 1,
         ("ieee8023", "no metadata row"): 1})

  def test_report_matches_the_examples(self):
    written = {row["path"]: row for row in self.report
               if row["status"] == report.WRITTEN}
    self.assertEqual(set(written), set(self.examples))
    for path, row in written.items():
      example = self.examples[path]
      self.assertEqual(
          (row["split"], row["label"], row["pneumonia_type"], row["sha256"]),
          (example["split"], example["label"], example["pneumonia_type"],
           example["sha256"]), path)
    path_of_key = {row["key"]: path for path, row in written.items()}
    for row in self.report:
      if row["status"] == report.DUPLICATE:
        example = self.examples[path_of_key[row["duplicate_of"]]]
        self.assertIn(row["path"], example["file_names"])
        self.assertEqual(row["split"], example["split"])


class LateralConfigTest(absltest.TestCase):

  def test_lateral_view_is_kept_with_its_coronahack_copy(self):
    with tempfile.TemporaryDirectory() as data_dir:
      builder = _build("gray_204_lateral", data_dir)
      examples = _examples(builder)
    self.assertLen(examples, 26)
    example = examples[f"{IEEE8023_IMAGES}/covid-19-pneumonia-1-L.jpg"]
    self.assertEqual((example["view"], example["pneumonia_type"]),
                     ("L", "covid19"))
    self.assertEqual(example["file_names"], [
        f"{CORONAHACK_IMAGES}/train/covid-19-pneumonia-1-L.jpg",
        f"{IEEE8023_IMAGES}/covid-19-pneumonia-1-L.jpg"])


if __name__ == "__main__":
  tfds.testing.test_main()
