"""How far other digests are from a golden one: the evidence behind compare.py's tolerances.

For every other digest (written by ``produce.py --out``, e.g. under ``MKL_CBWR=COMPATIBLE`` or
``ATEN_CPU_CAPABILITY=default`` to stand in for another CPU, or with a changed seed) it prints the
smallest float tolerance and array tolerance at which the non-chaotic entries compare equal, the
entry that needs them, and whether compare.py's tolerant comparison passes.

    PYTHONPATH=$PWD .venv/bin/python tests/golden/measure.py tests/golden/golden.json /tmp/other.json ...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from compare import ARRAY_TOLERANCE, CHAOTIC, TOLERANCE, differences, entry_differences

NOT_ENTRIES = {"platform", "speech/skipped"}
UNBOUNDED = 1e9


def needed(produced, golden, floats: bool) -> float:
    """The smallest float (or array) tolerance, the other one unbounded, at which they compare equal."""
    def fails(tol):
        return differences(produced, golden, tol if floats else UNBOUNDED, array_tol=UNBOUNDED if floats else tol)

    if fails(1.0):
        return float("inf")
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if fails(middle) else (low, middle)
    return high


def report(golden: dict, produced: dict) -> str:
    keys = sorted(set(golden) - NOT_ENTRIES - CHAOTIC)
    worst = [max((needed(produced[k], golden[k], floats), k) for k in keys) for floats in (True, False)]
    failing = sorted({k for k in set(golden) - NOT_ENTRIES if entry_differences(k, produced[k], golden[k])})
    return (f"floats need {worst[0][0]:.2g} ({worst[0][1]}), arrays {worst[1][0]:.2g} ({worst[1][1]}); "
            f"at {TOLERANCE:g}/{ARRAY_TOLERANCE:g}: {len(failing)} entries fail {failing[:4]}")


def main() -> None:
    golden = json.loads(Path(sys.argv[1]).read_text())
    for other in sys.argv[2:]:
        print(f"{other}: {report(golden, json.loads(Path(other).read_text()))}")


if __name__ == "__main__":
    main()
