"""Decoders and resamplers on real mp3s: CPU time per file and distance from today's audio.

    .venv/bin/python benchmarks/bench_decode.py [--roots ../shared/real-samples ../shared/real-dev] [--limit N]

Every mp3 under the roots is decoded to float32 mono and resampled to 16 kHz by each combination,
one thread, timed with ``time.process_time`` (CPU seconds, so other load on the machine matters
less than for wall time). Accuracy is measured against today's audio, ``accent.audio.load_audio``
as it was before this benchmark (soundfile/libmpg123 decoding, torchaudio windowed-sinc resampling):

- waveform SNR in dB (reference power over difference power), worst file;
- the stored features: mean absolute difference of ``log_mel(preprocess(wave))`` over the mel bins
  below 0.9 x the source's Nyquist frequency (natural-log units; 0.01 is 0.04 dB), at the best
  alignment within 2 frames (trimming may cut one 10 ms hop differently), worst file.
  Above the source's Nyquist (the top bins of an 8 kHz recording featurized at 16 kHz) there is
  no signal, only each resampler's leakage, so those bins differ between any two resamplers.

Decoders: soundfile (libsndfile + libmpg123), miniaudio at the native rate (dr_mp3, a wheel with
no system library), miniaudio resampling while it decodes (its own resampler), torchcodec (needs a
system FFmpeg; reported as unavailable when it cannot load). Resamplers: torchaudio (kernel cached
per rate pair, as ``accent.audio`` does) and soxr (HQ).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from accent.audio import _resampler  # noqa: E402
from accent.features import FeatureConfig, log_mel, mel_frequencies_hz, preprocess  # noqa: E402

SR = 16000
DEFAULT_ROOTS = [REPO.parent / "shared" / "real-samples", REPO.parent / "shared" / "real-dev"]


def dec_soundfile(path):
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), sr


def dec_miniaudio(path):
    import miniaudio

    snd = miniaudio.mp3_read_file_f32(str(path))
    return np.asarray(snd.samples, np.float32).reshape(-1, snd.nchannels).mean(axis=1), snd.sample_rate


def dec_miniaudio_16k(path):
    """miniaudio's decoder with its own resampler and downmix: already at 16 kHz."""
    import miniaudio

    snd = miniaudio.decode_file(str(path), output_format=miniaudio.SampleFormat.FLOAT32, nchannels=1, sample_rate=SR)
    return np.asarray(snd.samples, np.float32), SR


def dec_torchcodec(path):
    from torchcodec.decoders import AudioDecoder

    samples = AudioDecoder(str(path)).get_all_samples()
    return samples.data.mean(dim=0).numpy().astype(np.float32), int(samples.sample_rate)


def res_torchaudio(wave, sr):
    if sr == SR:
        return wave
    with torch.no_grad():
        return _resampler(sr, SR)(torch.from_numpy(np.ascontiguousarray(wave))).numpy()


def res_soxr(wave, sr):
    import soxr

    return wave if sr == SR else soxr.resample(wave, sr, SR, quality="HQ").astype(np.float32, copy=False)


DECODERS = {"soundfile": dec_soundfile, "miniaudio": dec_miniaudio, "miniaudio@16k": dec_miniaudio_16k,
            "torchcodec": dec_torchcodec}
RESAMPLERS = {"torchaudio": res_torchaudio, "soxr": res_soxr}


def available(decoder: str, probe: Path) -> str | None:
    """None if the decoder works here, else why not (one line)."""
    try:
        DECODERS[decoder](probe)
        return None
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"


def snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    n = min(len(ref), len(x))
    err = np.sum((ref[:n].astype(np.float64) - x[:n]) ** 2) + np.sum(ref[n:] ** 2) + np.sum(x[n:] ** 2)
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(err, 1e-20)))


def logmel_diff(ref: np.ndarray, x: np.ndarray, cfg: FeatureConfig, source_sr: int, max_shift: int = 2) -> float:
    """Mean |difference| of the log-mels over the bins below the source's Nyquist, at the best
    alignment within ``max_shift`` frames: silence trimming may cut one hop earlier or later when
    a frame's level sits at the threshold, which shifts every frame without changing any."""
    below = mel_frequencies_hz(cfg) < 0.9 * source_sr / 2
    a, b = log_mel(preprocess(ref, cfg), cfg)[:, below], log_mel(preprocess(x, cfg), cfg)[:, below]
    if abs(len(a) - len(b)) > 2 * max_shift:  # trimming cut elsewhere: not the same clip any more
        return float("inf")
    best = float("inf")
    for shift in range(-max_shift, max_shift + 1):
        aa, bb = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(aa), len(bb))
        best = min(best, float(np.abs(aa[:n] - bb[:n]).mean()))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", nargs="+", type=Path, default=DEFAULT_ROOTS)
    parser.add_argument("--limit", type=int, default=None, help="at most this many files (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = sorted(p for root in args.roots for p in root.rglob("*.mp3"))[:args.limit]
    if not files:
        raise SystemExit(f"no mp3 files under {', '.join(map(str, args.roots))}")
    cfg = FeatureConfig()
    rates = {}
    refs, source_rates = [], []
    for path in files:  # today's audio, and a warm-up of every resampler kernel
        wave, sr = dec_soundfile(path)
        rates[sr] = rates.get(sr, 0) + 1
        refs.append(res_torchaudio(wave, sr))
        source_rates.append(sr)
    print(f"{len(files)} mp3 files, {sum(len(r) for r in refs) / SR / 3600:.2f} h at 16 kHz; "
          f"source rates: {', '.join(f'{k} Hz x{v}' for k, v in sorted(rates.items()))}")
    combos = [(d, r) for d in ("soundfile", "miniaudio", "torchcodec") for r in RESAMPLERS] + [("miniaudio@16k", None)]
    print("\n| decoder | resampler | decode CPU ms/file | resample CPU ms/file | total ms/file | worst SNR dB | "
          "median SNR dB | worst log-mel mean abs diff |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for dec, res in combos:
        why = available(dec, files[0])
        if why:
            print(f"| {dec} | {res or '(built in)'} | unavailable: {why} | | | | | |")
            continue
        t_dec = t_res = 0.0
        snrs, diffs = [], []
        for path, ref, source_sr in zip(files, refs, source_rates):
            t0 = time.process_time()
            wave, sr = DECODERS[dec](path)
            t1 = time.process_time()
            out = RESAMPLERS[res](wave, sr) if res else wave
            t2 = time.process_time()
            t_dec += t1 - t0
            t_res += t2 - t1
            snrs.append(snr_db(ref, out))
            diffs.append(logmel_diff(ref, out, cfg, source_sr))
        n = len(files)
        print(f"| {dec} | {res or '(built in)'} | {1000 * t_dec / n:.1f} | {1000 * t_res / n:.1f} | "
              f"{1000 * (t_dec + t_res) / n:.1f} | {min(snrs):.1f} | {np.median(snrs):.1f} | {max(diffs):.4f} |")


if __name__ == "__main__":
    main()
