#!/usr/bin/env bash
# From a fresh clone: install, build the dataset, train a short run on the CPU,
# evaluate it on the test split and leave the report.
#
#   bash quickstart.sh [MANUAL_DIR] [WORK_DIR]
#
# MANUAL_DIR holds the source layouts (default ../shared/data: its chest_xray_small/
# is the training-scale Kermany copy); WORK_DIR receives everything (default ./out).
# Knobs (environment): QUICKSTART_CONFIG (small_gray_204), QUICKSTART_MODEL
# (small_resnet), QUICKSTART_IMAGE_SIZE (128), QUICKSTART_EPOCHS (3),
# QUICKSTART_SKIP_INSTALL=1 to reuse the installed environment,
# QUICKSTART_DOWNLOAD=1 to download the sources missing from MANUAL_DIR (needs
# internet; chest_xray_small/ has no public download, so the config then
# defaults to gray_204_source_splits: the Kermany originals from Mendeley Data,
# about 1.2 GB, and the ieee8023 archive from GitHub).
# Before the build a pre-flight check stops the script at once, naming the
# folders to provide, when MANUAL_DIR lacks the config's sources.
set -euo pipefail
cd "$(dirname "$0")"
MANUAL_DIR="${1:-../shared/data}"
WORK_DIR="${2:-./out}"
DOWNLOAD="${QUICKSTART_DOWNLOAD:-0}"
if [ "${DOWNLOAD}" = 1 ]; then
  CONFIG="${QUICKSTART_CONFIG:-gray_204_source_splits}"
else
  CONFIG="${QUICKSTART_CONFIG:-small_gray_204}"
fi
MODEL="${QUICKSTART_MODEL:-small_resnet}"
IMAGE_SIZE="${QUICKSTART_IMAGE_SIZE:-128}"
EPOCHS="${QUICKSTART_EPOCHS:-3}"
DATA_DIR="${WORK_DIR}/tensorflow_datasets"
MODEL_DIR="${WORK_DIR}/run"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

stage() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ "${QUICKSTART_SKIP_INSTALL:-0}" != 1 ]; then
  stage "1/4 install: pip install -e . -c constraints.txt"
  python3 -m pip install --quiet -e . -c constraints.txt
fi

# The builder's download switch is a builder kwarg, which `tfds build` takes
# in the dataset name.
DATASET=pneumonia_xray
PREFLIGHT_ARGS=(--config "${CONFIG}" --manual_dir "${MANUAL_DIR}")
if [ "${DOWNLOAD}" = 1 ]; then
  DATASET="pneumonia_xray/download_missing=True"
  PREFLIGHT_ARGS+=(--download)
fi

stage "2/4 build pneumonia_xray/${CONFIG} from ${MANUAL_DIR} into ${DATA_DIR}"
# Seconds, where a build without its sources would fail only inside TFDS.
if ! python3 -m pneumonia_tfds.preflight "${PREFLIGHT_ARGS[@]}"; then
  if [ "${DOWNLOAD}" = 1 ]; then
    echo "quickstart: stopped before the build (nothing downloaded or built)." >&2
  else
    echo "quickstart: stopped before the build. Provide the folders above" \
      "(or pass another MANUAL_DIR), or, with internet, build from the public" \
      "downloads: QUICKSTART_DOWNLOAD=1 bash quickstart.sh (without" \
      "QUICKSTART_CONFIG it builds gray_204_source_splits)." >&2
  fi
  exit 1
fi
tfds build "${DATASET}" --imports pneumonia_tfds --config "${CONFIG}" \
  --manual_dir "${MANUAL_DIR}" --data_dir "${DATA_DIR}"

stage "3/4 train ${MODEL} at ${IMAGE_SIZE} px for ${EPOCHS} epochs into ${MODEL_DIR}"
python3 -m trainer.train --model_dir="${MODEL_DIR}" --data_dir="${DATA_DIR}" \
  --dataset="pneumonia_xray/${CONFIG}" --model="${MODEL}" \
  --image_size="${IMAGE_SIZE}" --epochs="${EPOCHS}"

stage "4/4 evaluate on test (threshold chosen on validation for 95% sensitivity)"
python3 -m trainer.evaluate --model_dir="${MODEL_DIR}" --split=test \
  --threshold_method=sensitivity --target_sensitivity=0.95

stage "done: open ${MODEL_DIR}/evaluation/test/report.md"
