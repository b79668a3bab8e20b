"""Load any run directory and predict with it: store rows (``accent evaluate``) or one file (``accent predict``).

A :class:`Run` holds what a run's checkpoint holds (labels, the feature definition, the checkpoint
dict itself for ``accent export``) and the fitted model its method loads from it
(:meth:`accent.methods.base.Method.load`): every mode predicts through its method's
:class:`~accent.methods.base.Fitted`, the same functions that scored it in training.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from accent.checkpoint import is_model_file, load_checkpoint, read_model_file
from accent.errors import AccentError
from accent.layout import CHECKPOINT, RUN_JSON, require_run_json
from accent.methods import get_method, read_own_model


class Run:
    """A trained run loaded for inference: its method's fitted model plus the run's metadata."""

    def __init__(self, rundir: Path, ckpt: dict, run_json: dict):
        self.rundir = rundir
        self.ckpt = ckpt
        self.run_json = run_json
        self.method = get_method(ckpt.get("mode", "pretrain"))
        self.mode = self.method.name
        self.fitted = self.method.load(ckpt, run_json, rundir)
        self.labels = self.fitted.labels
        self.feature_config = self.fitted.feature_config

    @property
    def model(self):
        """The run's network (None for a classifier over MFCC or pretrained-backbone vectors, or aligned)."""
        return self.fitted.model

    @property
    def backbone(self) -> str | None:
        return self.fitted.backbone

    @property
    def crop_frames(self) -> int | None:
        return getattr(self.fitted, "crop_frames", None)

    @property
    def norm_mean(self):
        return getattr(self.fitted, "norm_mean", None)

    @property
    def norm_std(self):
        return getattr(self.fitted, "norm_std", None)

    @property
    def needs_audio(self) -> bool:
        """True when the run reads raw audio rather than log-mels: extract over a pretrained speech
        backbone or a fusion, or a fine-tuned pretrained backbone (also a source run of ``pretrain
        --init``, and extract over one)."""
        return self.fitted.reads_audio

    def predict_audio(self, path) -> np.ndarray:
        """Probabilities over :attr:`labels` for one audio file, for runs that read raw audio
        (:attr:`needs_audio`); AudioError for an unusable file."""
        return self.fitted.predict_audio(path)

    def predict_logmels(self, logmels: list[np.ndarray]) -> np.ndarray:
        """Probabilities (n, labels) for several recordings' log-mels at once (crops share forward passes)."""
        return self.fitted.predict_logmels([np.asarray(x, np.float32) for x in logmels])

    def predict_logmel(self, logmel: np.ndarray) -> np.ndarray:
        """Probabilities over :attr:`labels` for one recording's log-mels (frames, n_mels)."""
        return self.predict_logmels([logmel])[0]

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        return self.fitted.embed_logmel(logmel)


def load_run(path: str | Path) -> Run:
    """Any run directory (every mode, every version of the ``accent-run/1`` format) or an exported
    model file (``accent export``), weights only."""
    path = Path(path)
    if is_model_file(path):
        ckpt, run_json = read_model_file(path)
        damaged, fix = f"model file {path}", "export it again"
    else:
        if path.is_file():
            raise AccentError(f"model file {path} is not a zip archive: it is damaged or not a .accent file; "
                              "export it again with `accent export`")
        if not path.is_dir():
            raise AccentError(f"run directory {path} not found: train one with `accent pretrain --out {path}` "
                              "(or give a .accent file from `accent export`)")
        if (path / RUN_JSON).is_file() and is_kfold_aggregate(require_run_json(path)):
            raise AccentError(kfold_message(path, require_run_json(path)))
        ckpt = read_own_model(path) or load_checkpoint(path / CHECKPOINT)
        run_json = require_run_json(path) if (path / RUN_JSON).is_file() else {}
        damaged, fix = f"checkpoint {path / CHECKPOINT}", "retrain it"
    try:
        return Run(path, ckpt, run_json)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise AccentError(f"{damaged} does not match its model config "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}): {fix}") from None


def is_kfold_aggregate(run_json: dict) -> bool:
    """A k-fold run's own directory (its folds, ``foldN/``, are ordinary runs with ``fold`` set)."""
    return bool(run_json.get("folds")) and run_json.get("fold") is None


def kfold_message(path: Path, run_json: dict) -> str:
    """Why a k-fold run directory cannot predict, and how to get a model that can."""
    return (f"{path} is a {run_json['folds']}-fold cross-validation run: k-fold runs keep no model of their own "
            f"(each fold's model saw part of the data); train one on all of it with the same command without "
            f"--folds: `accent transfer --features {run_json.get('features') or 'FEATDIR'} --mode {run_json.get('mode')} "
            f"--out RUNDIR`")


def predict_store_rows(run: Run, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
    """Recording-level probabilities over ``run.labels`` for store rows (any mode). A clip the run's
    backbone cannot use gets a NaN row (and a warning)."""
    return run.fitted.predict_proba(store, rows, progress)
