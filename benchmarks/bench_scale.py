"""Featurize 1k, 10k and 50k short synthetic clips with the process pool and with Dask.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 1000,10000,50000] [--workers 1,2]
                                               [--executors processes,dask] [--cache data/cache/bench_scale]

Clips: 1,000 distinct 2-second wav files (amplitude-modulated tones with noise at 16, 22.05, 44.1
and 48 kHz, a quarter stereo), generated once into ``--cache`` and reused; a manifest of N rows
names them repeatedly under new utt_ids, so every row is decoded, resampled and featurized. Each
(size, executor, workers) runs as a fresh ``accent featurize`` process into a new store, reporting
wall time, clips per second (and per worker), CPU seconds, and peak resident memory of the driver
process (/proc VmHWM; with Dask it holds the scheduler) and of the largest worker (RUSAGE_CHILDREN).
Cost should grow linearly with N and memory stay flat.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
N_UNIQUE = 1000
RATES = [16000, 22050, 44100, 48000]
RUN_CODE = """
import json, resource, sys
from accent import cli
code = cli.main(sys.argv[1:])
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
children = resource.getrusage(resource.RUSAGE_CHILDREN)
me = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"code": code, "driver_mb": hwm_kb / 1024, "largest_worker_mb": children.ru_maxrss / 1024,
                  "cpu_s": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime}))
"""


def make_clips(cache: Path) -> list[Path]:
    """The 1,000 distinct clips, generated on the first run only."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"clip{k:04d}.wav" for k in range(N_UNIQUE)]
    missing = [k for k, p in enumerate(paths) if not p.is_file()]
    rng = np.random.default_rng(0)
    for k in missing:
        sr = RATES[k % len(RATES)]
        t = np.arange(2 * sr) / sr
        f0 = 100 + (k * 37) % 300
        y = 0.3 * np.sin(2 * np.pi * f0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * (2 + k % 5) * t))
        y = (y + 0.01 * rng.normal(size=t.size)).astype(np.float32)
        if k % 4 == 3:
            y = np.stack([y, 0.7 * y], axis=1)
        sf.write(paths[k], y, sr, subtype="PCM_16")
    if missing:
        print(f"generated {len(missing)} clips in {cache}", flush=True)
    return paths


def run_one(manifest: Path, out: Path, executor: str, workers: int) -> dict:
    args = ["featurize", "--manifest", str(manifest), "--out", str(out), "--quiet"]
    args += ["--workers", str(workers)] if executor == "processes" else ["--executor", "dask", "--scheduler",
                                                                        f"local:{workers}"]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN_CODE, *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"featurize failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--executors", default="processes,dask")
    parser.add_argument("--cache", type=Path, default=REPO / "data" / "cache" / "bench_scale")
    args = parser.parse_args()
    paths = make_clips(args.cache)
    print("| clips | executor | workers | wall s | clips/s | clips/s per worker | CPU s | driver peak MB | "
          "largest worker peak MB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        tmp = Path(tmp)
        for n in (int(s) for s in args.sizes.split(",")):
            manifest = tmp / f"m{n}.csv"
            pd.DataFrame({"utt_id": [f"u{i:06d}" for i in range(n)],
                          "path": [str(paths[i % N_UNIQUE]) for i in range(n)], "label": "x",
                          "speaker": [f"s{i % 500}" for i in range(n)], "split": "train"}).to_csv(manifest, index=False)
            for executor in args.executors.split(","):
                for workers in (int(w) for w in args.workers.split(",")):
                    out = tmp / f"store-{n}-{executor}-{workers}"
                    r = run_one(manifest, out, executor, workers)
                    print(f"| {n} | {executor} | {workers} | {r['wall_s']:.1f} | {n / r['wall_s']:.0f} | "
                          f"{n / r['wall_s'] / workers:.0f} | {r['cpu_s']:.0f} | {r['driver_mb']:.0f} | "
                          f"{r['largest_worker_mb']:.0f} |", flush=True)
                    shutil.rmtree(out)


if __name__ == "__main__":
    main()
