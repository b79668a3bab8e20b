"""pytest plugin of benchmarks/suite_cpu.py: each test's CPU seconds, its own and its reaped child
processes', appended as JSON lines to $SUITE_CPU_OUT (module fixtures count in their first test)."""
from __future__ import annotations

import json
import os
import resource
import time

import pytest


def _now() -> tuple[float, float, float]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    before = _now()
    yield
    after = _now()
    with open(os.environ["SUITE_CPU_OUT"], "a") as fh:
        fh.write(json.dumps({"test": item.nodeid, "own": after[0] - before[0], "children": after[1] - before[1],
                             "wall": after[2] - before[2]}) + "\n")
