#!/usr/bin/env bash
# Set up if needed, then run the whole test suite on every CPU core (pytest-xdist: one worker per
# core, one torch thread each, each test file on one worker so that its module fixtures are built
# once; README states the measured time). Extra arguments go to pytest:
# scripts/test.sh -n 0 runs it in one process, scripts/test.sh tests/test_cli.py one file.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # the workers share the cores: no OpenMP spin-waits
exec .venv/bin/python -m pytest -q -n auto --dist loadfile "$@"
