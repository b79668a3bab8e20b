"""Calibrates accent.speech's check: the level contrast of real speech against noise and tones.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 .venv/bin/python benchmarks/speech_presence.py [--out data/cache/speech_presence]

Real speech: every clip of ../shared/real-dev/cv-v1, saa-8k and saa-en, through the same front end as
`accent predict` (decode, trim, loudness, log-mels) at the default 16 kHz feature config, and saa-8k
also at 8 kHz (the real-speech protocol's config). Not speech: white, pink and brown noise, a mains
hum with harmonics and a 440 Hz tone, each 1, 4 and 12 s long at peak levels -3, -20 and -40 dBFS, written
as WAV files and featurized the same way. Also speech under noise: cv-v1 clips with white noise added
at 0 and 10 dB SNR (speech the check must still let through). Prints each group's quantiles of
:func:`accent.speech.level_contrast_db` and how many fall below :data:`accent.speech.MIN_CONTRAST_DB`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.features import FeatureConfig  # noqa: E402
from accent.featurize import featurize_files  # noqa: E402
from accent.speech import MIN_CONTRAST_DB, level_contrast_db  # noqa: E402

SHARED = REPO.parent / "shared" / "real-dev"
RATE = 16000


def coloured(n: int, colour: float, rng) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spectrum / f ** (colour / 2), n)
    return x / np.abs(x).max()


def non_speech(out: Path) -> dict[str, list[Path]]:
    """WAV files of noises and tones: {kind: [paths]}."""
    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[Path]] = {}
    for seconds in (1, 4, 12):
        n = seconds * RATE
        t = np.arange(n) / RATE
        signals = {"white noise": coloured(n, 0, rng), "pink noise": coloured(n, 1, rng),
                   "brown noise": coloured(n, 2, rng),
                   "hum 50 Hz + harmonics": sum(np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 8)),
                   "tone 440 Hz": np.sin(2 * np.pi * 440 * t)}
        for kind, x in signals.items():
            for peak_db in (-3, -20, -40):
                path = out / f"{kind.split()[0]}-{seconds}s-{-peak_db}dB.wav"
                sf.write(path, (x / np.abs(x).max() * 10 ** (peak_db / 20)).astype(np.float32), RATE)
                groups.setdefault(kind, []).append(path)
    return groups


def noisy_speech(paths: list[Path], out: Path, snr_db: float) -> list[Path]:
    """Copies of speech clips with white noise at ``snr_db`` (over the whole clip's power)."""
    from accent.audio import load_audio

    rng = np.random.default_rng(1)
    written = []
    for path in paths:
        wave = load_audio(str(path), RATE)
        noise = rng.standard_normal(len(wave)).astype(np.float32)
        noise *= np.sqrt(np.mean(wave ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
        mixed = wave + noise
        target = out / f"snr{snr_db:g}-{path.stem}.wav"
        sf.write(target, (mixed / max(1.0, np.abs(mixed).max())).astype(np.float32), RATE)
        written.append(target)
    return written


def contrasts(paths: list[Path], cfg: FeatureConfig) -> np.ndarray:
    values = []
    for _, frames, _ in featurize_files([str(p) for p in paths], cfg, workers=2):
        if frames is not None:
            values.append(level_contrast_db(np.asarray(frames, np.float32), cfg))
    return np.array(values)


def line(name: str, values: np.ndarray) -> str:
    q = np.nanpercentile(values, [0, 1, 5, 50, 100]) if len(values) else [np.nan] * 5
    below = int(np.sum(values < MIN_CONTRAST_DB))
    return (f"| {name} | {len(values)} | {q[0]:.1f} | {q[1]:.1f} | {q[2]:.1f} | {q[3]:.1f} | {q[4]:.1f} | "
            f"{below} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "data" / "cache" / "speech_presence"))
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"speech_presence: {SHARED} is absent: nothing to calibrate on", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cv = sorted((SHARED / "cv-v1").rglob("*.mp3"))
    saa8k = sorted((SHARED / "saa-8k").rglob("*.mp3"))
    saaen = sorted((SHARED / "saa-en").rglob("*.mp3"))
    default, narrow = FeatureConfig(), FeatureConfig(sample_rate=8000)
    print(f"threshold MIN_CONTRAST_DB = {MIN_CONTRAST_DB} dB; columns: min, 1st, 5th percentile, median, max; "
          "clips below the threshold\n")
    print("| clips | n | min | p1 | p5 | median | max | below |\n|---|---|---|---|---|---|---|---|")
    print(line("cv-v1 (16 kHz features)", contrasts(cv, default)), flush=True)
    print(line("saa-8k (16 kHz features)", contrasts(saa8k, default)), flush=True)
    print(line("saa-8k (8 kHz features)", contrasts(saa8k, narrow)), flush=True)
    print(line("saa-en (16 kHz features)", contrasts(saaen, default)), flush=True)
    sample = cv[::9]
    for snr in (10.0, 0.0):
        print(line(f"cv-v1 with white noise at {snr:g} dB SNR ({len(sample)} clips)",
                   contrasts(noisy_speech(sample, out, snr), default)), flush=True)
    for kind, paths in non_speech(out).items():
        print(line(f"{kind} (1-12 s, peak -3 to -40 dBFS)", contrasts(paths, default)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
