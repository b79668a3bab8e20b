"""Safe checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

Checkpoints hold tensors and plain Python types only, so a checkpoint carrying a pickled object is
refused instead of executed. Every failure becomes a one-line AccentError naming the file.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from accent.errors import AccentError
from accent.fileio import atomic_path
from accent.layout import RUN_FORMAT


def save_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path) -> dict:
    """A run's checkpoint.pt (format :data:`~accent.layout.RUN_FORMAT`), weights only."""
    if not path.is_file():
        raise AccentError(f"checkpoint {path} not found: train one with `accent pretrain` or `accent transfer`")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is damaged
        raise AccentError(f"checkpoint {path} is corrupt or truncated (not a torch checkpoint archive): retrain it")
    ckpt = _load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != RUN_FORMAT:
        raise AccentError(f"checkpoint {path} is not an accent run ({RUN_FORMAT}): retrain it")
    return ckpt


def load_train_state(path: Path) -> dict:
    """The resume point a training loop saved after its last finished epoch, weights only."""
    return _load(path)


def _load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise AccentError(f"checkpoint {path} holds objects that are not plain tensors/values and was refused "
                          f"(weights_only load): {str(exc).splitlines()[0][:160]}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise AccentError(f"checkpoint {path} is unreadable or truncated ({type(exc).__name__}): retrain it") from None
