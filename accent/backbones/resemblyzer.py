"""Resemblyzer: the GE2E speaker encoder (3-layer LSTM, 1.4M parameters) trained on thousands of speakers.

A speaker embedding carries accent along with voice, so it is a strong frozen feature for accent
classification. This module re-implements Resemblyzer's inference path (``resemblyzer`` 0.1.x,
``VoiceEncoder.embed_utterance`` and ``preprocess_wav``) instead of importing the package, because
its import chain is broken on current environments (``webrtcvad`` imports ``pkg_resources``, gone
from recent setuptools; ``scipy.ndimage.morphology`` is deprecated). Only the weights file that
ships inside the ``resemblyzer`` wheel (``resemblyzer/pretrained.pt``) and webrtcvad's C extension
are used; the weights are loaded with ``torch.load(weights_only=True)``.

Signal path, as in Resemblyzer: volume raised (never lowered) to -30 dBFS; long silences removed
with WebRTC VAD (mode 3, 30 ms windows, moving average of 8, dilation of 7 windows); 40-band
power mel spectrogram (25 ms window, 10 ms hop); 1.6 s partial windows at 1.3 per second, the
last kept when it is at least 75 % covered; each partial's L2-normalised embedding is averaged
and the mean L2-normalised again. Differences: the mel spectrogram is computed with torchaudio
(same filters as librosa's, checked in tests/test_backbones.py) so extraction and fine-tuning share
one differentiable front end; int16 conversion for the VAD clips instead of wrapping around.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from accent.backbones.base import Backbone, as_mono_float32, file_sha1
from accent.errors import AccentError, AudioError

SAMPLE_RATE = 16000
N_MELS = 40
WINDOW_SAMPLES = 400           # 25 ms
HOP_SAMPLES = 160              # 10 ms
PARTIAL_FRAMES = 160           # 1.6 s per partial utterance
PARTIALS_PER_SECOND = 1.3
MIN_LAST_COVERAGE = 0.75
HIDDEN_SIZE = 256
EMBEDDING_SIZE = 256
NUM_LAYERS = 3

VAD_WINDOW_MS = 30
VAD_MODE = 3                   # most aggressive: only clear speech counts
VAD_MOVING_AVERAGE = 8
VAD_MAX_SILENCE_WINDOWS = 6
TARGET_DBFS = -30.0
INT16_MAX = 2 ** 15 - 1

WEIGHTS_FILE = "pretrained.pt"
INSTALL_HINT = "pip install resemblyzer (its wheel ships the weights, 17 MB; no internet needed afterwards)"


def weights_path() -> Path:
    """``resemblyzer/pretrained.pt`` inside the installed package, found without importing it."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise AccentError(f"backbone 'resemblyzer' needs the resemblyzer package: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not path.is_file():
        raise AccentError(f"{path} not found: reinstall with {INSTALL_HINT}")
    return path


# -- preprocessing (numpy, as in resemblyzer.audio) ------------------------------------------------

def normalize_volume(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Raise quiet recordings to ``target_dbfs`` RMS; loud ones are left alone (increase only)."""
    rms = float(np.sqrt(np.mean((wave.astype(np.float64) * INT16_MAX) ** 2)))
    if rms == 0:
        return wave
    change_db = target_dbfs - 20 * np.log10(rms / INT16_MAX)
    return wave if change_db < 0 else (wave * 10 ** (change_db / 20)).astype(np.float32)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    padded = np.concatenate((np.zeros((width - 1) // 2), x, np.zeros(width // 2)))
    total = np.cumsum(padded, dtype=float)
    total[width:] = total[width:] - total[:-width]
    return total[width - 1:] / width


def _vad_flags(pcm: bytes, n_windows: int, window_samples: int) -> np.ndarray:
    try:
        import _webrtcvad  # the C extension of webrtcvad / webrtcvad-wheels, without its pkg_resources wrapper
    except ImportError:
        raise AccentError("backbone 'resemblyzer' needs WebRTC VAD: pip install webrtcvad-wheels "
                          "(or webrtcvad)") from None
    vad = _webrtcvad.create()
    _webrtcvad.init(vad)
    _webrtcvad.set_mode(vad, VAD_MODE)
    step = window_samples * 2  # bytes per window of int16
    return np.array([_webrtcvad.process(vad, SAMPLE_RATE, pcm[i * step:(i + 1) * step], window_samples)
                     for i in range(n_windows)], dtype=float)


def trim_long_silences(wave: np.ndarray) -> np.ndarray:
    """Drop the non-speech stretches longer than the VAD allows, keeping short pauses."""
    from scipy.ndimage import binary_dilation

    window = VAD_WINDOW_MS * SAMPLE_RATE // 1000
    wave = wave[:len(wave) - len(wave) % window]
    pcm = np.clip(np.round(wave * INT16_MAX), -INT16_MAX - 1, INT16_MAX).astype("<i2").tobytes()
    flags = _vad_flags(pcm, len(wave) // window, window)
    mask = np.round(_moving_average(flags, VAD_MOVING_AVERAGE)).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_MAX_SILENCE_WINDOWS + 1))
    return wave[np.repeat(mask, window)]


def partial_starts(n_samples: int) -> list[int]:
    """Start frames of the 1.6 s partial windows covering ``n_samples`` (Resemblyzer's
    ``compute_partial_slices`` with rate 1.3 and minimum coverage 0.75); always at least one."""
    n_frames = int(np.ceil((n_samples + 1) / HOP_SAMPLES))
    step = int(np.round(SAMPLE_RATE / PARTIALS_PER_SECOND / HOP_SAMPLES))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    last = starts[-1] * HOP_SAMPLES
    coverage = (n_samples - last) / (PARTIAL_FRAMES * HOP_SAMPLES)
    if coverage < MIN_LAST_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


# -- network ---------------------------------------------------------------------------------------

def _torch_modules():
    """Build the nn.Module classes on first use, so importing the registry does not import torch."""
    import torch
    import torchaudio
    from torch import nn

    class SpeakerEncoder(nn.Module):
        """GE2E LSTM; parameter names match ``resemblyzer.VoiceEncoder`` so its state dict loads."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, HIDDEN_SIZE, NUM_LAYERS, batch_first=True)
            self.linear = nn.Linear(HIDDEN_SIZE, EMBEDDING_SIZE)
            self.relu = nn.ReLU()

        def forward(self, mels):
            """(B, frames, 40) power mels -> (B, 256) L2-normalised embeddings of the last hidden state."""
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    class ResemblyzerEmbedder(nn.Module):
        """Waveforms (B, n_samples) at 16 kHz -> utterance embeddings (B, 256), differentiable."""

        def __init__(self, encoder: SpeakerEncoder):
            super().__init__()
            self.encoder = encoder
            self.mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=SAMPLE_RATE, n_fft=WINDOW_SAMPLES, win_length=WINDOW_SAMPLES,
                hop_length=HOP_SAMPLES, n_mels=N_MELS, power=2.0, center=True, pad_mode="constant",
                norm="slaney", mel_scale="slaney")

        def forward(self, waves):
            n_samples = waves.shape[-1]
            starts = partial_starts(n_samples)
            needed = (starts[-1] + PARTIAL_FRAMES) * HOP_SAMPLES
            if needed >= n_samples:
                waves = torch.nn.functional.pad(waves, (0, needed - n_samples))
            mels = self.mel(waves).transpose(1, 2)  # (B, frames, 40)
            partials = torch.stack([mels[:, s:s + PARTIAL_FRAMES] for s in starts], dim=1)
            batch, n_partials = partials.shape[:2]
            embeds = self.encoder(partials.reshape(batch * n_partials, PARTIAL_FRAMES, N_MELS))
            mean = embeds.reshape(batch, n_partials, -1).mean(dim=1)
            return mean / mean.norm(dim=1, keepdim=True).clamp_min(1e-12)

    return SpeakerEncoder, ResemblyzerEmbedder


@lru_cache(maxsize=1)
def _pretrained_state(path: str) -> dict:
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise AccentError(f"{path}: no 'model_state' in the checkpoint; reinstall with {INSTALL_HINT}")
    # the GE2E similarity scale/bias are training-only parameters
    return {k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))}


class ResemblyzerBackbone(Backbone):
    name = "resemblyzer"
    sample_rate = SAMPLE_RATE
    dim = EMBEDDING_SIZE

    def __init__(self, *, random_init: bool = False):
        """``random_init=True`` (tests only) skips the weights: same architecture, seeded random init."""
        import torch

        encoder_cls, embedder_cls = _torch_modules()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            encoder = encoder_cls()
        if random_init:
            self.fingerprint = "resemblyzer-random-init"
        else:
            path = weights_path()
            encoder.load_state_dict(_pretrained_state(str(path)))
            self.fingerprint = f"resemblyzer-{file_sha1(path)}"
        self._embedder = embedder_cls(encoder).eval()

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        """Resemblyzer's ``preprocess_wav`` on a 16 kHz waveform: volume up, long silences out."""
        wave = as_mono_float32(wave, VAD_WINDOW_MS * SAMPLE_RATE // 1000, "resemblyzer")
        speech = trim_long_silences(normalize_volume(wave))
        if speech.size == 0:
            raise AudioError("resemblyzer: no speech found by the voice activity detector (silent clip?)")
        return speech

    def embed_waveform(self, wave: np.ndarray) -> np.ndarray:
        import torch

        speech = self.preprocess(wave)
        with torch.inference_mode():
            return self._embedder(torch.from_numpy(speech)[None])[0].numpy().astype(np.float32)

    def torch_module(self):
        """A fresh trainable copy (waveforms -> embeddings); feed it crops of at least 1.6 s."""
        import copy

        return copy.deepcopy(self._embedder).train()
