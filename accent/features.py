"""Feature definitions: the log-mel front end (torchaudio) and MFCC statistics for the baseline.

A :class:`FeatureConfig` fully determines the features; its hash names the store so that two
configurations are never mixed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from accent.errors import AccentError, check_keys

STD_FLOOR = 1e-3   # floor of a mel bin's std (store statistics, network input normalisation): a constant bin stays finite

LOG_FLOOR = 1e-6  # added before log: keeps silence finite without dominating quiet speech
TRIM_AMPLITUDE_FLOOR = 1e-5  # librosa's amplitude_to_db floor, so trimming matches librosa.effects.trim
RESAMPLERS = ("soxr", "torchaudio")
LEGACY_RESAMPLER = "torchaudio"  # stores and runs written before the setting existed used this one


@dataclass(frozen=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float | None = None      # None: sample_rate / 2
    trim_silence: bool = True       # strip leading/trailing silence (librosa.effects.trim)
    trim_db: float = 30.0
    normalize_loudness: bool = True  # scale to a fixed RMS before the spectrogram
    target_rms_db: float = -20.0
    min_duration_s: float = 0.5     # shorter clips (after trimming) are rejected
    # soxr (HQ) resamples 44.1/48 kHz mp3s several times faster than torchaudio's windowed sinc;
    # the two agree within 0.07 (natural log, 0.3 dB) mean absolute log-mel difference below the
    # source's Nyquist frequency on all 565 real mp3s (docs/benchmarks.md, "Decoding and resampling")
    resampler: str = "soxr"

    def __post_init__(self):
        if self.resampler not in RESAMPLERS:
            raise AccentError(f"feature setting resampler={self.resampler!r}: choose one of {', '.join(RESAMPLERS)}")

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.win_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)

    def hash(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        """A stored config (store.json, checkpoint); one from before ``resampler`` existed used torchaudio."""
        return cls._checked({"resampler": LEGACY_RESAMPLER, **d})

    @classmethod
    def _checked(cls, d: dict) -> "FeatureConfig":
        check_keys(d, {f.name for f in fields(cls)}, "feature setting")
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path | None) -> "FeatureConfig":
        """Read a JSON file of overrides; ``None`` gives the defaults."""
        if path is None:
            return cls()
        path = Path(path)
        try:
            return cls._checked(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise AccentError(f"feature config {path} not found: give a JSON file such as {{\"n_mels\": 64}}") from None
        except json.JSONDecodeError as exc:
            raise AccentError(f"feature config {path} is not valid JSON (line {exc.lineno})") from None

    def compatible_with(self, other: "FeatureConfig") -> bool:
        """Whether a model trained on features of ``self`` may score features of ``other``: every
        setting equal except the resampler, whose two choices agree within 0.07 (0.3 dB) mean
        log-mel difference on every real recording measured (docs/benchmarks.md). A store itself
        is never extended under another resampler (:meth:`hash` includes it)."""
        return replace(self, resampler=other.resampler).hash() == other.hash()


@lru_cache(maxsize=8)
def _mel_transform(cfg: FeatureConfig):
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length,
        hop_length=cfg.hop_length, f_min=cfg.f_min, f_max=cfg.f_max, n_mels=cfg.n_mels,
        power=2.0, center=True, norm="slaney", mel_scale="slaney")


def mel_frequencies_hz(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel bin of ``cfg`` (slaney scale, as the transform uses)."""
    import librosa

    return librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.f_min, fmax=cfg.f_max or cfg.sample_rate / 2,
                                   htk=False)[1:-1]


def trim_silence(wave: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> np.ndarray:
    """Strip leading and trailing frames more than ``top_db`` quieter than the loudest frame.

    The same rule as ``librosa.effects.trim`` (centred, zero-padded frames; frame RMS in dB
    relative to the loudest; amplitude floor 1e-5), in plain numpy: importing and warming up
    librosa costs several seconds in every worker process.
    """
    if wave.size == 0:
        return wave
    padded = np.pad(wave.astype(np.float64), frame_length // 2)
    energy = np.concatenate([[0.0], np.cumsum(np.square(padded))])
    starts = np.arange(0, len(padded) - frame_length + 1, hop_length)
    power = (energy[starts + frame_length] - energy[starts]) / frame_length
    level_db = 10 * np.log10(np.maximum(TRIM_AMPLITUDE_FLOOR ** 2, power))
    loud = np.flatnonzero(level_db > level_db.max() - top_db)
    if loud.size == 0:  # only when top_db <= 0
        return wave[:0]
    return wave[loud[0] * hop_length:min(len(wave), (loud[-1] + 1) * hop_length)]


def preprocess(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Optional silence trimming and loudness normalisation, as configured."""
    if cfg.trim_silence:
        wave = trim_silence(wave, cfg.trim_db, frame_length=cfg.win_length * 2, hop_length=cfg.hop_length)
    if cfg.normalize_loudness and wave.size:
        rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
        if rms > 0:
            wave = wave * (10 ** (cfg.target_rms_db / 20) / rms)
    return np.ascontiguousarray(wave, dtype=np.float32)


def log_mel(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel spectrogram, time-major: shape (n_frames, n_mels), float32."""
    import torch

    with torch.no_grad():
        spec = _mel_transform(cfg)(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32)))
        return torch.log(spec + LOG_FLOOR).T.contiguous().numpy()


def log_mel_numpy(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """:func:`log_mel` without torch (librosa, same window, padding, filters and floor): for the
    torch-free paths that featurize a few waveforms of their own (espeak renderings)."""
    import librosa

    spec = librosa.feature.melspectrogram(
        y=np.asarray(wave, dtype=np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
        win_length=cfg.win_length, window="hann", center=True, pad_mode="reflect", power=2.0,
        n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max, htk=False, norm="slaney")
    return np.log(spec + LOG_FLOOR).T.astype(np.float32)


@lru_cache(maxsize=8)
def _mel_on(cfg: FeatureConfig, device: str):
    return _mel_transform(cfg) if device == "cpu" else _mel_transform(cfg).to(device)


def log_mel_batch(waves: list[np.ndarray], cfg: FeatureConfig, device: str = "cpu") -> list[np.ndarray]:
    """:func:`log_mel` of several clips in one batched call on ``device`` (a GPU, or the CPU).

    Each clip gets the reflect padding ``center=True`` would give it, then zeros up to the longest
    clip; the transform runs with ``center=False`` and each clip keeps its own ``1 + len // hop``
    frames, so every frame sees exactly the samples it sees in :func:`log_mel` (the zeros only
    reach frames that are cut off). Results are float32 numpy arrays, (n_frames, n_mels) each.
    """
    import torch
    import torch.nn.functional as F

    if not waves:
        return []
    pad = cfg.n_fft // 2
    n_frames = [1 + len(w) // cfg.hop_length for w in waves]
    longest = max(len(w) for w in waves) + 2 * pad
    batch = torch.zeros(len(waves), longest, dtype=torch.float32)
    for k, wave in enumerate(waves):
        x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        batch[k, :len(wave) + 2 * pad] = F.pad(x[None, None], (pad, pad), mode="reflect")[0, 0]
    transform = _mel_on(cfg, device)
    with torch.no_grad():
        stft = torch.stft(batch.to(device), n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                          window=transform.spectrogram.window, center=False, return_complex=True)
        mel = transform.mel_scale(stft.abs().pow(2.0))
        logmel = torch.log(mel + LOG_FLOOR).transpose(1, 2).float().cpu().numpy()
    return [logmel[k, :n] for k, n in enumerate(n_frames)]


@lru_cache(maxsize=4)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_mels, n_mfcc): MFCCs are log-mel frames times this matrix."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    basis = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    return basis.T.astype(np.float32)


def mfcc_from_logmel(logmel: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    """MFCCs (n_frames, n_mfcc) from stored log-mel frames, so the baseline needs no re-decoding."""
    return np.asarray(logmel, dtype=np.float32) @ _dct_matrix(logmel.shape[1], n_mfcc)


def mfcc_statistics(logmel: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    """The classical recording vector: mean and std of the MFCCs, std of their deltas (3 x n_mfcc)."""
    mfcc = mfcc_from_logmel(logmel, n_mfcc)
    delta = np.diff(mfcc, axis=0) if len(mfcc) > 1 else np.zeros_like(mfcc)
    return np.concatenate([mfcc.mean(0), mfcc.std(0), delta.std(0)]).astype(np.float32)


def crop_frames(crop_s: float, cfg: FeatureConfig) -> int:
    """Frames in a crop of ``crop_s`` seconds (at least one)."""
    return max(1, int(round(crop_s * cfg.frames_per_second)))


def check_feature_config(source_cfg: FeatureConfig, target_cfg: FeatureConfig, target) -> None:
    """Refuse a store whose features differ from the ones the model was trained on."""
    if not source_cfg.compatible_with(target_cfg):
        a, b = source_cfg.to_dict(), target_cfg.to_dict()
        diff = ", ".join(f"{k}={b[k]} (model: {a[k]})" for k in a if a[k] != b[k])
        raise AccentError(f"feature store {target} was made with another feature config ({diff}): "
                          f"re-featurize it with the model's config")
