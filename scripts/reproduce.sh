#!/usr/bin/env bash
# The whole capstone reproduction, recipe style: each stage reads the files of the previous one.
#
#   scripts/reproduce.sh                      # everything, on the synthetic default (about 6 min on 2 idle CPU cores)
#   scripts/reproduce.sh --stage 2            # rerun from pretraining on
#   scripts/reproduce.sh --stage 1 --stop-stage 1   # only corpora and features
#   SAA_ROOT=/data/saa CV_ROOT=/data/cv-corpus-17.0/en scripts/reproduce.sh   # real corpora
#
# Stages: 0 set-up; 1 corpora (synthetic unless SAA_ROOT/CV_ROOT or manifests are given), manifests
# and feature stores; 2 pretrain; 3 transfer learning curve (all modes, sizes, seeds); 4 report.
# Every stage is resumable; rerunning a finished stage does (almost) nothing. Variables: scripts/common.sh.
source "$(dirname "$0")/common.sh"
stage=0
stop_stage=100
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "reproduce.sh: unknown argument '$1' (use --stage N --stop-stage M)" >&2; exit 2 ;;
  esac
done
run() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

start=$(date +%s)
run 0 && { log_stage "stage 0: set-up"; ensure_setup; }
run 1 && "$ROOT_DIR/scripts/featurize.sh"
if run 2 && run 3 && [ ! -f "$SOURCE_RUN/run.json" ] && [ "${DEVICE:-cpu}" = cpu ]; then
  # Pretraining is one network on one core; the curve's runs that need no pretrained run (baseline,
  # scratch) train on the other core meanwhile, and the runs that need it start once it is written.
  [ -f "$SOURCE_FEATURES/store.json" ] && [ -f "$TARGET_FEATURES/store.json" ] || "$ROOT_DIR/scripts/featurize.sh"
  PART=before-source JOBS=1 OMP_NUM_THREADS=1 "$ROOT_DIR/scripts/transfer.sh" & beside=$!
  OMP_NUM_THREADS=1 "$ROOT_DIR/scripts/pretrain.sh" || { kill "$beside"; exit 1; }
  PART=needs-source "$ROOT_DIR/scripts/transfer.sh"   # one run per core, beside what is left of the other part
  wait "$beside"
elif run 2; then
  "$ROOT_DIR/scripts/pretrain.sh"
fi
run 3 && "$ROOT_DIR/scripts/transfer.sh"   # resumes: writes the whole curve.csv, trains what is missing
run 4 && "$ROOT_DIR/scripts/report.sh"
log_stage "done in $(( $(date +%s) - start )) s; report: $REPORT_DIR/report.md"
