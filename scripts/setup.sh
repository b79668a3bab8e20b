#!/usr/bin/env bash
# One-time, idempotent set-up: system tools (espeak-ng, sox) and a .venv with the project installed.
# Safe to rerun: it only installs what is missing. Used by reproduce.sh, test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Tested pair (see docs/benchmarks.md); pyproject.toml keeps compatible ranges.
TORCH_PIN="${TORCH_PIN:-torch==2.14.1}"
TORCHAUDIO_PIN="${TORCHAUDIO_PIN:-torchaudio==2.11.0}"
PYTHON="${PYTHON:-python3}"

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
[ -x .venv/bin/python ] || "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp_src=$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -c1-12)
stamp=.venv/.setup-$stamp_src
if [ -f "$stamp" ]; then
  exit 0
fi
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
install -e ".[test,backbones,dask]" "$TORCH_PIN" "$TORCHAUDIO_PIN"
rm -f .venv/.setup-*
touch "$stamp"
echo "setup: done"
