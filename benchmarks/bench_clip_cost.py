"""CPU milliseconds per clip of each featurize step, one thread, on real files (no process start-up).

    .venv/bin/python benchmarks/bench_clip_cost.py --root ../shared/real-samples/commonvoice-6.1-en [--root ...]

For each file: decode (soundfile), resample to 16 kHz (soxr, the default, and torchaudio), trim +
loudness (``preprocess``), log-mel, float16; ``time.process_time`` per step, mean over the files,
plus the mean clip duration. Multiplying by a corpus size gives its CPU cost (see docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.audio import _decode, resample  # noqa: E402
from accent.features import FeatureConfig, log_mel, preprocess  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, action="append", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = FeatureConfig()
    files = sorted(p for root in args.root for p in root.rglob("*.mp3"))
    steps = dict.fromkeys(["decode", "resample soxr", "(resample torchaudio)", "trim+loudness", "log-mel",
                           "float16"], 0.0)
    seconds = 0.0
    for path in files:
        t0 = time.process_time()
        wave, sr = _decode(path)
        t1 = time.process_time()
        x = resample(wave, sr, cfg.sample_rate, "soxr")
        t2 = time.process_time()
        resample(wave, sr, cfg.sample_rate, "torchaudio")
        t3 = time.process_time()
        p = preprocess(x, cfg)
        t4 = time.process_time()
        m = log_mel(p, cfg)
        t5 = time.process_time()
        m.astype(np.float16)
        t6 = time.process_time()
        for key, dt in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            steps[key] += dt
        seconds += len(x) / cfg.sample_rate
    n = len(files)
    total = sum(v for k, v in steps.items() if not k.startswith("("))
    print(f"{n} files, mean {seconds / n:.1f} s of audio")
    print(" | ".join(f"{k} {1000 * v / n:.1f}" for k, v in steps.items()) + f" | total {1000 * total / n:.1f} CPU-ms/clip")


if __name__ == "__main__":
    main()
