"""Where the test suite's CPU goes: per test file, the CPU of the pytest worker and of the processes
it started (torchrun ranks, Dask and pool workers, pip, `accent` subprocesses), and the total.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/suite_cpu.py [--top 15] [pytest arguments]

Runs the suite as scripts/test.sh does (pytest-xdist, a worker per core, --dist loadfile) with the
plugin benchmarks/suite_cpu_plugin.py, then prints a table. A child's CPU counts when it is reaped, so
a module fixture's long-lived processes (the Dask cluster) count in the test that ends them.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=15, help="files shown (default 15)")
    args, pytest_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cpu.jsonl"
        env = {**os.environ, "SUITE_CPU_OUT": str(out), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "benchmarks"), os.environ.get("PYTHONPATH")]))}
        start = time.time()
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile",
                              "-p", "no:cacheprovider", "-p", "suite_cpu_plugin", *pytest_args], cwd=REPO, env=env)
        wall = time.time() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for row in rows:
        f = files[row["test"].split("::")[0]]
        f[0] += row["own"]
        f[1] += row["children"]
        f[2] += 1
    total = usage.ru_utime + usage.ru_stime
    own, children = sum(f[0] for f in files.values()), sum(f[1] for f in files.values())
    print(f"\nsuite: {wall:.1f} s wall, {total:.1f} CPU s in all; in tests {own:.1f} s in the pytest workers and "
          f"{children:.1f} s in processes they started; the rest ({total - own - children:.1f} s) is the workers' "
          "start-up and collection\n")
    print("| test file | tests | worker CPU s | child processes CPU s |\n|---|---|---|---|")
    for name, (o, c, n) in sorted(files.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:args.top]:
        print(f"| {name} | {n} | {o:.1f} | {c:.1f} |")
    return rc


if __name__ == "__main__":
    sys.exit(main())
