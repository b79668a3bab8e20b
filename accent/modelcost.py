"""Multiply-adds of one forward pass, counted from layer shapes: a cost measure that machine load
does not change (wall-clock timing lives in benchmarks/bench_train.py)."""
from __future__ import annotations

import math

import torch
from torch import nn


def multiply_adds(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds per input item of ``model(x)`` in its convolution and linear layers.

    Each output element of a convolution costs ``in_channels / groups * prod(kernel_size)``
    multiply-adds and each of a linear layer ``in_features``; normalisation, activations and
    pooling are comparatively free and left out.
    """
    total = 0

    def count(layer: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            per_output = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
        else:
            per_output = layer.in_features
        total += output.numel() * per_output

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for hook in hooks:
            hook.remove()
    return total // max(1, x.shape[0])
