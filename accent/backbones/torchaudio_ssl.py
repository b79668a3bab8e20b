"""Self-supervised speech models from torchaudio's pipelines: wav2vec 2.0, HuBERT, WavLM (base sizes).

The embedding is the output of one transformer layer (default 6 of 12: middle layers carry the
most phonetic and speaker information, the top ones are specialised to the pre-training target),
mean-pooled over time. Long recordings are cut into chunks of at most ``CHUNK_S`` seconds (attention
cost grows with the square of the length) and the frames of all chunks are pooled together.

Weights are never downloaded here: torchaudio would fetch them from download.pytorch.org into the
torch hub cache, which needs the internet. When the file is absent the adapter says which file,
where it goes and how to fetch it on a connected machine. Files found are loaded with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from accent.backbones.base import Backbone, as_mono_float32
from accent.errors import AccentError

# registry name -> (torchaudio.pipelines bundle, default layer)
MODELS = {
    "wav2vec2_base": ("WAV2VEC2_BASE", 6),
    "hubert_base": ("HUBERT_BASE", 6),
    "wavlm_base_plus": ("WAVLM_BASE_PLUS", 6),
}
CHUNK_S = 15.0          # longest stretch the transformer attends over at once
MIN_CHUNK_S = 1.0       # a shorter tail is merged into the previous chunk
MIN_SAMPLES = 400       # one frame of the convolutional feature encoder (25 ms at 16 kHz)
RANDOM_INIT_SEED = 0


def _bundle(bundle_name: str):
    import torchaudio.pipelines

    return getattr(torchaudio.pipelines, bundle_name)


def hub_checkpoint_path(bundle_name: str) -> Path:
    """Where torchaudio's ``get_model()`` caches this bundle's weights (torch hub checkpoints dir)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_bundle(bundle_name)._path).name


def missing_weights_message(name: str, bundle_name: str) -> str:
    path = hub_checkpoint_path(bundle_name)
    return (f"backbone {name!r}: pretrained weights {path.name} are not in the torch hub cache ({path.parent}) "
            f"and accent never downloads them: on a connected machine run "
            f"`python -c \"import torchaudio; torchaudio.pipelines.{bundle_name}.get_model()\"` "
            f"and copy ~/.cache/torch/hub/checkpoints/{path.name} to {path.parent}/")


def _build_model(bundle_name: str, overrides: dict | None):
    import torchaudio.models

    bundle = _bundle(bundle_name)
    params = {**bundle._params, **(overrides or {})}
    factory = {"Wav2Vec2": torchaudio.models.wav2vec2_model,
               "WavLM": torchaudio.models.wavlm_model}[bundle._model_type]
    return factory(**params), params


def _chunk_bounds(n_samples: int, chunk: int, min_chunk: int) -> list[tuple[int, int]]:
    """Consecutive (start, stop) spans of at most ``chunk`` samples; a tail under ``min_chunk`` joins
    the chunk before it."""
    bounds = [(start, min(start + chunk, n_samples)) for start in range(0, n_samples, chunk)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < min_chunk:
        tail = bounds.pop()
        bounds[-1] = (bounds[-1][0], tail[1])
    return bounds


def _embedder_class():
    import torch
    from torch import nn

    class LayerMeanEmbedder(nn.Module):
        """Waveforms (B, n_samples) -> mean over time of transformer layer ``layer`` (B, dim)."""

        def __init__(self, model, layer: int, normalize_waveform: bool):
            super().__init__()
            self.model = model
            self.layer = layer
            self.normalize_waveform = normalize_waveform

        def frames(self, waves):
            """(B, n_samples) -> (B, frames, dim): the chosen layer's output, 20 ms per frame."""
            if self.normalize_waveform:  # the large/XLSR checkpoints were trained on standardised input
                waves = nn.functional.layer_norm(waves, waves.shape[-1:])
            layers, _ = self.model.extract_features(waves, num_layers=self.layer)
            return layers[-1]

        def forward(self, waves):
            return self.frames(waves).mean(dim=1)

    return torch, LayerMeanEmbedder


class TorchaudioSSLBackbone(Backbone):
    """One of :data:`MODELS`. ``layer`` counts transformer blocks from 1 (default in MODELS).

    ``random_init`` and ``overrides`` are for tests and timing only: ``random_init`` gives the same
    architecture with seeded random weights and needs no file; ``overrides`` change the bundle's
    architecture parameters (e.g. ``{"encoder_num_layers": 2}``) to make a tiny model.
    """

    def __init__(self, name: str, *, layer: int | None = None, random_init: bool = False,
                 overrides: dict | None = None, chunk_s: float = CHUNK_S):
        if name not in MODELS:
            raise AccentError(f"unknown torchaudio backbone {name!r}; known: {', '.join(MODELS)}")
        bundle_name, default_layer = MODELS[name]
        path = hub_checkpoint_path(bundle_name)
        if not random_init and not path.is_file():
            raise AccentError(missing_weights_message(name, bundle_name))
        torch, embedder_cls = _embedder_class()
        bundle = _bundle(bundle_name)
        with torch.random.fork_rng():
            torch.manual_seed(RANDOM_INIT_SEED)
            model, params = _build_model(bundle_name, overrides)
        n_layers = int(params["encoder_num_layers"])
        self.layer = int(layer if layer is not None else min(default_layer, n_layers))
        if not 1 <= self.layer <= n_layers:
            raise AccentError(f"backbone {name!r}: layer {self.layer} does not exist; choose 1..{n_layers}")
        self.name = name
        self.sample_rate = int(bundle.sample_rate)
        self.dim = int(params["encoder_embed_dim"])
        self.chunk_samples = int(chunk_s * self.sample_rate)
        if random_init:
            arch = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
            self.fingerprint = f"{name}-random-init-{arch}-L{self.layer}"
        else:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state)
            except Exception as exc:
                raise AccentError(f"{path}: cannot load {bundle_name} weights ({type(exc).__name__}); "
                                  f"delete it and fetch it again") from None
            # the file name carries the checkpoint version; its size catches a truncated copy
            self.fingerprint = f"{name}-{path.name}-{path.stat().st_size}-L{self.layer}"
        self._embedder = embedder_cls(model, self.layer, bool(bundle._normalize_waveform)).eval()

    def embed_waveform(self, wave: np.ndarray) -> np.ndarray:
        import torch

        wave = as_mono_float32(wave, MIN_SAMPLES, self.name)
        total = np.zeros(self.dim, np.float64)
        n_frames = 0
        min_chunk = max(MIN_SAMPLES, int(MIN_CHUNK_S * self.sample_rate))
        with torch.inference_mode():
            for start, stop in _chunk_bounds(len(wave), self.chunk_samples, min_chunk):
                frames = self._embedder.frames(torch.from_numpy(wave[start:stop])[None])[0]
                total += frames.sum(dim=0).double().numpy()
                n_frames += frames.shape[0]
        return (total / n_frames).astype(np.float32)

    def torch_module(self):
        """The whole network (about 95M parameters): practical to fine-tune on a GPU, slow on CPU."""
        import copy

        return copy.deepcopy(self._embedder).train()
