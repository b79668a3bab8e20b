"""``finetune``: the pretrained network with a new head (a linear probe on its frozen embeddings), the
head alone first (``freeze_epochs``), then the whole network with a lower learning rate for the
body; early stopping on validation like pretraining.

The network is the ``--source`` run's (``--backbone accent``, or ``accent:RUNDIR``), or a registered
pretrained speech backbone fine-tuned on waveform crops (the ``waveform_finetune`` recipe); a source
run of ``accent pretrain --init BACKBONE`` brings its fine-tuned speech backbone.
"""
from __future__ import annotations

from pathlib import Path

from accent.backbones.names import ACCENT, ACCENT_PREFIX, can_finetune
from accent.errors import AccentError
from accent.methods.base import BACKBONE_SOURCE, Method, networks
from accent.methods.extract import backbone_group
from accent.methods.registry import register


@register
class Finetune(Method):
    name = "finetune"
    source = BACKBONE_SOURCE
    uses_backbone = True
    trains_network = True

    @classmethod
    def spell(cls, source, backbone: str) -> tuple:
        """``--backbone accent:RUNDIR`` is our network spelled with its run: the source."""
        if backbone.startswith(ACCENT_PREFIX):
            if source is not None and str(source) != backbone[len(ACCENT_PREFIX):]:
                raise AccentError(f"--backbone {backbone} and --source {source} name two networks: give one")
            return backbone[len(ACCENT_PREFIX):], ACCENT
        return source, backbone

    def run(self, view, split, out: Path, info: dict) -> dict:
        nets = networks()
        if self.backbone != ACCENT:
            return nets.finetune_pretrained(self, view, split, out, info, self.backbone)
        if (init := nets.source_waveform_backbone(self.source_run)) is not None:  # `pretrain --init BACKBONE`
            return nets.finetune_pretrained(self, view, split, out, info, init, source=self.source_run)
        crop_s = nets.source_crop_s(self, view)
        nets.seed_torch(self.seed)
        model = nets.finetune_source_model(self, view, split)
        resolved, cfg = nets.network_recipe(self.name, self.recipe, self.seed, self.device, self.max_epochs, crop_s)
        return nets.train_logmel(self, model, view, split, out, info, resolved, cfg)

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path):
        return networks().NetworkFitted(ckpt, run_json, rundir, uses_backbone=True)

    @classmethod
    def curve_backbones(cls, backbones: list[str], own_source: bool) -> list[str]:
        """Only backbones with one network to update (not ``mfcc``, not fusions)."""
        return [b for b in backbones if can_finetune(b)]

    @classmethod
    def series_group(cls, series: str) -> str:
        return backbone_group(series[len(cls.name) + 1:] if series != cls.name else ACCENT)
