"""``scratch``: the source's architecture (or the recipe's preset) trained from random weights on the
target with the ``scratch`` recipe: the baseline every transfer result is compared with."""
from __future__ import annotations

from pathlib import Path

from accent.methods.base import OPTIONAL_SOURCE, Method, networks
from accent.methods.registry import register


@register
class Scratch(Method):
    name = "scratch"
    source = OPTIONAL_SOURCE
    trains_network = True

    def run(self, view, split, out: Path, info: dict) -> dict:
        nets = networks()
        crop_s = nets.source_crop_s(self, view)
        nets.seed_torch(self.seed)
        resolved, cfg = nets.network_recipe(self.name, self.recipe, self.seed, self.device, self.max_epochs, crop_s)
        model = nets.scratch_model(self, view, split, resolved)
        return nets.train_logmel(self, model, view, split, out, info, resolved, cfg)

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path):
        return networks().NetworkFitted(ckpt, run_json, rundir)
