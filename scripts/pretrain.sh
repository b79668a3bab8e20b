#!/usr/bin/env bash
# Stage: pretrain the accent network on the same-passage source corpus (SAA, or the synthetic default).
# Builds the feature stores first when they are missing (scripts/featurize.sh). Output: $SOURCE_RUN.
# Extra arguments go to `accent pretrain` (e.g. --max-epochs 40 --device cuda --compile). Resumes an
# interrupted run. See scripts/common.sh for the variables (SAA_ROOT, CV_ROOT, PRESET, DATA_DIR, ...).
source "$(dirname "$0")/common.sh"
ensure_setup
if [ ! -f "$SOURCE_FEATURES/store.json" ] || [ ! -f "$TARGET_FEATURES/store.json" ]; then
  "$ROOT_DIR/scripts/featurize.sh"
fi
log_stage "pretrain ($PRESET) on $SOURCE_FEATURES -> $SOURCE_RUN"
extra=()
[ -f "$SOURCE_RUN/checkpoint.pt" ] && extra+=(--resume)
[ -n "${DEVICE:-}" ] && extra+=(--device "$DEVICE")
"$ACCENT" pretrain --features "$SOURCE_FEATURES" --out "$SOURCE_RUN" --preset "$PRESET" --seed "$SEED" "${extra[@]}" "$@"
