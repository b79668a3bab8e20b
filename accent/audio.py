"""Decoding: any wav/mp3/flac/ogg at any rate and channel count -> float32 mono at the target rate.

soundfile (libsndfile >= 1.1 reads mp3) is tried first because it is fast; librosa's audioread
fallback covers what libsndfile cannot open. Every failure becomes an :class:`AudioError` whose
message names the file and what is wrong with it.
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from accent.errors import AudioError



@contextmanager
def _quiet_decoder_stderr():
    """Silence what C decoders print on stderr (libmpg123's "Illegal Audio-MPEG-Header ... Trying to
    resync" for every damaged mp3): the outcome reaches the user as a result or an AudioError."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded use): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _decode(path: Path) -> tuple[np.ndarray, int]:
    try:
        with _quiet_decoder_stderr():
            data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data.mean(axis=1), int(sr)
    except Exception:  # libsndfile could not open it: try librosa/audioread before giving up
        pass
    try:
        import librosa

        with warnings.catch_warnings(), _quiet_decoder_stderr():  # librosa warns about its fallback on every call
            warnings.simplefilter("ignore")
            data, sr = librosa.load(str(path), sr=None, mono=True)
        return data.astype(np.float32), int(sr)
    except Exception:
        raise AudioError(f"{path}: cannot decode audio: check that it is a complete wav/mp3/flac/ogg file") from None


@lru_cache(maxsize=16)
def _resampler(orig_sr: int, target_sr: int):
    """torchaudio's windowed-sinc resampler with its kernel built once per rate pair.

    Building the kernel costs more than applying it (about 0.1 s for 44.1 kHz -> 16 kHz), and a
    corpus has only a few source rates, so caching it makes resampling several times faster.
    """
    import torchaudio

    return torchaudio.transforms.Resample(orig_sr, target_sr)


def resample(wave: np.ndarray, orig_sr: int, target_sr: int, method: str = "torchaudio") -> np.ndarray:
    """Band-limited resampling: torchaudio's windowed sinc, or soxr (HQ), much faster from 44.1 kHz."""
    if orig_sr == target_sr:
        return wave
    if method == "soxr":
        import soxr

        return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)
    import torch

    with torch.no_grad():
        out = _resampler(orig_sr, target_sr)(torch.from_numpy(np.ascontiguousarray(wave)))
    return out.numpy().astype(np.float32, copy=False)


def load_audio(path: str | Path, sample_rate: int = 16000, resampler: str = "torchaudio") -> np.ndarray:
    """Return the clip as float32 mono at ``sample_rate``; raise AudioError if it is unusable.

    ``resampler``: see :func:`resample`; feature stores use their config's, backbones the default.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found; check the manifest path or the corpus root")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes); re-download or remove it from the manifest")
    wave, sr = _decode(path)
    if wave.size == 0:
        raise AudioError(f"{path}: decodes to no samples; re-download or remove it from the manifest")
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: decodes to NaN or infinite samples; the file is corrupt")
    return resample(wave, sr, sample_rate, resampler)
