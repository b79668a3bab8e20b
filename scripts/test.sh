#!/usr/bin/env bash
# Set up if needed, then run the whole test suite (about 2 minutes on 2 idle CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
