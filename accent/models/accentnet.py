"""Model presets: a fast 1-D TDNN (the CPU default) and the capstone's compact 2-D CNN.

Every model takes raw stored log-mels ``(batch, frames, n_mels)`` and normalises them itself with
the training store's mean/std (buffers in the state dict), so a checkpoint can never be paired with
the wrong statistics. SpecAugment lives in the model too and is active only in training mode.

``embed(x)`` gives the recording-independent embedding (after statistics/global pooling and the
embedding layer); ``head`` is a single ``nn.Linear`` that ``replace_head(n)`` swaps for transfer.
A model is fully described by its ``model_config`` dict, which the checkpoint stores.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from accent.errors import AccentError
from accent.features import STD_FLOOR

# cnn2d is the capstone-faithful network (4 conv blocks of 16-32-64-128 channels); tdnn costs about
# 5x less per crop on a CPU core (docs/benchmarks.md "Training") and is the default. "cmn" (per-crop
# mean normalisation, see AccentNet._prepare) is on for every preset.
PRESETS: dict[str, dict] = {
    "tdnn": {"arch": "tdnn", "channels": [128, 128, 128], "kernels": [5, 3, 3],
             "dilations": [1, 2, 3], "stride": 2, "pool_channels": 192, "embed_dim": 128,
             "dropout": 0.2},
    "tdnn-large": {"arch": "tdnn", "channels": [512, 512, 512, 512, 512], "kernels": [5, 3, 3, 3, 1],
                   "dilations": [1, 2, 3, 4, 1], "stride": 1, "pool_channels": 1500, "embed_dim": 256,
                   "dropout": 0.2},
    "cnn2d": {"arch": "cnn2d", "channels": [16, 32, 64, 128], "embed_dim": 128, "dropout": 0.3,
              "embed_norm": "layer"},
    "cnn2d-large": {"arch": "cnn2d", "channels": [32, 64, 128, 256, 512], "embed_dim": 256, "dropout": 0.3,
                    "embed_norm": "layer"},
}
DEFAULT_PRESET = "tdnn"
# SpecAugment: two frequency masks of up to FREQ_MASK mel bins and two time masks of up to TIME_MASK frames.
SPECAUGMENT = {"freq_mask": 8, "time_mask": 20, "n_masks": 2}
# Normalisation in the embedding layer. The 2-D CNN's globally averaged features vary very little
# across a batch, and batch norm on them scored at chance in eval mode (running statistics lagging
# the batch statistics); layer norm does not depend on the batch, so train and eval agree.
EMBED_NORMS = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def model_config(preset: str, n_mels: int, n_classes: int, overrides: dict | None = None) -> dict:
    """The full config of a preset for this input size and label count, with optional overrides."""
    if preset not in PRESETS:
        raise AccentError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = copy.deepcopy(PRESETS[preset])
    cfg.update({"preset": preset, "n_mels": int(n_mels), "n_classes": int(n_classes), "cmn": True,
                "specaugment": dict(SPECAUGMENT)})
    cfg.update(copy.deepcopy(overrides or {}))
    return cfg


class SpecAugment(nn.Module):
    """Frequency and time masking with per-example masks; identity in eval mode.

    The masks are drawn exactly as torchaudio's ``FrequencyMasking``/``TimeMasking`` with
    ``iid_masks`` draw them (same random calls in the same order, so the same masks for a seed), but
    applied in one ``masked_fill`` instead of one per mask: a quarter of the cost, the same values."""

    def __init__(self, freq_mask: int, time_mask: int, n_masks: int):
        super().__init__()
        self.freq_mask, self.time_mask, self.n_masks = freq_mask, time_mask, n_masks

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_mels, T), normalised (mask value 0 = mean)
        if not self.training or self.n_masks == 0:
            return x
        masked = torch.zeros(x.shape, dtype=torch.bool, device=x.device)
        for _ in range(self.n_masks):
            if self.freq_mask:
                masked |= self._band(x, self.freq_mask, 1)[:, :, None]
            if self.time_mask:
                masked |= self._band(x, self.time_mask, 2)[:, None, :]
        return x.masked_fill(masked, 0.0)

    @staticmethod
    def _band(x: torch.Tensor, width: int, axis: int) -> torch.Tensor:
        """(B, x.size(axis)) bool: one band of up to ``width`` bins per example, drawn as
        ``torchaudio.functional.mask_along_axis_iid`` draws it."""
        shape = (x.shape[0], 1)
        value = torch.rand(shape, device=x.device, dtype=x.dtype) * width
        low = torch.rand(shape, device=x.device, dtype=x.dtype) * (x.size(axis) - value)
        start, end = low.long(), low.long() + value.long()
        bins = torch.arange(0, x.size(axis), device=x.device, dtype=x.dtype)
        return (bins >= start) & (bins < end)


class AccentNet(nn.Module):
    """Shared skeleton: normalise -> SpecAugment -> body -> pooled vector -> embedding -> head."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.config = copy.deepcopy(cfg)
        n_mels = cfg["n_mels"]
        self.register_buffer("norm_mean", torch.zeros(n_mels))
        self.register_buffer("norm_std", torch.ones(n_mels))
        self.augment = SpecAugment(**cfg.get("specaugment", SPECAUGMENT))
        self.body, pooled_dim = self._build_body(cfg)
        self.embedding = nn.Sequential(nn.Linear(pooled_dim, cfg["embed_dim"]),
                                       EMBED_NORMS[cfg.get("embed_norm", "batch")](cfg["embed_dim"]), nn.ReLU())
        self.dropout = nn.Dropout(cfg.get("dropout", 0.0))
        self.head = nn.Linear(cfg["embed_dim"], cfg["n_classes"])

    def _build_body(self, cfg: dict) -> tuple[nn.Module, int]:
        raise NotImplementedError

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def set_normalization(self, mean, std) -> None:
        self.norm_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.norm_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(STD_FLOOR))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) raw log-mels -> (B, n_mels, T) normalised and (in training) augmented.

        With ``cmn`` each crop's own mean over time is subtracted per mel bin first (cepstral mean
        normalisation): a fixed channel or voice colouring is a constant offset in log-mel space, so
        this removes it before the network can latch on to it.
        """
        if self.config.get("cmn"):
            x = x - x.mean(dim=1, keepdim=True)
            x = x / self.norm_std
        else:
            x = (x - self.norm_mean) / self.norm_std
        return self.augment(x.transpose(1, 2))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self._pool(self._prepare(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))

    def replace_head(self, n_classes: int) -> None:
        """A fresh, randomly initialised output layer for ``n_classes`` (transfer to new labels)."""
        self.head = nn.Linear(self.config["embed_dim"], n_classes).to(self.norm_mean.device)
        self.config["n_classes"] = int(n_classes)

    def body_parameters(self) -> list[nn.Parameter]:
        """Everything but the head: the part transfer freezes first, then trains with a lower rate."""
        head = {id(p) for p in self.head.parameters()}
        return [p for p in self.parameters() if id(p) not in head]


class TDNN(AccentNet):
    """1-D convolutions over time with mel bins as channels (x-vector family) and statistics pooling.

    The first layer strides over time (``stride``), halving the cost of every later layer; accent
    cues live in formant and rhythm patterns at 20 ms resolution just as well as at 10 ms.
    """

    def _build_body(self, cfg):
        layers, c_in = [], cfg["n_mels"]
        for i, (c, k, d) in enumerate(zip(cfg["channels"], cfg["kernels"], cfg["dilations"])):
            stride = cfg.get("stride", 1) if i == 0 else 1
            layers += [nn.Conv1d(c_in, c, k, stride=stride, dilation=d, padding=d * (k - 1) // 2),
                       nn.BatchNorm1d(c), nn.ReLU()]
            c_in = c
        layers += [nn.Conv1d(c_in, cfg["pool_channels"], 1), nn.BatchNorm1d(cfg["pool_channels"]), nn.ReLU()]
        return nn.Sequential(*layers), 2 * cfg["pool_channels"]

    def _pool(self, x):
        """Mean and (unbiased) standard deviation over time, in float32 also under bfloat16 autocast.
        Two passes (the mean, then the centred squares) rather than ``torch.std``, which costs about
        twice as much forward and backward on the CPU (docs/benchmarks.md, issue 23)."""
        h = self.body(x).float()
        mean = h.mean(dim=2)
        var = (h - mean.unsqueeze(2)).square().sum(dim=2) / (h.shape[2] - 1)
        return torch.cat([mean, var.sqrt()], dim=1)


class CNN2D(AccentNet):
    """The capstone's compact spectrogram CNN: conv-BN-ReLU-maxpool blocks, global average pooling."""

    def _build_body(self, cfg):
        layers, c_in = [], 1
        for c in cfg["channels"]:
            layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c
        return nn.Sequential(*layers), c_in

    def _pool(self, x):
        h = self.body(x.unsqueeze(1).contiguous(memory_format=self._memory_format(x)))
        return h.mean(dim=(2, 3))

    @staticmethod
    def _memory_format(x: torch.Tensor):
        return torch.channels_last if x.is_cuda else torch.contiguous_format


ARCHITECTURES = {"tdnn": TDNN, "cnn2d": CNN2D}


def build_model(cfg: dict) -> AccentNet:
    arch = cfg.get("arch")
    if arch not in ARCHITECTURES:
        raise AccentError(f"model_config arch {arch!r} is unknown; expected one of {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](cfg)
