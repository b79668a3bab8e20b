#!/usr/bin/env bash
# Stage: the learning curve. Every transfer mode (baseline, scratch, extract, finetune, and aligned when
# the target reads one passage) on the target store, at several training sizes (recordings per class; "all" = the whole train split), with several
# seeds each: `accent curve`, nothing else. Needs the pretrained source run (scripts/pretrain.sh).
# Resumable: finished runs are kept, so rerunning after an interruption only trains what is missing.
# Output: $CURVE_DIR/<mode>/n<size>/seed<seed>/ run directories and $CURVE_DIR/curve.csv.
#
#   SIZES      recordings per class                       (default 5,10,20,50,all)
#   SEEDS      seeds per size, at least 3 for a spread    (default 0,1,2)
#   MODES      transfer modes                             (default: all; aligned only for a same-passage target)
#   BACKBONES  networks for extract/finetune              (default accent = $SOURCE_RUN)
#   FOLDS      k for speaker-disjoint k-fold CV per point (default: empty = the store's fixed split)
#   PART       before-source: only the modes that need no pretrained run (scripts/reproduce.sh trains
#              them beside pretraining); needs-source: only the others; empty (default): everything
#   JOBS       runs trained side by side (default: one per CPU core)
#   SOURCE_RUN, TARGET_FEATURES, CURVE_DIR, DEVICE: see scripts/common.sh
# Extra arguments go to `accent curve` (e.g. --max-epochs 10).
source "$(dirname "$0")/common.sh"
ensure_setup
SIZES="${SIZES:-5,10,20,50,all}"
SEEDS="${SEEDS:-0,1,2}"
MODES="${MODES:-}"
BACKBONES="${BACKBONES:-accent}"
FOLDS="${FOLDS:-}"
PART="${PART:-}"
JOBS="${JOBS:-}"
extra=()
if [ "$PART" = before-source ]; then  # no pretrained run needed: scratch takes the source's preset
  extra+=(--part before-source --preset "$PRESET")
elif [ ! -f "$SOURCE_RUN/run.json" ]; then
  echo "transfer.sh: no pretrained run in $SOURCE_RUN: run scripts/pretrain.sh first (or set SOURCE_RUN)" >&2
  exit 2
else
  extra+=(--source "$SOURCE_RUN")
  [ -n "$PART" ] && extra+=(--part "$PART")
fi
log_stage "learning curve${PART:+ ($PART part)}: ${MODES:-every mode} x sizes $SIZES x seeds $SEEDS on $TARGET_FEATURES -> $CURVE_DIR"
[ -n "$JOBS" ] && extra+=(--jobs "$JOBS")
[ -n "$FOLDS" ] && extra+=(--folds "$FOLDS")
[ -n "$MODES" ] && extra+=(--modes "$MODES")
[ -n "${DEVICE:-}" ] && extra+=(--device "$DEVICE")
"$ACCENT" curve --features "$TARGET_FEATURES" --out "$CURVE_DIR" \
  --sizes "$SIZES" --seeds "$SEEDS" --backbones "$BACKBONES" "${extra[@]}" "$@"
