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


def cpu_has_bfloat16_matrix_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX tiles): there oneDNN's
    bfloat16 convolutions run about twice as fast as float32 ones; elsewhere bfloat16 is emulated
    and slower, so ``auto`` stays in float32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(probe and probe() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (RuntimeError, AttributeError):
        return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``: what ``train.precision`` means on this device. ``auto`` is
    bfloat16 autocast on CUDA and on CPUs with bfloat16 matrix units, float32 elsewhere. The
    resolved value is recorded in run.json, since it changes the float rounding of a run.
    ``precision``: a valid ``train.precision`` (TrainConfig checks it, with its one-line error)."""
    if precision != "auto":
        return precision
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bfloat16_matrix_units()):
        return "bfloat16"
    return "float32"


def inference_precision(device: torch.device) -> str:
    """Scoring a saved model: bfloat16 on CUDA, float32 on every CPU, so that ``accent predict`` gives
    the same numbers on any CPU as the run's own predictions.csv."""
    return "bfloat16" if device.type == "cuda" else "float32"


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (:func:`resolve_precision`) on ``device``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
