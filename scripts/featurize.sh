#!/usr/bin/env bash
# Build the source (SAA-like) and target (CV-like) manifests and feature stores.
# Inputs (see scripts/common.sh): SAA_ROOT / SOURCE_MANIFEST, CV_ROOT / TARGET_MANIFEST; with none
# given, the synthetic default corpora are generated first. Outputs: $SOURCE_FEATURES, $TARGET_FEATURES.
# Extra arguments are passed to `accent featurize` (e.g. --workers 4 --config feats.json).
source "$(dirname "$0")/common.sh"
ensure_setup

manifest_for() {  # role root corpus manifest extra_args -> prints the manifest path
  local role=$1 root=$2 corpus=$3 given=$4 extra=$5
  local out="$DATA_DIR/manifests/$role.csv"
  if [ -n "$given" ]; then
    "$ACCENT" manifest --corpus manifest --root "$given" --out "$out" --seed "$SEED" $extra >&2
  else
    "$ACCENT" manifest --corpus "$corpus" --root "$root" --out "$out" --seed "$SEED" $extra >&2
  fi
  echo "$out"
}

if { [ -z "${SAA_ROOT:-}" ] && [ -z "${SOURCE_MANIFEST:-}" ]; } || { [ -z "${CV_ROOT:-}" ] && [ -z "${TARGET_MANIFEST:-}" ]; }; then
  log_stage "synthetic corpora -> $SYNTH_DIR"
  [ -z "${SAA_ROOT:-}" ] && [ -z "${SOURCE_MANIFEST:-}" ] && "$ACCENT" synth --layout saa --out "$SYNTH_DIR/saa" --seed "$SEED"
  [ -z "${CV_ROOT:-}" ] && [ -z "${TARGET_MANIFEST:-}" ] && "$ACCENT" synth --layout cv --out "$SYNTH_DIR/cv" --seed "$SEED"
fi

log_stage "source manifest and features -> $SOURCE_FEATURES"
src=$(manifest_for source "${SAA_ROOT:-$SYNTH_DIR/saa}" saa "${SOURCE_MANIFEST:-}" "${SOURCE_ARGS:-}")
"$ACCENT" featurize --manifest "$src" --out "$SOURCE_FEATURES" "$@"

log_stage "target manifest and features -> $TARGET_FEATURES"
tgt=$(manifest_for target "${CV_ROOT:-$SYNTH_DIR/cv}" commonvoice "${TARGET_MANIFEST:-}" "${TARGET_ARGS:-}")
"$ACCENT" featurize --manifest "$tgt" --out "$TARGET_FEATURES" "$@"
