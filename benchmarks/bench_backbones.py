"""Embedding throughput of each backbone on this machine's CPU: recordings/s and audio seconds/s.

    python benchmarks/bench_backbones.py [--clips 8] [--threads 1]

Clips are real SAA recordings (``../shared/real-samples/saa``, the first ``--clips`` in name
order) or, when that folder is absent, espeak-ng sentences. Audio is decoded and resampled before
timing starts: the figures are the backbone alone (its preprocessing included), one recording at a
time, as ``accent.embeddings`` calls it. A backbone whose weights are not on this machine is timed
with randomly initialised weights of the same architecture (same cost; marked in the table).
``mfcc`` is the baseline front end from audio: ``log_mel(preprocess(wave))`` + MFCC statistics.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.audio import load_audio  # noqa: E402
from accent.backbones import BACKBONES, get_backbone  # noqa: E402
from accent.errors import AccentError  # noqa: E402
from accent.features import FeatureConfig, log_mel, mfcc_statistics, preprocess  # noqa: E402

SAA_RECORDINGS = REPO.parent / "shared" / "real-samples" / "saa" / "recordings"
SR = 16000
ESPEAK_TEXT = ("Please call Stella. Ask her to bring these things with her from the store: "
               "six spoons of fresh snow peas, five thick slabs of blue cheese.")


def load_clips(n: int) -> tuple[list[np.ndarray], str]:
    if SAA_RECORDINGS.is_dir():
        paths = sorted(SAA_RECORDINGS.glob("*.mp3"))[:n]
        return [load_audio(p, SR) for p in paths], f"{len(paths)} SAA recordings"
    with tempfile.TemporaryDirectory() as tmp:
        waves = []
        for k in range(n):
            path = Path(tmp) / f"{k}.wav"
            subprocess.run(["espeak-ng", "-s", str(140 + 5 * k), "-w", str(path), ESPEAK_TEXT],
                           check=True, capture_output=True)
            waves.append(load_audio(path, SR))
    return waves, f"{n} espeak-ng clips"


def mfcc_embedder():
    cfg = FeatureConfig()
    return lambda wave: mfcc_statistics(log_mel(preprocess(wave, cfg), cfg))


def embedders(only: list[str] | None) -> list[tuple[str, str, object]]:
    """(name, note, embed function) for each backbone asked for, loaded before timing."""
    wanted = lambda name: not only or name in only  # noqa: E731
    out = [("mfcc", "", mfcc_embedder())] if wanted("mfcc") else []
    for name in filter(wanted, BACKBONES):
        try:
            out.append((name, "", get_backbone(name).embed_waveform))
        except AccentError:
            out.append((name, "random weights (not on this machine)",
                        get_backbone(name, random_init=True).embed_waveform))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only", nargs="*", help="backbone names to time (default: all)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    waves, what = load_clips(args.clips)
    audio_s = sum(len(w) for w in waves) / SR
    print(f"{what}, {audio_s:.0f} s of audio; torch threads {args.threads}\n")
    print("| backbone | dim | recordings/s | audio s/s | note |")
    print("|---|---:|---:|---:|---|")
    for name, note, embed in embedders(args.only):
        embed(waves[0][:SR])  # warm-up: lazy initialisation and allocator
        start = time.perf_counter()
        dim = len(embed(waves[0]))
        for wave in waves[1:]:
            embed(wave)
        seconds = time.perf_counter() - start
        print(f"| {name} | {dim} | {len(waves) / seconds:.2f} | {audio_s / seconds:.1f} | {note} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
