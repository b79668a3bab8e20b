#!/usr/bin/env bash
# One-time, idempotent set-up: the system packages every stage uses (checked by capability, not just
# by binary; chromium for the browser test), a .venv with the project installed, then `accent doctor --strict`.
# Safe to rerun: it only installs what is missing. Used by reproduce.sh, test.sh and .ci/run.
#
#   scripts/setup.sh           install what is missing, then check with accent doctor --strict
#   scripts/setup.sh --check   only say which system packages are missing and why (exit 1 if any)
set -euo pipefail
cd "$(dirname "$0")/.."

# Tested pair (see docs/benchmarks.md); pyproject.toml keeps compatible ranges.
TORCH_PIN="${TORCH_PIN:-torch==2.14.1}"
TORCHAUDIO_PIN="${TORCHAUDIO_PIN:-torchaudio==2.11.0}"
PYTHON="${PYTHON:-python3}"
# A sample of the voices accent synth speaks with (accent doctor checks all of them).
SYNTH_VOICES="en-us en-gb-scotland en-029 hi cmn ar ru pt-br"
SYNTH_VARIANTS="m1 m7 f4"

need_apt=()
why=()
need() { need_apt+=("$1"); why+=("  $1: $2"); }

check_system() {
  if ! command -v espeak-ng >/dev/null 2>&1; then
    need espeak-ng "speaks the synthetic corpora (accent synth)"
  else
    local have missing=()
    have=" $(espeak-ng --voices 2>/dev/null | awk 'NR>1 {print $2}' | tr '\n' ' ') "
    have+="$(espeak-ng --voices=variant 2>/dev/null | awk 'NR>1 {n=split($5, p, "/"); print p[n]}' | tr '\n' ' ') "
    for v in $SYNTH_VOICES $SYNTH_VARIANTS; do
      [[ "$have" == *" $v "* ]] || missing+=("$v")
    done
    [ ${#missing[@]} -eq 0 ] || need espeak-ng-data "espeak-ng lacks voices accent synth uses: ${missing[*]}"
  fi
  if ! command -v sox >/dev/null 2>&1; then
    need sox "colours the synthetic voices (accent synth)"
    need libsox-fmt-mp3 "lets sox write mp3 clips (accent synth; without it the slower libsndfile encoder is used)"
  elif [[ " $(sox -h 2>/dev/null | sed -n 's/^AUDIO FILE FORMATS://p') " != *" mp3 "* ]]; then
    need libsox-fmt-mp3 "sox lists no mp3 among its formats; it writes the mp3 clips of accent synth"
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    need chromium "the browser test of accent serve (Playwright drives Debian's chromium; it never downloads one)"
  fi
  if [ ! -x .venv/bin/python ] && ! "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; then
    need python3-venv "$PYTHON cannot create the project's .venv"
  fi
}

check_system
if [ "${1:-}" = "--check" ]; then
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: missing system packages: ${need_apt[*]}"
    printf '%s\n' "${why[@]}"
    echo "setup: fix with: sudo apt-get install -y ${need_apt[*]}"
    exit 1
  fi
  echo "setup: system packages present (espeak-ng with its voices, sox with mp3)"
  exit 0
fi

installed_apt=0
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  printf '%s\n' "${why[@]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  installed_apt=1
fi

# The stamp marks a venv built from this pyproject/setup.sh that passed accent doctor --strict.
stamp_src=$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)
stamp=.venv/.setup-$stamp_src
if [ -f "$stamp" ] && [ "$installed_apt" -eq 0 ]; then
  exit 0
fi
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  echo "setup: installing $TORCH_PIN $TORCHAUDIO_PIN and the project into .venv (a few minutes the first time; log: .venv/setup.log)"
  install() {
    if ! .venv/bin/python -m pip install "$@" >>.venv/setup.log 2>&1; then
      tail -n 20 .venv/setup.log >&2
      echo "setup: pip install $* failed; full log in .venv/setup.log" >&2
      exit 1
    fi
  }
  install "$TORCH_PIN" "$TORCHAUDIO_PIN"
  install -e ".[test,backbones,serve,dask]" "$TORCH_PIN" "$TORCHAUDIO_PIN"
fi
echo "setup: checking the machine (accent doctor --strict)"
if ! .venv/bin/accent doctor --strict; then
  rm -f .venv/.setup-*  # so the next run checks again
  echo "setup: accent doctor found something missing; run the commands under 'to fix:' above, then rerun scripts/setup.sh" >&2
  exit 1
fi
rm -f .venv/.setup-*
touch "$stamp"
echo "setup: done"
