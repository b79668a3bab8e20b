# Shared settings for the stage scripts; sourced, not run. Every variable can be set in the environment.
#
#   DATA_DIR         where corpora, features, runs and reports go             (default: data)
#   SAA_ROOT         a Speech Accent Archive download (speakers_all.csv + recordings/); unset: synthetic
#   CV_ROOT          a Common Voice release folder (validated.tsv + clips/, or v1 cv-*.csv); unset: synthetic
#   SOURCE_MANIFEST  instead of SAA_ROOT: any manifest CSV (path,label[,speaker]) as the pretraining corpus
#   TARGET_MANIFEST  instead of CV_ROOT: any manifest CSV as the transfer target
#   SOURCE_ARGS      extra `accent manifest` options for the source (e.g. "--min-speakers 20 --classes english,spanish")
#   TARGET_ARGS      extra `accent manifest` options for the target
#   SEED             seed for splits, synthesis and training                  (default: 0)
#   PRESET           model preset: tdnn (CPU default), tdnn-large, cnn2d, cnn2d-large
#   DEVICE           cpu or cuda (default: cuda when available)
set -euo pipefail
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT_DIR"
DATA_DIR="${DATA_DIR:-data}"
SEED="${SEED:-0}"
PRESET="${PRESET:-tdnn}"
SYNTH_DIR="${SYNTH_DIR:-$DATA_DIR/corpora/synthetic}"
SOURCE_FEATURES="${SOURCE_FEATURES:-$DATA_DIR/features/source}"
TARGET_FEATURES="${TARGET_FEATURES:-$DATA_DIR/features/target}"
SOURCE_RUN="${SOURCE_RUN:-$DATA_DIR/runs/pretrain}"
CURVE_DIR="${CURVE_DIR:-$DATA_DIR/runs/curve}"
REPORT_DIR="${REPORT_DIR:-$DATA_DIR/reports/latest}"
ACCENT="$ROOT_DIR/.venv/bin/accent"

ensure_setup() { "$ROOT_DIR/scripts/setup.sh"; }

log_stage() { printf '\n\033[1m== %s ==\033[0m\n' "$*" >&2; }
