r"""Writes dummy_data/: a tiny fake copy of the three source layouts.

Run from the repository root:

  python -m pneumonia_tfds.datasets.pneumonia_xray.make_dummy_data

The images are small synthetic pictures (numpy noise on a gradient, fixed
seed), not X-rays. The layout, names, metadata columns and oddities follow the
real sources (see ../shared/data/README.md): the same personN across pneumonia
types, byte-identical files under two names, an RGB Kermany JPEG, CoronaHack
byte copies of Kermany and ieee8023 files and metadata rows whose file is
absent, hierarchical ieee8023 findings, lateral/CT/todo rows, a PNG named
`.jpg` and an image no metadata row names. The output is deterministic: the
same script writes the same bytes.
"""

import argparse
import csv
import io
import os
import shutil
from typing import Optional, Sequence

import numpy as np
from PIL import Image

SEED = 20200101
WIDTH, HEIGHT = 32, 24
DUMMY_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "dummy_data")

KERMANY = "chest_xray"
IEEE8023 = "covid-chestxray-dataset"
CORONAHACK = "coronahack"
CORONAHACK_IMAGES = os.path.join(CORONAHACK, "Coronahack-Chest-XRay-Dataset",
                                 "Coronahack-Chest-XRay-Dataset")

# Kermany files: path under chest_xray/ -> image mode. "=name" makes a
# byte-identical copy of an earlier file of the same folder.
KERMANY_FILES = {
    "train/NORMAL/IM-0001-0001.jpeg": "L",
    "train/NORMAL/IM-0003-0001.jpeg": "L",
    "train/NORMAL/IM-0005-0001.jpeg": "L",
    "train/NORMAL/NORMAL2-IM-0002-0001.jpeg": "L",
    "train/PNEUMONIA/person1_bacteria_1.jpeg": "RGB",
    "train/PNEUMONIA/person1_virus_2.jpeg": "L",
    "train/PNEUMONIA/person2_bacteria_3.jpeg": "L",
    "train/PNEUMONIA/person2_bacteria_4.jpeg": "L",
    "train/PNEUMONIA/person3_virus_5.jpeg": "L",
    "val/NORMAL/IM-0010-0001.jpeg": "L",
    "val/PNEUMONIA/person4_bacteria_6.jpeg": "L",
    "test/NORMAL/IM-0020-0001.jpeg": "L",
    "test/NORMAL/NORMAL2-IM-0021-0001-0001.jpeg": "L",
    "test/NORMAL/NORMAL2-IM-0095-0001.jpeg": "L",
    "test/NORMAL/NORMAL2-IM-0096-0001.jpeg": "=NORMAL2-IM-0095-0001.jpeg",
    "test/PNEUMONIA/person2_virus_10.jpeg": "L",
    "test/PNEUMONIA/person5_bacteria_7.jpeg": "L",
    "test/PNEUMONIA/person5_bacteria_8.jpeg": "=person5_bacteria_7.jpeg",
    "test/PNEUMONIA/person6_virus_9.jpeg": "L",
}

# The header of the real metadata.csv, trailing comma (an unnamed column)
# included.
IEEE8023_HEADER = (
    "patientid,offset,sex,age,finding,survival,intubated,intubation_present,"
    "went_icu,in_icu,needed_supplemental_O2,extubated,temperature,"
    "pO2_saturation,leukocyte_count,neutrophil_count,lymphocyte_count,view,"
    "modality,date,location,folder,filename,doi,url,license,clinical_notes,"
    "other_notes,")

# ieee8023 metadata rows: (patientid, finding, view, modality, filename, file
# format written to images/ or None when the file is absent). Findings are
# hierarchical, as in later upstream versions.
IEEE8023_ROWS = (
    ("100", "Pneumonia/Viral/COVID-19", "PA", "X-ray",
     "covid-19-pneumonia-1.jpeg", "JPEG RGB"),
    ("100", "Pneumonia/Viral/COVID-19", "AP Supine", "X-ray",
     "covid-19-pneumonia-1-day3.jpg", "JPEG L"),
    ("100", "Pneumonia/Viral/COVID-19", "L", "X-ray",
     "covid-19-pneumonia-1-L.jpg", "JPEG L"),
    ("101", "Pneumonia/Viral/COVID-19", "AP", "X-ray",
     "000001-1.jpg", "PNG RGBA"),  # A PNG named .jpg, as upstream has.
    ("102", "Pneumonia/Bacterial/Streptococcus", "PA", "X-ray",
     "streptococcus-pneumoniae-pneumonia-1.jpg", "JPEG L"),
    ("103", "Pneumonia/Fungal/Pneumocystis", "PA", "X-ray",
     "pneumocystis-pneumonia-1.jpg", "JPEG L"),
    ("104", "Pneumonia/Viral/Influenza", "AP", "X-ray",
     "influenza-pneumonia-1.jpeg", "JPEG L"),
    ("105", "Pneumonia/Lipoid", "PA", "X-ray",
     "lipoid-pneumonia-1.jpg", "JPEG L"),
    ("106", "No Finding", "PA", "X-ray", "no-finding-1.png", "PNG L"),
    ("107", "todo", "PA", "X-ray", "todo-1.jpeg", "JPEG L"),
    ("108", "Pneumonia/Viral/COVID-19", "Axial", "CT",
     "covid-19-ct-1.jpg", "JPEG L"),
    ("109", "Pneumonia/Viral/COVID-19", "PA", "X-ray",
     "covid-19-pneumonia-absent.jpg", None),
)
# An image in images/ that no metadata row names.
IEEE8023_STRAY = "no-metadata-row-1.jpg"

# CoronaHack metadata rows: (X_ray_image_name, Label, Dataset_type,
# Label_2_Virus_category, Label_1_Virus_category, copy of or None). Present
# files are byte copies of the Kermany or ieee8023 file they name.
CORONAHACK_ROWS = (
    ("IM-0001-0001.jpeg", "Normal", "TRAIN", "", "",
     "chest_xray/train/NORMAL/IM-0001-0001.jpeg"),
    ("IM-0099-0001.jpeg", "Normal", "TRAIN", "", "", None),
    ("person1_bacteria_1.jpeg", "Pnemonia", "TRAIN", "", "bacteria",
     "chest_xray/train/PNEUMONIA/person1_bacteria_1.jpeg"),
    ("person3_virus_5.jpeg", "Pnemonia", "TRAIN", "", "Virus",
     "chest_xray/train/PNEUMONIA/person3_virus_5.jpeg"),
    ("person99_bacteria_300.jpeg", "Pnemonia", "TRAIN", "", "bacteria", None),
    ("covid-19-pneumonia-1.jpeg", "Pnemonia", "TRAIN", "COVID-19", "Virus",
     "covid-chestxray-dataset/images/covid-19-pneumonia-1.jpeg"),
    ("covid-19-pneumonia-1-L.jpg", "Pnemonia", "TRAIN", "COVID-19", "Virus",
     "covid-chestxray-dataset/images/covid-19-pneumonia-1-L.jpg"),
    ("streptococcus-pneumoniae-pneumonia-1.jpg", "Pnemonia", "TRAIN",
     "Streptococcus", "bacteria",
     "covid-chestxray-dataset/images/streptococcus-pneumoniae-pneumonia-1.jpg"),
    ("SARS-10.1148rg.242035193-g04mr34g09a-Fig9a-day17.jpeg", "Pnemonia",
     "TRAIN", "SARS", "Virus", None),
    ("acute-respiratory-distress-syndrome-ards.jpg", "Pnemonia", "TRAIN",
     "ARDS", "Stress-Smoking", None),
    ("IM-0020-0001.jpeg", "Normal", "TEST", "", "",
     "chest_xray/test/NORMAL/IM-0020-0001.jpeg"),
    ("person2_virus_10.jpeg", "Pnemonia", "TEST", "", "Virus",
     "chest_xray/test/PNEUMONIA/person2_virus_10.jpeg"),
)
CORONAHACK_HEADER = ("", "X_ray_image_name", "Label", "Dataset_type",
                     "Label_2_Virus_category", "Label_1_Virus_category")


def fake_image(rng: np.random.Generator, mode: str,
               size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
  """A small synthetic picture: a dark "lung" pair on a gradient, plus noise."""
  width, height = size
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  picture = 60 + 120 * y / height
  for center in (0.3, 0.7):
    lung = (((x / width - center) / 0.16) ** 2 +
            ((y / height - 0.5) / 0.35) ** 2) < 1
    picture[lung] -= 50
  gray = picture + rng.normal(0, 12, size=picture.shape)
  if mode == "L":
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")
  tint = rng.uniform(0.85, 1.15, size=3)
  rgb = np.clip(gray[..., None] * tint, 0, 255).astype(np.uint8)
  if mode == "RGB":
    return Image.fromarray(rgb, "RGB")
  alpha = np.full((height, width, 1), 255, np.uint8)
  alpha[:2] = 0  # A transparent strip, as screenshots have.
  return Image.fromarray(np.concatenate([rgb, alpha], axis=-1), "RGBA")


def encode(image: Image.Image, image_format: str) -> bytes:
  buffer = io.BytesIO()
  if image_format == "JPEG":
    image.save(buffer, format="JPEG", quality=85)
  else:
    image.save(buffer, format="PNG")
  return buffer.getvalue()


def _write(path: str, data: bytes) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    f.write(data)


def _write_csv(path: str, header: Optional[str], columns: Sequence[str],
               rows: Sequence[Sequence[str]]) -> None:
  buffer = io.StringIO()
  if header is not None:
    buffer.write(header + "\n")
  writer = csv.writer(buffer, lineterminator="\n")
  if columns:
    writer.writerow(columns)
  writer.writerows(rows)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    f.write(buffer.getvalue())


def _ieee8023_row(index: int, patientid: str, finding: str, view: str,
                  modality: str, filename: str) -> list[str]:
  columns = IEEE8023_HEADER.split(",")
  row = dict.fromkeys(columns, "")
  row.update(
      patientid=patientid, offset=str(index), sex="MF"[index % 2],
      age=str(30 + index), finding=finding, view=view, modality=modality,
      date=f"March {index + 1}, 2020", location="Dummy Hospital, Nowhere",
      folder="images", filename=filename, doi=f"10.0000/dummy.{index}",
      url=f"https://example.org/dummy/{index}",
      license=("CC BY-NC-SA 4.0", "CC BY 4.0", "CC BY-NC-ND")[index % 3],
      # Quoted commas and a newline inside a field, as upstream's notes have.
      clinical_notes=f"Dummy row {index}, not a patient.\nSecond line.")
  return [row[column] for column in columns]


def write_dummy_data(output_dir: str) -> list[str]:
  """Writes the three layouts into output_dir; returns the files written."""
  rng = np.random.default_rng(SEED)
  written = []

  def put(relative_path: str, data: bytes) -> None:
    _write(os.path.join(output_dir, relative_path), data)
    written.append(relative_path)

  for relative_path, mode in KERMANY_FILES.items():
    path = f"{KERMANY}/{relative_path}"
    if mode.startswith("="):
      source = os.path.join(output_dir, os.path.dirname(path), mode[1:])
      with open(source, "rb") as f:
        put(path, f.read())
    else:
      put(path, encode(fake_image(rng, mode), "JPEG"))

  ieee_rows = []
  for index, (patientid, finding, view, modality, filename,
              file_format) in enumerate(IEEE8023_ROWS):
    ieee_rows.append(_ieee8023_row(index, patientid, finding, view, modality,
                                   filename))
    if file_format is not None:
      image_format, mode = file_format.split()
      size = (HEIGHT, WIDTH) if index % 2 else (WIDTH, HEIGHT)
      put(f"{IEEE8023}/images/{filename}",
          encode(fake_image(rng, mode, size), image_format))
  put(f"{IEEE8023}/images/{IEEE8023_STRAY}",
      encode(fake_image(rng, "L"), "JPEG"))
  _write_csv(os.path.join(output_dir, IEEE8023, "metadata.csv"),
             IEEE8023_HEADER, (), ieee_rows)

  coronahack_rows = []
  for index, (name, label, split, category_2, category_1,
              copy_of) in enumerate(CORONAHACK_ROWS):
    coronahack_rows.append((str(index), name, label, split, category_2,
                            category_1))
    if copy_of is not None:
      with open(os.path.join(output_dir, copy_of), "rb") as f:
        put(f"{CORONAHACK_IMAGES}/{split.lower()}/{name}", f.read())
  _write_csv(os.path.join(output_dir, CORONAHACK,
                          "Chest_xray_Corona_Metadata.csv"),
             None, CORONAHACK_HEADER, coronahack_rows)
  return written


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--output_dir", default=DUMMY_DATA,
                      help="folder to (re)create; default: dummy_data/ "
                      "beside this script")
  args = parser.parse_args(argv)
  if os.path.isdir(args.output_dir):
    unexpected = set(os.listdir(args.output_dir)) - {KERMANY, IEEE8023,
                                                      CORONAHACK}
    if unexpected:
      raise ValueError(f"{args.output_dir} holds {sorted(unexpected)}; "
                       "refusing to replace a folder that is not dummy data")
    shutil.rmtree(args.output_dir)
  files = write_dummy_data(args.output_dir)
  total = sum(os.path.getsize(os.path.join(root, name))
              for root, _, names in os.walk(args.output_dir) for name in names)
  print(f"wrote {len(files)} images and 2 CSV files ({total} bytes) to "
        f"{args.output_dir}")


if __name__ == "__main__":
  main()
