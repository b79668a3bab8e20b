"""`accent featurize` against the naive loop on real recordings: paired whole-process runs, median.

    .venv/bin/python benchmarks/bench_vs_naive.py --root ../shared/real-samples/saa [--pairs 3] [--workers 2]
    .venv/bin/python benchmarks/bench_vs_naive.py --root ../shared/real-dev/saa-8k

The naive loop is what peer projects do, one file after another in one process:
``librosa.load(path, sr=16000)`` then ``librosa.feature.melspectrogram`` and ``power_to_db``.
numpy's and the resampler's threads already keep about two cores busy there, so the comparison is
against that loop as it runs, not against a one-thread version. Each pair runs both commands as
fresh processes, in alternating order; wall time and CPU time (user+system of the process and the
workers it waited for) are reported per pair, then the medians and the median of the per-pair
ratios. Under other load, ratios of paired runs are much steadier than the times themselves.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg")
NAIVE_CODE = """
import sys, librosa
for path in open(sys.argv[1]).read().splitlines():
    y, _ = librosa.load(path, sr=16000)
    librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, win_length=400, hop_length=160,
                                                       n_mels=64))
"""


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its waited-for children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder searched recursively for audio files")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--extra", default="", help="extra `accent featurize` arguments, e.g. '--config ta.json'")
    args = parser.parse_args()
    files = sorted(p.resolve() for p in args.root.rglob("*") if p.suffix.lower() in EXTENSIONS)
    if not files:
        raise SystemExit(f"no audio files under {args.root}")
    with tempfile.TemporaryDirectory(prefix="bench_naive_") as tmp:
        tmp = Path(tmp)
        (tmp / "files.txt").write_text("\n".join(map(str, files)))
        pd.DataFrame({"utt_id": [f"u{i:06d}" for i in range(len(files))], "path": list(map(str, files)),
                      "label": "x", "speaker": [f"s{i}" for i in range(len(files))], "split": "train"}
                     ).to_csv(tmp / "manifest.csv", index=False)
        naive = [sys.executable, "-c", NAIVE_CODE, str(tmp / "files.txt")]
        rows = []
        for k in range(args.pairs):
            ours = [sys.executable, "-m", "accent", "featurize", "--manifest", str(tmp / "manifest.csv"),
                    "--out", str(tmp / f"store{k}"), "--workers", str(args.workers), "--quiet", *args.extra.split()]
            order = [("naive", naive), ("accent", ours)] if k % 2 == 0 else [("accent", ours), ("naive", naive)]
            times = {name: timed(command) for name, command in order}
            rows.append(times)
            print(f"pair {k}: naive {times['naive'][0]:.1f} s wall / {times['naive'][1]:.1f} s CPU; "
                  f"accent {times['accent'][0]:.1f} s wall / {times['accent'][1]:.1f} s CPU; "
                  f"ratio {times['naive'][0] / times['accent'][0]:.2f}x", flush=True)
    med = lambda name, j: statistics.median(r[name][j] for r in rows)  # noqa: E731
    ratio = statistics.median(r["naive"][0] / r["accent"][0] for r in rows)
    cpu_ratio = statistics.median(r["naive"][1] / r["accent"][1] for r in rows)
    print(f"\n{len(files)} files under {args.root}, {args.pairs} pairs, accent --workers {args.workers} {args.extra}")
    print(f"median wall: naive {med('naive', 0):.1f} s, accent {med('accent', 0):.1f} s -> {ratio:.2f}x "
          f"({len(files) / med('accent', 0):.1f} clips/s)")
    print(f"median CPU: naive {med('naive', 1):.1f} s, accent {med('accent', 1):.1f} s -> {cpu_ratio:.2f}x "
          f"({1000 * med('accent', 1) / len(files):.0f} CPU-ms per clip)")


if __name__ == "__main__":
    main()
