"""``phonetic``: the phone-space recipe (:mod:`accent.phonetic`) for clips that come with their transcript.

Each clip is aligned to an espeak-ng rendering of its own text, vowel formants are measured per phone
class, and a balanced logistic regression reads them. The measurements of every store row are
computed once and cached beside the store (``FEATDIR/phonetic/``), so folds and curve points reuse
them. With ``--source`` the source run's ``phonetic_source.npz`` (``accent pretrain`` on a store with
text writes it) is a classifier over the same measurements whose log-probabilities join the target's
features. The fitted model is saved as ``phonetic_model.npz`` (plain arrays) in place of
checkpoint.pt. It needs each clip's text to predict, and says whether the clip reads that text
(``passage_match``, calibrated on the training clips). In the learning curve it runs as two series:
``phonetic`` (no source) and ``phonetic-source``.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from accent.errors import AccentError
from accent.features import FeatureConfig, check_feature_config
from accent.layout import PHONETIC_MODEL, PHONETIC_SOURCE, RUN_FORMAT
from accent.methods.base import OwnSourceMethod
from accent.methods.fitted import Fitted
from accent.methods.registry import register
from accent.phonetic import PhoneticConfig, PhoneticModel, file_measurements, has_texts_and_audio, store_measurements

TEXT_HINT = "--text TEXT, a text column or the form's text field"


class PhoneticFitted(Fitted):
    """A fitted :class:`accent.phonetic.PhoneticModel`; ``ckpt`` is its arrays as a checkpoint dict
    (what ``accent export`` packs), when read from a file."""

    reads_audio = True   # formants are measured on the waveform, not the stored log-mels
    needs_text = True
    off_words = "does not read its text"

    def __init__(self, model: PhoneticModel, feature_config, rundir: Path | None = None, ckpt: dict | None = None):
        super().__init__([str(c) for c in model.classes_], feature_config, rundir)
        self.phonetic, self.ckpt = model, ckpt

    def _proba(self, X: np.ndarray) -> np.ndarray:
        out = np.full((len(X), len(self.labels)), np.nan)
        ok = np.isfinite(X).all(1)
        if ok.any():
            out[ok] = self.phonetic.predict_proba(X[ok])
        return out

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        return self.score(store, rows, progress)[0]

    def match(self, store, rows: np.ndarray) -> np.ndarray:
        return self.score(store, rows)[1]

    def score(self, store, rows: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        X, stats = store_measurements(store, self.phonetic.config, progress=progress)
        rows = np.asarray(rows, np.int64)
        return self._proba(X[rows]), self.phonetic.match(stats[rows])

    def refuse_logmels(self) -> None:
        raise AccentError(f"run {self.rundir} measures vowel formants on the audio, not on log-mels: score the "
                          "audio file with its text (predict_audio)")

    def predict_logmels(self, logmels, texts=None) -> np.ndarray:
        self.refuse_logmels()

    def match_logmels(self, logmels, texts=None):
        self.refuse_logmels()

    def predict_audio(self, path, text: str | None = None) -> np.ndarray:
        return self.score_audio(path, text)[0]

    def match_audio(self, path, text: str | None = None) -> float:
        return self.score_audio(path, text)[1]

    def score_audio(self, path, text: str | None = None) -> tuple[np.ndarray, float]:
        self.require_texts([text], [str(path)], TEXT_HINT)
        vector, stats = file_measurements(path, text, self.phonetic.config, self.feature_config)
        return self.phonetic.predict_proba(vector[None])[0], float(self.phonetic.match(stats)[0])

    def save(self, rundir: Path) -> None:
        self.phonetic.save(rundir / PHONETIC_MODEL, {"feature_config": self.feature_config.to_dict()})


@register
class Phonetic(OwnSourceMethod):
    name = "phonetic"
    needs_text = True
    model_file = PHONETIC_MODEL
    source_file = PHONETIC_SOURCE

    @classmethod
    def default_on(cls, index) -> bool:
        """A target whose clips have their text, with the audio at hand (formants are measured on it)."""
        return has_texts_and_audio(index)

    def prepare(self, store, features, source) -> None:
        """Load the source's classifier when given; measure every row once (cached)."""
        self.prior = None if source is None else load_phonetic_source(source, store, features)
        if source is not None:
            self.source_path = source
        self.config = self.prior.config if self.prior is not None else PhoneticConfig()
        store_measurements(store, self.config, progress=self.progress)

    @classmethod
    def warm_cache(cls, store, features, source, executor=None, progress: bool = False) -> None:
        """The measurements of every row (with the source's recipe when given), which every point reads."""
        cfg = load_phonetic_source(source, store, features).config if source is not None else PhoneticConfig()
        store_measurements(store, cfg, executor=executor, progress=progress)

    def fit(self, view, split) -> PhoneticFitted:
        """The phonetic model on the training rows that have measurements (with the source's prior when given)."""
        X, stats = store_measurements(view, self.config)
        rows = np.asarray(split.train, np.int64)
        ok = np.isfinite(X[rows]).all(1)
        if not ok.all():
            warnings.warn(f"phonetic: {int((~ok).sum())} of {len(rows)} training clips have no measurements and are "
                          "left out", stacklevel=2)
        rows = rows[ok]
        y = view.index["label"].iloc[rows].to_numpy()
        model = PhoneticModel(self.config, self.seed, prior=self.prior).fit(X[rows], y, stats[rows])
        return PhoneticFitted(model, view.config)

    def record_fields(self, fitted: PhoneticFitted, seconds: float) -> dict:
        return {"classifier": self.name, **super().record_fields(fitted, seconds),
                "recipe": {"phonetic": fitted.phonetic.config.to_dict()}}

    @classmethod
    def read_model_file(cls, path: Path) -> dict:
        """A phonetic run's model file as the checkpoint dict a run loads: plain arrays under
        ``"phonetic"`` (so ``accent export`` packs them like any checkpoint's tensors), no pickle."""
        meta, arrays = PhoneticModel.read(path)
        if not meta.get("feature_config"):
            raise AccentError(f"{path} records no feature config: train the phonetic run again")
        return {"format": RUN_FORMAT, "mode": cls.name, "labels": list(meta["classes"]),
                "feature_config": meta["feature_config"], "phonetic": {"meta": meta, "arrays": arrays}}

    @classmethod
    def load(cls, ckpt: dict, run_json: dict, rundir: Path) -> PhoneticFitted:
        arrays = {k: np.asarray(v) for k, v in ckpt["phonetic"]["arrays"].items()}
        model = PhoneticModel.from_arrays(ckpt["phonetic"]["meta"], arrays)
        return PhoneticFitted(model, FeatureConfig.from_dict(ckpt["feature_config"]), rundir, ckpt)


def load_phonetic_source(source, store, features) -> PhoneticModel:
    """The source's phonetic classifier: a pretrained run's ``phonetic_source.npz`` or that file itself."""
    path = Path(source)
    path = path / PHONETIC_SOURCE if path.is_dir() else path
    if not path.is_file():
        raise AccentError(f"{path} not found: --mode phonetic --source needs a run pretrained on a store with text "
                          "(accent pretrain writes phonetic_source.npz there); or leave out --source")
    meta, arrays = PhoneticModel.read(path)
    if meta.get("feature_config"):
        check_feature_config(FeatureConfig.from_dict(meta["feature_config"]), store.config, features)
    return PhoneticModel.from_arrays(meta, arrays)
