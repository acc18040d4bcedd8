#!/usr/bin/env bash
# One command from a fresh clone: install, build the dataset, (later stages: train, evaluate).
#   bash quickstart.sh [MANUAL_DIR] [WORK_DIR]
# MANUAL_DIR holds the source layouts (default ../shared/data); WORK_DIR receives the
# dataset and every artefact (default ./out).
set -euo pipefail
cd "$(dirname "$0")"
MANUAL_DIR="${1:-../shared/data}"
WORK_DIR="${2:-./out}"
CONFIG="${QUICKSTART_CONFIG:-small_gray_204}"

stage() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

stage "1/2 install (pip install -e .)"
python3 -m pip install --quiet -e .

stage "2/2 build pneumonia_xray/${CONFIG} from ${MANUAL_DIR} into ${WORK_DIR}/tensorflow_datasets"
tfds build pneumonia_xray --imports pneumonia_tfds --config "${CONFIG}" \
  --manual_dir "${MANUAL_DIR}" --data_dir "${WORK_DIR}/tensorflow_datasets"

stage "done: report in ${WORK_DIR}/tensorflow_datasets/pneumonia_xray/${CONFIG}/1.0.0/build_report.csv"
