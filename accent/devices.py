"""Where a network runs: CPU, one CUDA GPU, or one rank of a ``torchrun`` job, and its autocast.

Several GPUs: ``torchrun --nproc_per_node=N -m accent pretrain --device cuda ...``; every rank
draws the same epoch plan and trains on its own slice of the crops; rank 0 evaluates and writes.
"""
from __future__ import annotations

import os

import torch

from accent.errors import AccentError


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def resolve_device(device: str | None) -> torch.device:
    _, size = world()
    if device in (None, "", "cpu"):
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AccentError("--device cuda requested but no CUDA GPU is visible: use --device cpu")
        if size > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device(device)
    raise AccentError(f"unknown --device {device!r}: use cpu or cuda")


def init_distributed(device: torch.device) -> None:
    _, size = world()
    if size > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA; a no-op context on the CPU (full float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)
