"""``pretrain`` runs (:mod:`accent.training.pretrain`): not a transfer method, but loaded like one."""
from __future__ import annotations

from pathlib import Path

from accent.methods.base import Method, networks
from accent.methods.registry import register


@register
class Pretrained(Method):
    name = "pretrain"
    transfer = False
    trains_network = True

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path):
        return networks().NetworkFitted(ckpt, run_json, rundir)
