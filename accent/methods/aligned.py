"""``aligned``: the passage-aligned recipe (:mod:`accent.aligned`) for same-passage corpora (SAA).

Each recording is aligned to reference readings of the passage, NAP, per-reference logistic
regression. References and NAP come from the target's training rows, or with ``--source`` from the
source run's ``aligned_source.npz`` (written by ``accent pretrain`` on a same-passage store). The
fitted model is saved as ``aligned_model.npz`` (plain arrays) in place of checkpoint.pt. In the
learning curve it runs as two series: ``aligned`` (no source) and ``aligned-source``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from accent.aligned import (PASSAGE_MATCH_THRESHOLD, AlignedConfig, AlignedModel, load_source, model_from_arrays, read_model_arrays,
                            recording_sequence, save_model, store_sequences)
from accent.backbones.names import ACCENT
from accent.errors import AccentError
from accent.features import FeatureConfig, check_feature_config
from accent.layout import ALIGNED_MODEL, ALIGNED_SOURCE, RUN_FORMAT
from accent.manifest import same_passage
from accent.methods.base import OWN_SOURCE, SOURCE, SOURCE_FREE, Method
from accent.methods.fitted import Fitted
from accent.methods.registry import register

WITH_SOURCE, NO_SOURCE = "source", "none"   # the two curve "backbones" of the aligned method


class AlignedFitted(Fitted):
    """A fitted :class:`accent.aligned.AlignedModel`; ``ckpt`` is its arrays as a checkpoint dict
    (what ``accent export`` packs), when read from a file."""

    match_threshold = PASSAGE_MATCH_THRESHOLD

    def __init__(self, model: AlignedModel, feature_config, rundir: Path | None = None, ckpt: dict | None = None,
                 prompt: str | None = None):
        super().__init__([str(c) for c in model.classes_], feature_config, rundir)
        self.aligned, self.ckpt, self.prompt = model, ckpt, prompt

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        seqs = store_sequences(store, rows, self.aligned.config)
        return self.aligned.predict_proba(seqs, progress) if len(seqs) else np.zeros((0, len(self.labels)))

    def predict_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray:
        seqs = self._sequences(logmels)
        return self.aligned.predict_proba(seqs) if seqs else np.zeros((0, len(self.labels)))

    def match(self, store, rows: np.ndarray) -> np.ndarray:
        return self.score(store, rows)[1]

    def match_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray:
        return self.score_logmels(logmels)[1]

    def score(self, store, rows: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return self.aligned.predict_with_match(store_sequences(store, rows, self.aligned.config), progress)

    def score_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each clip aligned once for both its probabilities and its passage_match."""
        return self.aligned.predict_with_match(self._sequences(logmels))

    def _sequences(self, logmels: list[np.ndarray]) -> list[np.ndarray]:
        hop_ms = self.feature_config.hop_ms
        return [recording_sequence(np.asarray(x, np.float32), hop_ms, self.aligned.config) for x in logmels]

    def save(self, rundir: Path) -> None:
        save_model(rundir / ALIGNED_MODEL, self.aligned, self.feature_config, self.prompt)


@register
class Aligned(Method):
    name = "aligned"
    source = OWN_SOURCE
    needs_passage = True
    model_file = ALIGNED_MODEL
    source_file = ALIGNED_SOURCE

    def prepare(self, store, features, source) -> None:
        if not same_passage(store.index):
            warnings.warn(f"{features} is not a same-passage corpus (its recordings read different texts): the "
                          "aligned recipe compares readings of one passage and is weaker than the MFCC baseline "
                          "here; if every recording does read one passage, mark it with `accent manifest --passage`",
                          stacklevel=3)
        self.aligned_source = None if source is None else load_aligned_source(source, store, features)
        if source is not None:
            self.source_path = source

    def fit(self, view, split) -> AlignedFitted:
        """Sequences of the training rows, the aligned model fitted on them (references and NAP from
        the source's ``aligned_source.npz`` when given)."""
        featurizer, naps = self.aligned_source if self.aligned_source is not None else (None, None)
        cfg = featurizer.config if featurizer is not None else AlignedConfig()
        model = AlignedModel(cfg, featurizer, naps, self.seed).fit(
            store_sequences(view, split.train, cfg), view.index["label"].iloc[split.train].to_numpy(),
            progress=self.progress)
        return AlignedFitted(model, view.config, prompt=passage_text(view.index.iloc[split.train]))

    def record_fields(self, fitted: AlignedFitted, seconds: float) -> dict:
        return {"classifier": self.name, **super().record_fields(fitted, seconds),
                "recipe": {"aligned": fitted.aligned.config.to_dict()}}

    @classmethod
    def read_model_file(cls, path: Path) -> dict:
        """An aligned run's model file as the checkpoint dict a run loads: plain arrays under
        ``"aligned"`` (so ``accent export`` packs them like any checkpoint's tensors), no pickle."""
        meta, arrays = read_model_arrays(path)
        if not meta.get("feature_config"):
            raise AccentError(f"{path} records no feature config: train the aligned run again")
        return {"format": RUN_FORMAT, "mode": cls.name, "labels": list(meta["labels"]),
                "feature_config": meta["feature_config"],
                "aligned": {"meta": meta, "arrays": {k: v for k, v in arrays.items() if k != "classes"}}}

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path) -> AlignedFitted:
        model = model_from_arrays(ckpt["aligned"]["meta"], ckpt["aligned"]["arrays"])
        meta = ckpt["aligned"]["meta"]
        return AlignedFitted(model, FeatureConfig.from_dict(ckpt["feature_config"]), rundir, ckpt, meta.get("prompt"))

    @classmethod
    def curve_backbones(cls, backbones: list[str], own_source: bool) -> list[str]:
        """Without the source, and with it when the source run has ``aligned_source.npz``."""
        return [NO_SOURCE] + ([WITH_SOURCE] if own_source else [])

    @classmethod
    def series_name(cls, backbone: str) -> str:
        return f"{cls.name}-{WITH_SOURCE}" if backbone == WITH_SOURCE else cls.name

    @classmethod
    def curve_options(cls, source, backbone: str) -> tuple:
        return (source if backbone == WITH_SOURCE else None), ACCENT

    @classmethod
    def series_group(cls, series: str) -> str:
        return SOURCE if series == cls.series_name(WITH_SOURCE) else SOURCE_FREE


def passage_text(index) -> str | None:
    """The most common non-empty ``text`` of an index's rows (the passage they read), or None."""
    if "text" not in index:
        return None
    text = index["text"].fillna("").astype(str).str.strip()
    top = text[text != ""].value_counts()
    return str(top.index[0]) if len(top) else None


def load_aligned_source(source, store, features) -> tuple:
    """(featurizer, naps) of ``--source``: a pretrained run's ``aligned_source.npz`` or that file itself."""
    path = Path(source)
    path = path / ALIGNED_SOURCE if path.is_dir() else path
    if not path.is_file():
        raise AccentError(f"{path} not found: --mode aligned --source needs a run pretrained on a same-passage corpus "
                          "(accent pretrain writes aligned_source.npz there); or leave out --source to take the "
                          "references and NAP from the target's training rows")
    featurizer, naps, meta = load_source(path)
    if meta.get("feature_config"):
        check_feature_config(FeatureConfig.from_dict(meta["feature_config"]), store.config, features)
    return featurizer, naps
