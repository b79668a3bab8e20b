"""A pretrained speech backbone's ``torch_module`` (waveforms -> embeddings) with a linear head.

The head reads the embedding centred by the training recordings' mean and divided by ONE scale
(their overall spread), not per dimension: an almost-constant ReLU unit would otherwise get a huge
weight (see :func:`accent.training.tasks.linear_probe`).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from accent.audio import load_audio
from accent.backbones import get_backbone

MODEL_KIND = "waveform"
TRAIN_CROP_S = (1.6, 3.0)   # training crops: one length per batch drawn from this range (1.6 s = one
                            # Resemblyzer partial, the length GE2E was trained on)
EVAL_CROP_S = 3.0           # a recording is scored on evenly spaced crops of this length


class WaveformClassifier(nn.Module):
    """Backbone body + centred, scaled embedding + linear head. ``config`` rebuilds it."""

    def __init__(self, body: nn.Module, config: dict):
        super().__init__()
        self.config = dict(config)
        self.body = body
        self.register_buffer("emb_mean", torch.zeros(config["dim"]))
        self.register_buffer("emb_scale", torch.ones(()))
        self.head = nn.Linear(config["dim"], config["n_classes"])

    def embed(self, waves: torch.Tensor) -> torch.Tensor:
        return self.body(waves)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        return self.head((self.embed(waves) - self.emb_mean) / self.emb_scale)

    def body_parameters(self):
        return self.body.parameters()

    def replace_head(self, n_classes: int) -> None:
        """A fresh output layer for ``n_classes`` (a fine-tuned source network transferred to new labels)."""
        self.head = nn.Linear(self.config["dim"], n_classes)
        self.config["n_classes"] = int(n_classes)

    def set_embedding_scale(self, X: np.ndarray) -> np.ndarray:
        """Centre/scale buffers from frozen training embeddings ``X``; returns X centred and scaled."""
        mean = X.mean(axis=0)
        scale = float(np.sqrt(((X - mean) ** 2).sum(axis=1).mean() / X.shape[1])) or 1.0
        with torch.no_grad():
            self.emb_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.emb_scale.fill_(scale)
        return (X - mean) / scale


def waveform_model_config(backbone_name: str, dim: int, n_classes: int) -> dict:
    return {"kind": MODEL_KIND, "backbone": backbone_name, "dim": int(dim), "n_classes": int(n_classes)}


def is_waveform_config(model_config) -> bool:
    return isinstance(model_config, dict) and model_config.get("kind") == MODEL_KIND


def build_waveform_model(config: dict, backbone=None) -> WaveformClassifier:
    """The architecture of a saved run with random weights (its state dict is loaded next), so
    loading a fine-tuned run needs no pretrained weights file; or, given ``backbone``, its
    pretrained body."""
    body = backbone.torch_module() if backbone is not None else \
        get_backbone(config["backbone"], random_init=True).torch_module()
    return WaveformClassifier(body, config)


def decode(backbone, path: str) -> np.ndarray:
    """One recording as the backbone's module is fed it; AudioError for an unusable clip."""
    return backbone.preprocess(load_audio(path, backbone.sample_rate))
