"""Batch prediction throughput against scoring one file at a time.

    .venv/bin/python benchmarks/bench_predict.py --model MODEL [--n 200] [--workers 1,2] [--processes 10] [--repeats 3]

Clips are espeak-ng sentences written as mp3 at several sample rates, mono and stereo (the clips of
``bench_featurize.py``; 48 distinct files repeated). Every method scores the same files with the same
model (a run directory or a .accent file), after a one-file warm-up; the in-process methods run
``--repeats`` times, interleaved, and the fastest run of each counts:

- batch: ``accent.predict.predict_to_csv`` (what ``accent predict --out`` runs): one model load, crops
  of up to 32 files per forward pass, decoding in ``--workers`` processes;
- one file at a time, in process: ``predict_files(model, [path])`` per file (the model is loaded
  for every file, as a loop over the single-file API does);
- one file at a time, model loaded once: the same engine with one file per forward pass
  (separates batching from model loading);
- one process per file: ``python -m accent predict --model MODEL FILE`` for the first
  ``--processes`` files (start-up, imports and model load every time).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_featurize import N_UNIQUE_MAX, make_clips  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="RUNDIR or NAME.accent")
    parser.add_argument("--n", type=int, default=200, help="files to score (default 200)")
    parser.add_argument("--workers", default="1,2", help="decoding processes for the batch runs")
    parser.add_argument("--processes", type=int, default=10, help="files scored one process each")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each in-process method; the best counts")
    args = parser.parse_args()

    import torch

    from accent.inference import load_run
    from accent.predict import predict_files, predict_to_csv, score_paths

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        unique = make_clips(tmp, min(args.n, N_UNIQUE_MAX))
        paths = [str(unique[i % len(unique)]) for i in range(args.n)]
        predict_files(args.model, paths[:1])                                    # warm-up
        results = {"n_files": args.n, "model": str(args.model), "torch_threads": torch.get_num_threads(),
                   "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "seconds": {}}
        run = load_run(args.model)
        methods = {f"batch, {w} worker(s)": (lambda w=w: predict_to_csv(args.model, paths, tmp / "p.csv", workers=w,
                                                                        progress=False))
                   for w in map(int, args.workers.split(","))}
        methods["one file at a time, in process"] = lambda: [predict_files(args.model, [p]) for p in paths]
        methods["one file at a time, model loaded once"] = lambda: list(score_paths(run, paths, batch_files=1))
        times = {name: [] for name in methods}
        for _ in range(args.repeats):  # interleaved, best of: a shared machine's load comes and goes
            for name, method in methods.items():
                times[name].append(timed(method))
        sec = results["seconds"]
        sec.update({name: min(t) for name, t in times.items()})
        results["all_seconds"] = times
        some = paths[:args.processes]
        per_process = timed(lambda: [subprocess.run([sys.executable, "-m", "accent", "predict", "--model",
                                                     str(args.model), p], check=True, capture_output=True,
                                                    cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
                                     for p in some])
        sec["one process per file"] = per_process * len(paths) / len(some)        # extrapolated per file
        results["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    base = sec["one file at a time, in process"]
    print("\n| method | files/s | vs one file at a time (in process) |\n|---|---:|---:|")
    for name, seconds in sec.items():
        print(f"| {name} | {args.n / seconds:.1f} | {base / seconds:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
