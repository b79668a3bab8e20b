"""Is there speech in a clip at all? A check every prediction path makes before naming an accent.

Every model here was trained on people speaking; shown white noise, a hum or a fan it still names an
accent, with confidence. Speech is loud and quiet by turns: syllables, words and the pauses between
them move a clip's frame level in the speech band (:data:`BAND_HZ`) by tens of decibels, while
stationary noise barely moves it (a 25 ms frame of white noise sums about 200 spectral bins, so its
level varies by a fraction of a decibel). Below 250 Hz a recording's rumble or mains hum can be
louder than the voice and would flatten a full-band level: one real SAA reading swings 4 dB over
all bins and far more in the band.
:func:`level_contrast_db` measures that swing on the clip's log-mels, as the models see them (trimmed,
loudness-normalised), and :func:`no_speech_reason` turns a swing below :data:`MIN_CONTRAST_DB` into
the one-line reason that prediction reports instead of an accent.

The threshold comes from real recordings (``python benchmarks/speech_presence.py``, docs/benchmarks.md
"Speech presence"): the lowest swing of any clip of cv-v1, saa-8k and saa-en is far above it, and
white, pink and brown noise, a hum and a tone at any level are far below it. Noise whose loudness
itself comes and goes (traffic, wind gusts, music) is not caught: this is a check for input that is
not speech of any kind, not a voice-activity detector.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from accent.features import FeatureConfig, mel_frequencies_hz

BAND_HZ = (250.0, 4000.0)                  # where speech has its energy; below it rumble and hum hide the swing
LOW_PERCENTILE, HIGH_PERCENTILE = 10, 90   # quiet frames (pauses, weak consonants) and loud ones (vowels)
MIN_CONTRAST_DB = 5.0                      # below: not speech (docs/benchmarks.md, "Speech presence")
MIN_FRAMES = 10                            # too short to tell: no verdict
SMOOTH_FRAMES = 5                          # frame levels averaged over 50 ms (syllables last 100-300 ms)


@lru_cache(maxsize=8)
def speech_band(cfg: FeatureConfig) -> np.ndarray:
    """The mel bins whose centres lie in :data:`BAND_HZ` (all bins if none do)."""
    centres = mel_frequencies_hz(cfg)
    inside = (centres >= BAND_HZ[0]) & (centres <= BAND_HZ[1])
    return np.flatnonzero(inside) if inside.any() else np.arange(len(centres))


def frame_levels_db(logmel: np.ndarray, cfg: FeatureConfig | None = None) -> np.ndarray:
    """The level in dB of each :data:`SMOOTH_FRAMES` consecutive frames: 10 log10 of their mean summed
    mel power in the speech band (``logmel`` holds natural logs of power; ``cfg`` is the feature
    config that made it, None: every bin)."""
    logmel = np.asarray(logmel, np.float64)
    if cfg is not None:
        logmel = logmel[:, speech_band(cfg)]
    peak = logmel.max()
    power = np.exp(logmel - peak).sum(axis=1)
    if len(power) >= SMOOTH_FRAMES:   # a moving mean: beats between a hum's harmonics are faster than syllables
        power = np.convolve(power, np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES, mode="valid")
    return (10 / np.log(10)) * (peak + np.log(np.maximum(power, 1e-300)))


def level_contrast_db(logmel: np.ndarray, cfg: FeatureConfig | None = None) -> float:
    """Loud frames' level minus quiet frames' (the :data:`HIGH_PERCENTILE` and :data:`LOW_PERCENTILE`
    of the frame levels), in dB; NaN for a clip of fewer than :data:`MIN_FRAMES` frames."""
    if len(logmel) < MIN_FRAMES:
        return float("nan")
    low, high = np.percentile(frame_levels_db(logmel, cfg), [LOW_PERCENTILE, HIGH_PERCENTILE])
    return float(high - low)


def no_speech_reason(logmel: np.ndarray, cfg: FeatureConfig) -> str | None:
    """Why a clip cannot be speech (one line), or None when it may be (or is too short to tell).
    ``logmel``: the clip's log-mels as ``cfg`` makes them."""
    contrast = level_contrast_db(logmel, cfg)
    if not contrast < MIN_CONTRAST_DB:   # NaN included: too short to tell
        return None
    return (f"no speech found: its loudness hardly varies ({contrast:.1f} dB between loud and quiet frames, "
            f"where speech varies {MIN_CONTRAST_DB:.0f} dB or more), as in steady noise or a tone; "
            "give a recording of someone speaking")
