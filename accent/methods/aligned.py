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

from accent.aligned import (PASSAGE_MATCH_THRESHOLD, AlignedConfig, AlignedModel, PassageFeaturizer, load_source,
                            model_from_arrays, read_model_arrays, recording_sequence, save_model, store_features,
                            store_sequences)
from accent.errors import AccentError
from accent.features import FeatureConfig, check_feature_config
from accent.layout import ALIGNED_MODEL, ALIGNED_SOURCE, RUN_FORMAT
from accent.manifest import same_passage
from accent.methods.base import OwnSourceMethod
from accent.methods.fitted import Fitted
from accent.methods.registry import register



class AlignedFitted(Fitted):
    """A fitted :class:`accent.aligned.AlignedModel`; ``ckpt`` is its arrays as a checkpoint dict
    (what ``accent export`` packs), when read from a file."""

    match_threshold = PASSAGE_MATCH_THRESHOLD

    def __init__(self, model: AlignedModel, feature_config, rundir: Path | None = None, ckpt: dict | None = None,
                 prompt: str | None = None, fitted_on: tuple | None = None):
        super().__init__([str(c) for c in model.classes_], feature_config, rundir)
        self.aligned, self.ckpt, self.prompt = model, ckpt, prompt
        self.fitted_on = fitted_on   # (store, features, match statistics) of every row of the store it was fit on

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        if self.fitted_on is not None and store is self.fitted_on[0]:
            return self.score(store, rows)[0]
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
        """The store it was fit on: from the features computed then (the engine's cache); another
        store: each row aligned here (nothing written beside that store)."""
        if self.fitted_on is not None and store is self.fitted_on[0]:
            _, blocks, stats = self.fitted_on
            return self.aligned.predict_features([X[rows] for X in blocks], stats[rows])
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
class Aligned(OwnSourceMethod):
    name = "aligned"
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
        """The aligned model fitted on the training rows (references and NAP from the source's
        ``aligned_source.npz`` when given, else from the training rows). Every row of the store is
        aligned to the references once, through the engine's cache (:func:`accent.aligned.store_features`,
        sharded on :attr:`executor`): folds and curve points with the same references only read it,
        and the run scores its val and test rows from the same features."""
        featurizer, naps = self.aligned_source if self.aligned_source is not None else (None, None)
        cfg = featurizer.config if featurizer is not None else AlignedConfig()
        y = view.index["label"].to_numpy()
        seqs = store_sequences(view, cfg=cfg)
        if featurizer is None:
            featurizer = PassageFeaturizer(cfg).fit([seqs[i] for i in split.train], y[split.train])
        blocks, stats = store_features(view, featurizer, seqs, executor=self.executor, progress=self.progress)
        model = AlignedModel(cfg, featurizer, naps, self.seed).fit_features(
            [X[split.train] for X in blocks], y[split.train], stats[split.train])
        return AlignedFitted(model, view.config, prompt=passage_text(view.index.iloc[split.train]),
                             fitted_on=(view, blocks, stats))

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
    def warm_cache(cls, store, features, source, executor=None, progress: bool = False) -> None:
        """With a source, every point aligns the store to the same references: align it once here.
        (Without, each point's references come from its own training rows.)"""
        if source is not None:
            featurizer, _ = load_aligned_source(source, store, features)
            store_features(store, featurizer, executor=executor, progress=progress)


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
