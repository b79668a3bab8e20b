"""``baseline``: MFCC statistics of the stored log-mels, standardised, logistic regression (``--classifier``)."""
from __future__ import annotations

from pathlib import Path

from accent.backbones.names import MFCC
from accent.methods.base import Method, networks
from accent.methods.registry import register


@register
class Baseline(Method):
    name = "baseline"

    def run(self, view, split, out: Path, info: dict) -> dict:
        return networks().classifier_run(self, networks().mfcc_vectors(view), view, split, out, info, {})

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path):
        return networks().ClassifierFitted(ckpt, run_json, rundir, spec=MFCC, reads_audio=False)
