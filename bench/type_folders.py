"""What do bacterial and viral films differ in, folder by folder?

Kermany's `test/` folder separates the two pneumonia types almost perfectly
for any model, its `train/` folder does not. This looks for the reason
without a model: for each simple property of a file (width, height, aspect,
megapixels, bytes, bits per pixel, mean and standard deviation of the gray
levels) it gives the ROC-AUC with which that property alone tells viral
from bacterial films, in each folder of the originals (chest_xray/) and of
the 224 px copy (chest_xray_small/). 0.5 means no information; a property far
from 0.5 in test/ but not in train/ is an artefact of how test/ was put
together.

  python -m bench.type_folders [--shared_data=../shared/data]
"""

import os
import re
import sys

from absl import app
from absl import flags
import numpy as np
from PIL import Image
from sklearn import metrics as sk_metrics

FLAGS = flags.FLAGS
PROPERTIES = ("width", "height", "aspect", "megapixels", "bytes",
              "bits_per_pixel", "mean", "std")
_NAME = re.compile(r"^person\d+_(bacteria|virus)_", re.IGNORECASE)


def file_properties(path: str) -> dict[str, float]:
  with Image.open(path) as image:
    width, height = image.size
    gray = np.asarray(image.convert("L"), np.float32)
  size = os.path.getsize(path)
  return {"width": width, "height": height, "aspect": width / height,
          "megapixels": width * height / 1e6, "bytes": size,
          "bits_per_pixel": size * 8 / (width * height),
          "mean": float(gray.mean()), "std": float(gray.std())}


def folder_aucs(root: str, folder: str) -> dict:
  """n, n_viral and property -> AUC for root/folder/PNEUMONIA."""
  directory = os.path.join(root, folder, "PNEUMONIA")
  viral, values = [], {name: [] for name in PROPERTIES}
  for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
    match = _NAME.match(name)
    if not match:
      continue
    viral.append(int(match.group(1).lower() == "virus"))
    for key, value in file_properties(os.path.join(directory, name)).items():
      values[key].append(value)
  viral = np.asarray(viral)
  result = {"n": int(viral.size), "n_viral": int(viral.sum())}
  defined = 0 < viral.sum() < viral.size
  for key in PROPERTIES:
    result[key] = (float(sk_metrics.roc_auc_score(viral, values[key]))
                   if defined else float("nan"))
  return result


def to_markdown(rows: list[tuple[str, str, dict]]) -> str:
  lines = ["| copy | folder | films (viral) | " + " | ".join(PROPERTIES)
           + " |", "| --- " * (3 + len(PROPERTIES)) + "|"]
  for copy, folder, r in rows:
    lines.append(f"| {copy} | {folder}/ | {r['n']} ({r['n_viral']}) | "
                 + " | ".join(f"{r[k]:.2f}" for k in PROPERTIES) + " |")
  return "\n".join(lines) + "\n"


def main(argv) -> None:
  del argv
  rows = []
  for copy in ("chest_xray", "chest_xray_small"):
    for folder in ("train", "test"):
      result = folder_aucs(os.path.join(FLAGS.shared_data, copy), folder)
      if result["n"]:
        rows.append((copy, folder, result))
  print(to_markdown(rows))


if __name__ == "__main__":
  flags.DEFINE_string("shared_data", os.environ.get(
      "PNEUMONIA_SHARED_DATA", "../shared/data"), "The shared data folder.")
  sys.exit(app.run(main))
