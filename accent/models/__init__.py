"""The networks a run holds: our log-mel classifier (:mod:`.accentnet`) and a pretrained waveform
backbone with a new head (:mod:`.waveform`); :mod:`.outputs` scores whole recordings with either.

A network is fully described by its ``model_config`` dict, which the checkpoint stores;
:func:`build_network` rebuilds the architecture from it (random weights, the state dict comes next).
"""
from __future__ import annotations

from accent.models.accentnet import DEFAULT_PRESET, PRESETS, AccentNet, build_model, model_config
from accent.models.waveform import WaveformClassifier, build_waveform_model, is_waveform_config

__all__ = ["DEFAULT_PRESET", "PRESETS", "AccentNet", "WaveformClassifier", "build_model", "build_network",
           "build_waveform_model", "is_waveform_config", "model_config"]


def build_network(config: dict):
    """The architecture of a saved run, either kind."""
    return build_waveform_model(config) if is_waveform_config(config) else build_model(config)


def network_from_checkpoint(ckpt: dict):
    """The trained network a checkpoint holds, in eval mode (None for a scikit-learn-only run)."""
    if ckpt.get("state_dict") is None:
        return None
    model = build_network(ckpt["model_config"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
