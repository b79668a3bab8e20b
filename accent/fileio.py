"""Atomic writes: every file a stage produces appears whole or not at all.

Each writer goes to ``<name>.tmp`` beside the target, fsyncs it, then renames it over the target,
so an interrupted stage never leaves half a manifest, checkpoint or report behind.
:func:`read_json_or_none` is the matching lenient reader for records that may not exist yet.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from accent.errors import AccentError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is synced and renamed to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data, **json_options) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, **json_options) + "\n")


def write_csv_atomic(df, path: str | Path) -> None:
    """A pandas DataFrame as CSV, without its index."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def read_json_or_none(path: str | Path):
    """The parsed JSON file, or None when it is missing or not valid JSON: for optional records
    (a run's ``run.json``, a curve's plan) where absence just means "not there yet"."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_meta_npz(path: str | Path, meta: dict, arrays: dict) -> Path:
    """One ``.npz`` of plain arrays plus ``meta`` as a JSON string, written atomically: a fitted
    model that loads without pickle (:func:`read_meta_npz`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
    return path


def read_meta_npz(path: str | Path, what: str, hint: str) -> tuple[dict, dict]:
    """(meta, arrays) of :func:`write_meta_npz`'s file, ``allow_pickle=False``; a one-line
    AccentError naming ``what`` the file should be and ``hint`` (the fix) when it is missing or unreadable."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except FileNotFoundError:
        raise AccentError(f"{what} {path} not found: {hint}") from None
    except (KeyError, ValueError, OSError) as exc:
        raise AccentError(f"{path} is not a readable {what} ({exc}): {hint}") from None
    return meta, arrays
