"""The one table of methods: mode name -> :class:`accent.methods.base.Method` class.

A method registers itself with ``@register`` in its own module; :mod:`accent.methods` imports the
built-in ones in the order every table shows them. The stages ask this table (and the classes'
declarations) instead of comparing mode names.
"""
from __future__ import annotations

from pathlib import Path

from accent.errors import AccentError
from accent.layout import CHECKPOINT

_METHODS: dict = {}


def register(cls):
    """Class decorator: ``cls.name`` becomes a mode (``accent transfer --mode NAME``, the curve, the report)."""
    _METHODS[cls.name] = cls
    return cls


def get_method(name: str):
    """The method class of a mode; a one-line AccentError naming the known modes otherwise."""
    try:
        return _METHODS[str(name)]
    except KeyError:
        raise AccentError(f"unknown --mode {name!r}: choose one of {', '.join(method_names())}") from None


def find_method(name: str):
    """The method class of a mode, or None (a run.json of an unknown or future mode)."""
    return _METHODS.get(str(name))


def method_names() -> tuple[str, ...]:
    """The transfer modes, in the order every table shows them."""
    return tuple(name for name, cls in _METHODS.items() if cls.transfer)


def mode_rank(mode: str) -> int:
    """Position of a mode in the registry (``pretrain`` first, unknown modes last)."""
    names = list(_METHODS)
    return names.index(mode) if mode in _METHODS else len(names)


def read_own_model(rundir: Path) -> dict | None:
    """The checkpoint dict of a run whose method saves its own model file in place of checkpoint.pt
    (aligned: ``aligned_model.npz``), else None."""
    if (rundir / CHECKPOINT).is_file():
        return None
    for cls in _METHODS.values():
        if cls.model_file is not None and (rundir / cls.model_file).is_file():
            return cls.read_model_file(rundir / cls.model_file)
    return None
