"""``extract``: the frozen network (``--backbone``) embeds each recording (mean over crops); the
embeddings are standardised and given to a scikit-learn classifier (logistic regression by default).

The backbone is ``accent`` (the ``--source`` run), a registered pretrained speech backbone, ``mfcc``,
or a fusion such as ``mfcc+resemblyzer`` (the parts' vectors side by side, standardised together).
A clip the backbone cannot embed is left out of every split with a warning.
"""
from __future__ import annotations

from pathlib import Path

from accent.backbones.names import ACCENT, MFCC, fusion_parts
from accent.methods.base import BACKBONE_SOURCE, LITERATURE, SOURCE, SOURCE_FREE, Method, networks
from accent.methods.registry import register


@register
class Extract(Method):
    name = "extract"
    source = BACKBONE_SOURCE
    uses_backbone = True

    def run(self, view, split, out: Path, info: dict) -> dict:
        X, split, extra = networks().extract_vectors(self, view, split)
        return networks().classifier_run(self, X, view, split, out, info, extra)

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path):
        backbone = ckpt.get("backbone") or run_json.get("backbone") or ACCENT
        return networks().ClassifierFitted(ckpt, run_json, rundir, spec=backbone, reads_audio=backbone != ACCENT)

    @classmethod
    def series_group(cls, series: str) -> str:
        return backbone_group(series[len(cls.name) + 1:] if series != cls.name else ACCENT)


def backbone_group(backbone: str) -> str:
    """Our network (pretrained on the source) in the backbone: ``source``; MFCC only: ``source-free``;
    else a backbone pretrained elsewhere: ``literature``."""
    parts = set(fusion_parts(backbone))
    if ACCENT in parts:
        return SOURCE
    return SOURCE_FREE if parts == {MFCC} else LITERATURE
