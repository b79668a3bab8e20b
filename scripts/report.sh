#!/usr/bin/env bash
# Stage: the report. report.md, report.html and figures in $REPORT_DIR from the pretrained run
# ($SOURCE_RUN), every seed of each curve mode at its largest training size, and the learning curve
# ($CURVE_DIR/curve.csv), which gives the generated answer to "did transfer help?".
#
#   N_BOOT   speaker-bootstrap resamples per run for the 95 % intervals (default 1000)
#   SOURCE_RUN, CURVE_DIR, REPORT_DIR: see scripts/common.sh
# Extra arguments go to `accent report` (e.g. --no-embeddings).
source "$(dirname "$0")/common.sh"
ensure_setup
N_BOOT="${N_BOOT:-1000}"
if [ ! -f "$CURVE_DIR/curve.csv" ]; then
  echo "report.sh: no learning curve in $CURVE_DIR: run scripts/transfer.sh first (or set CURVE_DIR)" >&2
  exit 2
fi
runs=()
[ -f "$SOURCE_RUN/run.json" ] && runs+=("$SOURCE_RUN")
for series in "$CURVE_DIR"/*/; do
  if [ -d "${series}nall" ]; then
    largest="${series}nall"
  else  # no 'all' size was run: take the largest n<k>
    largest=$(find "$series" -mindepth 1 -maxdepth 1 -type d -name 'n[0-9]*' | sort -V | tail -n 1)
  fi
  [ -n "$largest" ] || continue
  for run in "$largest"/seed*; do
    [ -f "$run/run.json" ] && runs+=("$run")
  done
done
log_stage "report: ${#runs[@]} runs and $CURVE_DIR -> $REPORT_DIR"
"$ACCENT" report --runs "${runs[@]}" --curve "$CURVE_DIR" --out "$REPORT_DIR" --n-boot "$N_BOOT" "$@"
