"""The two mp3 encoders of `accent synth`: sox/LAME (needs libsox-fmt-mp3) against libsndfile
(soundfile, the fallback when sox lacks its mp3 plugin), on the generator's own clips.

    .venv/bin/python benchmarks/bench_mp3.py [--n 20] [--repeats 3]

Clips come from ``accent.corpora.synthetic`` (espeak-ng + sox colouring + noise) at the CV-like
rates, are encoded by each writer at the generator's bitrate, then decoded again. Reported per
encoder: seconds per minute of audio (best of ``--repeats``, one process, one thread), file size in
kbit/s, and the SNR of the decoded clip against the input (aligned by cross-correlation, since mp3
adds an encoder delay).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent import sysdeps  # noqa: E402
from accent.corpora import synthetic  # noqa: E402


def clips(n: int) -> list[tuple[np.ndarray, int]]:
    plan, _ = synthetic.plan_cv(Path("/nonexistent"), {"us": n // 2 + 1, "indian": n // 2 + 1}, seed=0)
    return [synthetic.synthesize(c) for c in plan[:n]]


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    """SNR after the best alignment within 4000 samples (the mp3 encoder and decoder delay)."""
    n = len(reference)
    best = -np.inf
    for lag in range(0, min(4000, max(0, len(decoded) - n)) + 1):
        seg = decoded[lag:lag + n]
        if len(seg) < n:
            break
        err = np.sum((seg - reference) ** 2)
        best = max(best, 10 * np.log10(np.sum(reference ** 2) / max(err, 1e-20)))
    return float(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="clips")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    encoders = [e for e, ok in (("sox", sysdeps.sox_writes_mp3()), ("soundfile", sysdeps.soundfile_writes_mp3())) if ok]
    audio = clips(args.n)
    minutes = sum(len(a) / sr for a, sr in audio) / 60
    print(f"{len(audio)} clips, {minutes * 60:.1f} s of audio; libsndfile {sf.__libsndfile_version__}")
    print("| encoder | s per minute of audio | kbit/s | SNR dB (median, min) |")
    print("|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp(prefix="bench_mp3_"))
    try:
        for encoder in encoders:
            best = np.inf
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for k, (a, sr) in enumerate(audio):
                    synthetic.write_mp3_atomic(tmp / f"{encoder}{k}.mp3", a, sr, encoder)
                best = min(best, time.perf_counter() - t0)
            size_bits = sum((tmp / f"{encoder}{k}.mp3").stat().st_size * 8 for k in range(len(audio)))
            snrs = [snr_db(a, sf.read(str(tmp / f"{encoder}{k}.mp3"), dtype="float32")[0])
                    for k, (a, _) in enumerate(audio)]
            print(f"| {encoder} | {best / minutes:.2f} | {size_bits / (minutes * 60) / 1000:.1f} | "
                  f"{np.median(snrs):.1f}, {np.min(snrs):.1f} |")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
