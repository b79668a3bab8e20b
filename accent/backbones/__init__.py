"""Registry of pretrained speech backbones (see :class:`accent.backbones.base.Backbone`).

``get_backbone("resemblyzer")`` or ``get_backbone("hubert_base@8")`` (``@N`` picks the transformer
layer of an SSL model). Adding a backbone means adding one module with a Backbone subclass and one
line in ``_FACTORIES``. Modules are imported on first use, so listing names costs nothing.

The pseudo-backbones ``mfcc`` (MFCC statistics of stored log-mels) and ``accent:RUNDIR`` (our own
pretrained CNN) work from a feature store rather than from audio; they live in
:mod:`accent.embeddings`.
"""
from __future__ import annotations

import importlib

from accent.backbones.base import Backbone
from accent.errors import AccentError

_SSL = "accent.backbones.torchaudio_ssl"
# name -> (module, class, fixed keyword arguments)
_FACTORIES: dict[str, tuple[str, str, dict]] = {
    "resemblyzer": ("accent.backbones.resemblyzer", "ResemblyzerBackbone", {}),
    "wav2vec2_base": (_SSL, "TorchaudioSSLBackbone", {"name": "wav2vec2_base"}),
    "hubert_base": (_SSL, "TorchaudioSSLBackbone", {"name": "hubert_base"}),
    "wavlm_base_plus": (_SSL, "TorchaudioSSLBackbone", {"name": "wavlm_base_plus"}),
}
_LAYERED = {name for name, (module, _, _) in _FACTORIES.items() if module == _SSL}
BACKBONES: tuple[str, ...] = tuple(_FACTORIES)
LAYER_SEPARATOR = "@"

_loaded: dict[str, Backbone] = {}


def parse_name(spec: str) -> tuple[str, dict]:
    """``"hubert_base@8"`` -> ``("hubert_base", {"layer": 8})``; plain names have no options."""
    name, sep, layer = spec.strip().partition(LAYER_SEPARATOR)
    if name not in _FACTORIES:
        raise AccentError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)} "
                          "(plus 'mfcc' and 'accent:RUNDIR' for feature-store embeddings)")
    if not sep:
        return name, {}
    if name not in _LAYERED:
        raise AccentError(f"backbone {spec!r}: {name} has no selectable layer; use plain {name!r}")
    if not layer.isdigit():
        raise AccentError(f"backbone {spec!r}: the part after {LAYER_SEPARATOR!r} must be a layer number, e.g. {name}@6")
    return name, {"layer": int(layer)}


def get_backbone(spec: str, **options) -> Backbone:
    """The backbone named ``spec`` with its weights loaded; loaded once per process and reused.

    ``options`` go to the adapter's constructor (``random_init=True`` for tests); with options the
    instance is built fresh and not cached. Raises AccentError when weights are unavailable.
    """
    name, parsed = parse_name(spec)
    if not options and spec in _loaded:
        return _loaded[spec]
    module_name, class_name, fixed = _FACTORIES[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    backbone = cls(**fixed, **parsed, **options)
    if not options:
        _loaded[spec] = backbone
    return backbone


__all__ = ["BACKBONES", "Backbone", "get_backbone", "parse_name"]
