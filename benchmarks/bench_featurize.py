"""Featurize throughput against the naive librosa loop, time shares, and peak memory vs corpus size.

    .venv/bin/python benchmarks/bench_featurize.py [--n 200] [--workers N] [--memory-sizes 1000,10000]

Clips are espeak-ng sentences written as mp3 at several sample rates (mono and stereo) into a
temporary folder. Both methods read the same files in the same run:

- naive: the serial loop peer projects use, ``librosa.load(path, sr=16000)`` then
  ``librosa.feature.melspectrogram`` and ``power_to_db`` per file;
- accent: ``accent.featurize.featurize`` (process pool, soundfile decoding, cached torchaudio
  resampler, numpy trimming, torchaudio log-mel) writing a real store.

Peak memory runs featurize in a fresh subprocess on manifests of increasing size (the source files
repeated under new utt_ids) and reads ``ru_maxrss`` of the parent and of its largest worker.
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
sys.path.insert(0, str(REPO))

from accent.audio import resample  # noqa: E402
from accent.features import FeatureConfig, log_mel, preprocess  # noqa: E402
from accent.featurize import featurize, featurize_clip  # noqa: E402

SENTENCES = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob.",
    "We also need a small plastic snake and a big toy frog for the kids.",
    "She can scoop these things into three red bags, and we will go meet her Wednesday at the train station.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Common voice asks people to read short sentences aloud in their own accent.",
]
VOICES = ["en-us", "en-gb", "en-gb-scotland", "fr", "es", "de"]
RATES = [16000, 22050, 44100, 48000]
NAIVE_SR = 16000
N_UNIQUE_MAX = 48       # distinct source files; longer lists repeat them under new utt_ids
SHARE_SAMPLE = 60       # files timed stage by stage for the decode/feature split


def make_clips(folder: Path, n_unique: int) -> list[Path]:
    """espeak-ng sentences as mp3 at several rates, every other one stereo."""
    paths = []
    for k in range(n_unique):
        wav = folder / f"tmp{k}.wav"
        subprocess.run(["espeak-ng", "-v", VOICES[k % len(VOICES)], "-s", str(140 + 7 * (k % 5)), "-w", str(wav),
                        SENTENCES[k % len(SENTENCES)]], check=True, capture_output=True)
        wave, sr = sf.read(wav, dtype="float32")
        wav.unlink()
        rate = RATES[k % len(RATES)]
        y = resample(wave, sr, rate)
        if k % 2:
            y = np.stack([y, 0.7 * y], axis=1)
        path = folder / f"clip{k:03d}_{rate}.mp3"
        sf.write(path, y, rate, format="MP3")
        paths.append(path)
    return paths


def write_manifest(paths: list[Path], n: int, path: Path) -> Path:
    rows = [{"utt_id": f"utt{i:06d}", "path": str(paths[i % len(paths)]), "speaker": f"spk{i % 50}",
             "label": f"accent{i % 4}", "split": ("train", "val", "test", "train")[i % 4], "duration_s": "",
             "text": "", "corpus": "bench"} for i in range(n)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def naive_loop(files: list[Path]) -> float:
    """The peer projects' loop; returns seconds."""
    import librosa

    start = time.perf_counter()
    for path in files:
        y, _ = librosa.load(str(path), sr=NAIVE_SR)
        mel = librosa.feature.melspectrogram(y=y, sr=NAIVE_SR, n_fft=512, win_length=400, hop_length=160, n_mels=64)
        librosa.power_to_db(mel)
    return time.perf_counter() - start


def naive_shares(files: list[Path]) -> dict[str, float]:
    import librosa

    t = {"decode+resample": 0.0, "features": 0.0}
    for path in files:
        a = time.perf_counter()
        y, _ = librosa.load(str(path), sr=NAIVE_SR)
        b = time.perf_counter()
        librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=NAIVE_SR, n_fft=512, win_length=400,
                                                           hop_length=160, n_mels=64))
        t["decode+resample"] += b - a
        t["features"] += time.perf_counter() - b
    return t


def accent_shares(files: list[Path], cfg: FeatureConfig) -> dict[str, float]:
    """One process, stage by stage: decode (soundfile), resample, trim+normalise, log-mel."""
    import torch

    torch.set_num_threads(1)
    t = {"decode": 0.0, "resample": 0.0, "trim+normalise": 0.0, "log-mel": 0.0}
    for path in files:
        a = time.perf_counter()
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        wave = data.mean(axis=1)
        b = time.perf_counter()
        wave = resample(wave, sr, cfg.sample_rate)
        c = time.perf_counter()
        wave = preprocess(wave, cfg)
        d = time.perf_counter()
        log_mel(wave, cfg)
        e = time.perf_counter()
        t["decode"] += b - a
        t["resample"] += c - b
        t["trim+normalise"] += d - c
        t["log-mel"] += e - d
    return t


# The parent's peak is read from /proc (VmHWM): its ru_maxrss would include the peak of the
# process that exec'ed it (this benchmark, which has torch loaded). Workers are forked by the
# small featurize parent, so RUSAGE_CHILDREN gives the largest worker's own peak.
PEAK_CODE = """
import json, resource, sys
from accent.featurize import featurize
from accent.manifest import read_manifest
featurize(read_manifest(sys.argv[1]), sys.argv[2], workers={workers}, progress=False)
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"parent_mb": hwm_kb / 1024,
                  "largest_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""


def peak_memory(paths: list[Path], n: int, workers: int, tmp: Path) -> dict:
    manifest = write_manifest(paths, n, tmp / f"mem{n}.csv")
    out = tmp / f"mem{n}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_CODE.format(workers=workers), str(manifest), str(out)],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - start
    result["store_mb"] = (out / "frames.f16").stat().st_size / 2 ** 20
    shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="clips in the throughput comparison")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="featurize processes")
    parser.add_argument("--memory-sizes", default="1000,10000", help="manifest sizes for peak memory ('' skips)")
    args = parser.parse_args()
    cfg = FeatureConfig()
    tmp = Path(tempfile.mkdtemp(prefix="bench_featurize_"))
    try:
        paths = make_clips(tmp, min(args.n, N_UNIQUE_MAX))
        files = [paths[i % len(paths)] for i in range(args.n)]
        hours = sum(sf.info(str(p)).duration for p in files) / 3600
        print(f"{args.n} clips ({len(paths)} distinct mp3s at {RATES} Hz, mono and stereo), "
              f"{hours * 3600:.0f} s of audio; {os.cpu_count()} cores; accent workers={args.workers}")

        naive_loop(files[:1])             # warm-up: imports and first-call costs out of the timing
        featurize_clip(files[0], cfg)
        naive_s = naive_loop(files)
        manifest = write_manifest(paths, args.n, tmp / "bench.csv")
        start = time.perf_counter()
        featurize(pd.read_csv(manifest, dtype=str, keep_default_na=False), tmp / "store", cfg,
                  workers=args.workers, progress=False)
        accent_s = time.perf_counter() - start

        print("\n| method | seconds | clips/s | audio hours/s |\n|---|---|---|---|")
        for name, secs in (("naive librosa loop (serial)", naive_s), (f"accent featurize ({args.workers} workers)", accent_s)):
            print(f"| {name} | {secs:.2f} | {args.n / secs:.1f} | {hours / secs:.4f} |")
        print(f"\nspeed-up: {naive_s / accent_s:.1f}x")

        sample = files[:SHARE_SAMPLE]
        for name, shares in (("naive", naive_shares(sample)), ("accent (1 process)", accent_shares(sample, cfg))):
            total = sum(shares.values())
            parts = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in shares.items())
            print(f"time shares, {name}, {len(sample)} clips, {1000 * total / len(sample):.1f} ms/clip: {parts}")

        sizes = [int(s) for s in args.memory_sizes.split(",") if s.strip()]
        if sizes:
            print("\n| clips | parent peak RSS (MB) | largest worker peak RSS (MB) | frames.f16 (MB) | seconds |\n|---|---|---|---|---|")
        for n in sizes:
            r = peak_memory(paths, n, args.workers, tmp)
            print(f"| {n} | {r['parent_mb']:.0f} | {r['largest_worker_mb']:.0f} | {r['store_mb']:.0f} | {r['seconds']:.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
