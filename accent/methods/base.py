"""What every transfer method is: its declared needs, how it trains, how its run predicts.

A :class:`Method` is built with the options of ``accent transfer`` and trains on one split of a
store view: ``fit(view, split)`` returns a :class:`Fitted` model, whose ``predict_proba(store, rows)``
scores store rows and ``save(rundir)`` writes it. :meth:`Method.run` does both and records the run
directory (aligned, and a new method, use it). The built-in methods that need the run directory
while they train override :meth:`Method.run` instead: the training loop writes its resume points
there, and a scikit-learn classifier may keep a joblib file there (baseline, extract). ``Method.load`` reads a run's checkpoint back
as a :class:`Fitted` (``accent predict``, ``evaluate``, ``export``, ``serve``).

The class attributes say what a method needs, so that the stages ask them instead of comparing mode
names: a source run, a backbone, a same-passage store; and how the learning curve names and groups
its series. This module is torch-free: the command line, the curve and the report read these
declarations without loading a network.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from accent.backbones.names import ACCENT, fusion_parts
from accent.errors import AccentError
from accent.manifest import same_passage
from accent.methods.fitted import Fitted

# what a method does with --source
NO_SOURCE = "none"          # nothing (baseline)
OPTIONAL_SOURCE = "optional"  # the source network's architecture when given (scratch)
BACKBONE_SOURCE = "backbone"  # the source network when the backbone is ours (extract, finetune)
OWN_SOURCE = "own"          # a file of its own beside the source run (source_file: aligned_source.npz, ...)

# what a learning-curve series is, for the report's two questions (:mod:`accent.report.answer`)
SOURCE, LITERATURE, SOURCE_FREE = "source", "literature", "source-free"


def networks():
    """:mod:`accent.methods.networks`, the torch side of the methods, imported on first use."""
    from accent.methods import networks as module  # torch: kept out of start-up (cli, curve, report list methods)

    return module


class Method:
    """One transfer method (``accent transfer --mode NAME``), built with the transfer options."""

    name: ClassVar[str]
    transfer: ClassVar[bool] = True        # one of `accent transfer --mode`; False: pretrain runs only load
    source: ClassVar[str] = NO_SOURCE      # what it does with --source (above)
    uses_backbone: ClassVar[bool] = False  # --backbone picks its network
    needs_passage: ClassVar[bool] = False  # only meaningful on a same-passage store (one text read by all)
    needs_text: ClassVar[bool] = False     # reads the transcript of each recording
    trains_network: ClassVar[bool] = False  # trains a network epoch by epoch (the curve starts these first)
    model_file: ClassVar[str | None] = None  # its own model file in place of checkpoint.pt (read_model_file)
    source_file: ClassVar[str | None] = None  # OWN_SOURCE: the file it reads beside the source run

    def __init__(self, *, backbone: str = ACCENT, classifier: str = "logreg", seed: int = 0,
                 preset: str | None = None, max_epochs: int | None = None, device: str | None = None,
                 progress: bool = True, resume: bool = False, recipe: dict | None = None, executor=None):
        self.backbone, self.classifier, self.seed = backbone, classifier, seed
        self.preset, self.max_epochs, self.device = preset, max_epochs, device
        self.progress, self.resume, self.recipe = progress, resume, recipe
        self.executor = executor  # runs a method's store-wide work in shards (aligned: the alignments), or None
        self.source_run = None   # the loaded --source run (inference.Run), when the method reads one
        self.source_path = None  # what --source named, when the method used it

    # -- what it needs ------------------------------------------------------------------------
    @classmethod
    def spell(cls, source, backbone: str) -> tuple:
        """(source, backbone) as the method reads them (finetune: ``accent:RUNDIR`` is the source)."""
        return source, backbone

    def reads_source_run(self) -> bool:
        """Whether a given --source is loaded as a network run."""
        return self.source == OPTIONAL_SOURCE or self.needs_source_run()

    def needs_source_run(self) -> bool:
        return self.source == BACKBONE_SOURCE and ACCENT in fusion_parts(self.backbone)

    def prepare(self, store, features, source) -> None:
        """Checks and loads that need the whole store before any split (aligned: its source file)."""

    def run_fields(self) -> dict:
        """run.json fields that name what was used beyond the mode."""
        return {"backbone": self.backbone if self.uses_backbone else None,
                "source": str(self.source_path) if self.source_path is not None else None}

    # -- training -------------------------------------------------------------------------------
    def fit(self, view, split) -> Fitted:
        """Train on ``split.train`` of ``view``; methods that override :meth:`run` need not define it."""
        raise NotImplementedError(f"{self.name} trains through run()")

    def record_fields(self, fitted: Fitted, seconds: float) -> dict:
        """run.json fields of an in-memory fit, in order, with a ``"metrics"`` slot."""
        return {"best_epoch": None, "epochs_run": None, "history": [], "metrics": None, "train_seconds": seconds}

    def run(self, view, split, out: Path, info: dict) -> dict:
        """Fit, score val and test, write the run directory; returns run.json."""
        t0 = time.perf_counter()
        fitted = self.fit(view, split)
        if list(fitted.labels) != list(split.labels):
            raise AccentError(f"{self.name} classes {list(fitted.labels)} differ from the training labels {split.labels}")
        rows = np.concatenate([split.val, split.test])
        probs = fitted.predict_proba(view, rows, self.progress)
        return networks().record_run(out, mode=self.name, labels=split.labels, index=view.index, rows=rows, probs=probs,
                          train_rows=split.train, info=info, fields=self.record_fields(fitted, round(time.perf_counter() - t0, 2)),
                          ckpt=fitted)

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def read_model_file(cls, path: Path) -> dict:
        """The checkpoint dict of :attr:`model_file` (methods that have one)."""
        raise NotImplementedError

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path) -> Fitted:
        """The fitted model of a run's checkpoint dict."""
        raise NotImplementedError

    # -- the learning curve ---------------------------------------------------------------------
    @classmethod
    def default_on(cls, index) -> bool:
        """Whether ``accent curve`` runs it by default on a target store with this index (aligned:
        only a same-passage store)."""
        return not cls.needs_passage or same_passage(index)

    @classmethod
    def warm_cache(cls, store, features, source, executor=None, progress: bool = False) -> None:
        """Store-wide work that every curve point of this method with ``source`` would repeat, done
        once before they start (aligned with a source: the alignments to its references; phonetic:
        its measurements of every clip)."""

    @classmethod
    def curve_backbones(cls, backbones: list[str], own_source: bool) -> list[str]:
        """The "backbones" a curve runs this method with (one series each)."""
        return list(backbones) if cls.uses_backbone else [ACCENT]

    @classmethod
    def series_name(cls, backbone: str) -> str:
        """``finetune``, or ``extract-resemblyzer`` for another backbone than ours."""
        return f"{cls.name}-{backbone}" if cls.uses_backbone and backbone != ACCENT else cls.name

    @classmethod
    def curve_options(cls, source, backbone: str) -> tuple:
        """(source, backbone) for ``run_transfer`` of one curve point."""
        return source, backbone

    @classmethod
    def series_group(cls, series: str) -> str:
        """``source`` (uses the pretrained source), ``literature`` (a backbone pretrained elsewhere) or
        ``source-free``."""
        return SOURCE_FREE


class OwnSourceMethod(Method):
    """A method whose source is a file of its own beside the source run (``aligned_source.npz``,
    ``phonetic_source.npz``): the curve runs it twice, without the source (series ``NAME``) and with it
    when the source run has that file (series ``NAME-source``, which answers the source question)."""

    source = OWN_SOURCE
    WITH_SOURCE, NO_SOURCE = "source", "none"   # its two curve "backbones"

    @classmethod
    def curve_backbones(cls, backbones: list[str], own_source: bool) -> list[str]:
        return [cls.NO_SOURCE] + ([cls.WITH_SOURCE] if own_source else [])

    @classmethod
    def series_name(cls, backbone: str) -> str:
        return f"{cls.name}-{cls.WITH_SOURCE}" if backbone == cls.WITH_SOURCE else cls.name

    @classmethod
    def curve_options(cls, source, backbone: str) -> tuple:
        return (source if backbone == cls.WITH_SOURCE else None), ACCENT

    @classmethod
    def series_group(cls, series: str) -> str:
        return SOURCE if series == cls.series_name(cls.WITH_SOURCE) else SOURCE_FREE
