"""How a backbone is spelled (``--backbone``): our network, MFCC statistics, a registered backbone, a fusion.

Torch-free string rules, so the command line, the learning curve and the methods' declarations can
read a spelling without loading a network; :mod:`accent.embeddings` computes what a spelling names.
"""
from __future__ import annotations

MFCC = "mfcc"
ACCENT = "accent"
ACCENT_PREFIX = "accent:"
FUSION_SEPARATOR = "+"


def fusion_parts(name: str) -> list[str]:
    """``"mfcc+resemblyzer"`` -> ``["mfcc", "resemblyzer"]``; a single name, or ``accent:RUNDIR``
    (whose path may hold a ``+``), -> ``[name]``."""
    if FUSION_SEPARATOR in name and not name.startswith(ACCENT_PREFIX):
        return [part.strip() for part in name.split(FUSION_SEPARATOR) if part.strip()]
    return [name]


def can_finetune(name: str) -> bool:
    """Whether ``accent transfer --mode finetune`` takes this backbone: one network with weights to
    update (``accent`` or ``accent:RUNDIR``, our network, or a registered pretrained backbone), not
    ``mfcc`` and not a fusion."""
    parts = fusion_parts(name)
    return len(parts) == 1 and parts[0] != MFCC
