"""The contract every pretrained backbone adapter meets.

A backbone turns one recording's waveform into one fixed-size vector (for feature extraction:
frozen network -> embeddings -> any scikit-learn classifier), and, where it is feasible, exposes
its network as a ``torch.nn.Module`` for fine-tuning. The ``fingerprint`` names the exact weights
and settings, so cached embeddings are recomputed whenever either changes.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from accent.errors import AccentError, AudioError

HASH_CHUNK_BYTES = 1 << 20


class Backbone(ABC):
    """A pretrained speech network used as a recording-level embedder.

    Subclasses set ``name`` (the registry name), ``sample_rate`` (Hz of the waveforms they take),
    ``dim`` (embedding size) and ``fingerprint`` (a string that changes whenever the weights or the
    embedding settings change).
    """

    name: str
    sample_rate: int
    dim: int
    fingerprint: str

    @abstractmethod
    def embed_waveform(self, wave: np.ndarray) -> np.ndarray:
        """One recording (float32 mono at :attr:`sample_rate`) -> float32 vector (dim,), the mean
        over the backbone's internal windows. Raises AudioError for a clip it cannot use."""

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        """The waveform :meth:`torch_module` is fed when fine-tuning: the adapter's own cleaning
        (Resemblyzer: volume and voice activity), none by default. Raises AudioError."""
        return as_mono_float32(wave, 1, self.name)

    def torch_module(self):
        """An ``nn.Module`` mapping a batch of equal-length waveforms (B, n_samples) at
        :attr:`sample_rate` to embeddings (B, dim), with trainable parameters, for fine-tuning."""
        raise AccentError(f"backbone {self.name!r}: fine-tuning is not supported; "
                          "use it frozen (transfer mode extract)")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} dim={self.dim} sr={self.sample_rate} {self.fingerprint}>"


def file_sha1(path: str | Path, n_chars: int = 12) -> str:
    """Content hash of a weights file (streamed, so large checkpoints are fine)."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(HASH_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()[:n_chars]


def as_mono_float32(wave: np.ndarray, min_samples: int, what: str) -> np.ndarray:
    """Validate a waveform handed to ``embed_waveform``: 1-D, finite, at least ``min_samples`` long."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise AudioError(f"{what}: expected a mono waveform (1-D array), got shape {wave.shape}")
    if wave.size < min_samples:
        raise AudioError(f"{what}: clip has {wave.size} samples, fewer than the {min_samples} the backbone needs")
    if not np.isfinite(wave).all():
        raise AudioError(f"{what}: waveform holds NaN or infinite samples")
    return np.ascontiguousarray(wave)
