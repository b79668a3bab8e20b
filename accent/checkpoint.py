"""Safe checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A run's checkpoint travels in two containers: ``checkpoint.pt`` in a run directory, and the
self-contained model file that ``accent export`` writes (safetensors + JSON, :mod:`accent.modelfile`).
Both are read here, so every consumer (inference, embeddings) accepts either.

Checkpoints hold tensors and plain Python types only, so a checkpoint carrying a pickled object is
refused instead of executed. Every failure becomes a one-line AccentError naming the file.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import torch

from accent.errors import AccentError
from accent.fileio import atomic_path
from accent.layout import CHECKPOINT, RUN_FORMAT, RUN_JSON


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


def load_run_checkpoint(path: str | Path) -> dict:
    """The checkpoint of a run directory or of an exported model file."""
    path = Path(path)
    return read_model_file(path)[0] if is_model_file(path) else load_checkpoint(path / CHECKPOINT)


def checkpoint_file(path: str | Path) -> Path:
    """The file whose bytes identify a run's weights (for cache keys)."""
    path = Path(path)
    if is_model_file(path):
        return path / WEIGHTS if path.is_dir() else path
    return path / CHECKPOINT


# -- the model file: checkpoint tensors in safetensors, the rest in JSON, never unpickled ----------

MODEL_FORMAT = "accent-model/1"
MODEL_JSON = "model.json"
WEIGHTS = "weights.safetensors"
CARD_README = "README.md"
MODEL_SUFFIX = ".accent"
TENSOR_REF = "$tensor"
MAX_JSON_BYTES = 64 << 20      # model.json / run.json members larger than this are refused (zip bombs)


def is_model_file(path: str | Path) -> bool:
    """A ``.accent`` archive or an exported folder (holding model.json), as opposed to a run directory."""
    path = Path(path)
    return (path.is_dir() and (path / MODEL_JSON).is_file()) or (path.is_file() and zipfile.is_zipfile(path))


def _read_member(path: Path, name: str, required: bool = True):
    """One member of an archive or exported folder, by its fixed name: the weights as bytes, the
    others parsed as JSON; None for a missing optional member."""
    try:
        if path.is_dir():
            file = path / name
            if not file.is_file():
                raise KeyError(name)
            size = file.stat().st_size
            if name != WEIGHTS and size > MAX_JSON_BYTES:
                raise AccentError(f"model file {path}: {name} is {size} bytes, more than a model file holds")
            data = file.read_bytes()
        else:
            with zipfile.ZipFile(path) as zf:
                info = zf.getinfo(name)
                if name != WEIGHTS and info.file_size > MAX_JSON_BYTES:
                    raise AccentError(f"model file {path}: {name} is {info.file_size} bytes, more than a model file holds")
                data = zf.read(info)
    except KeyError:
        if required:
            raise AccentError(f"model file {path} lacks {name}: it is not an accent model file; "
                              "export it again with `accent export`") from None
        return None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise AccentError(f"model file {path} is damaged ({type(exc).__name__} reading {name}): export it again") from None
    if name == WEIGHTS:
        return data
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AccentError(f"model file {path}: {name} is not valid JSON; export it again") from None


def read_model_json(path: Path) -> dict:
    model_json = _read_member(path, MODEL_JSON)
    if not isinstance(model_json, dict) or model_json.get("format") != MODEL_FORMAT:
        found = model_json.get("format") if isinstance(model_json, dict) else None
        raise AccentError(f"model file {path} is not an {MODEL_FORMAT} model (format {found!r}): export it again")
    return model_json


def read_model_members(path: Path) -> dict:
    """model.json, run.json (parsed) and the weights (raw bytes) of an archive or exported folder."""
    return {MODEL_JSON: read_model_json(path), WEIGHTS: _read_member(path, WEIGHTS),
            RUN_JSON: _read_member(path, RUN_JSON, required=False)}


def _decode(encoded, weights: bytes, path: Path) -> dict:
    """The checkpoint dict back from its JSON skeleton and the safetensors tensors."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    try:
        tensors = load_safetensors(weights)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise AccentError(f"model file {path}: {WEIGHTS} is unreadable ({str(exc)[:120]}): export it again") from None

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {TENSOR_REF}:
                if node[TENSOR_REF] not in tensors:
                    raise AccentError(f"model file {path}: tensor {node[TENSOR_REF]!r} is missing from {WEIGHTS}")
                return tensors[node[TENSOR_REF]]
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    ckpt = walk(encoded)
    if not isinstance(ckpt, dict) or "labels" not in ckpt:
        raise AccentError(f"model file {path}: {MODEL_JSON} holds no checkpoint; export it again")
    return ckpt


def read_model_file(path: Path) -> tuple[dict, dict]:
    """(checkpoint, run.json) of an exported model file (archive or folder)."""
    members = read_model_members(path)
    return _decode(members[MODEL_JSON]["checkpoint"], members[WEIGHTS], path), members.get(RUN_JSON) or {}
