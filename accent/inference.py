"""Load any run directory and predict with it: store rows (``accent evaluate``) or one file (``accent predict``).

A :class:`Run` holds what a run's checkpoint.pt holds: a network (log-mel or waveform), or a saved
scikit-learn classifier over embeddings (extract) or MFCC statistics (baseline), plus labels and
the feature definition; an aligned run holds its ``aligned_model.npz`` arrays (:mod:`accent.aligned`). Every mode predicts through the same functions that scored it in training
(:mod:`accent.models.outputs`, :mod:`accent.embeddings`, :mod:`accent.classifiers`).
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from accent.checkpoint import is_model_file, load_checkpoint, read_model_file
from accent.classifiers import classifier_proba
from accent.embeddings import ACCENT, MFCC, audio_embedding, embed_rows
from accent.errors import AccentError, AudioError
from accent.features import FeatureConfig, crop_frames, mfcc_statistics
from accent.layout import ALIGNED_MODEL, CHECKPOINT, RUN_FORMAT, RUN_JSON, Mode, require_run_json
from accent.metrics import softmax_rows
from accent.models import network_from_checkpoint
from accent.models.outputs import eval_crops, predict_logprobs, recording_outputs, waveform_logprobs
from accent.models.waveform import EVAL_CROP_S, WaveformClassifier, decode


class Run:
    """A trained run loaded for inference: the network (or scikit-learn arrays) plus its metadata."""

    def __init__(self, rundir: Path, ckpt: dict, run_json: dict):
        self.rundir = rundir
        self.ckpt = ckpt
        self.run_json = run_json
        self.mode = ckpt.get("mode", Mode.PRETRAIN.value)
        self.labels = list(ckpt["labels"])
        self.feature_config = FeatureConfig.from_dict(ckpt["feature_config"])
        self.aligned = None
        if self.mode == Mode.ALIGNED:
            from accent.aligned import model_from_arrays

            self.aligned = model_from_arrays(ckpt["aligned"]["meta"], ckpt["aligned"]["arrays"])
            self.sklearn, self.model, self.backbone = None, None, None
            return
        self.norm_mean = np.asarray(ckpt["norm_mean"], dtype=np.float32)
        self.norm_std = np.asarray(ckpt["norm_std"], dtype=np.float32)
        self.crop_frames = int(ckpt.get("crop_frames") or crop_frames(3.0, self.feature_config))
        self.sklearn = ckpt.get("sklearn")
        self.backbone = ckpt.get("backbone") or run_json.get("backbone") or ACCENT
        self.model = network_from_checkpoint(ckpt)

    @property
    def needs_audio(self) -> bool:
        """True when the run reads raw audio rather than log-mels: extract over a pretrained speech
        backbone or a fusion, or a fine-tuned pretrained backbone (also a source run of ``pretrain
        --init``, and extract over one)."""
        return self.mode in (Mode.EXTRACT, Mode.FINETUNE) and self.backbone != ACCENT or \
            isinstance(self.model, WaveformClassifier)

    def _backbone_for_preprocessing(self):
        from accent.backbones import get_backbone

        return get_backbone(self.backbone, random_init=True)  # preprocessing only: the weights are the run's

    def predict_audio(self, path) -> np.ndarray:
        """Probabilities over :attr:`labels` for one audio file, for runs that read raw audio
        (:attr:`needs_audio`); AudioError for an unusable file."""
        if self.mode == Mode.EXTRACT:
            X = audio_embedding(self.backbone, path, self.feature_config, source=self.rundir)
            return self.classify(X[None])[0]
        backbone = self._backbone_for_preprocessing()
        wave = decode(backbone, str(path))
        return softmax_rows(waveform_logprobs(self.model, [wave], int(EVAL_CROP_S * backbone.sample_rate)))[0]

    def _refuse_logmel(self) -> None:
        if self.needs_audio:
            raise AccentError(f"run {self.rundir} uses backbone {self.backbone!r}, which reads audio, not log-mels: "
                              "use predict_audio")

    def _crops(self, logmel: np.ndarray) -> list[np.ndarray]:
        logmel = np.asarray(logmel, dtype=np.float32)
        if logmel.ndim != 2 or logmel.shape[1] != self.feature_config.n_mels:
            raise AccentError(f"log-mel input has shape {logmel.shape}; expected (frames, {self.feature_config.n_mels})")
        return [eval_crops(logmel, self.crop_frames)]

    def classify(self, X: np.ndarray) -> np.ndarray:
        """Probabilities from the stored scikit-learn classifier (extract/baseline runs)."""
        return classifier_proba(self.sklearn, X, self.rundir)

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        if self.mode == Mode.FINETUNE:
            self._refuse_logmel()
        if self.model is None:
            raise AccentError(f"run {self.rundir} ({self.mode}) has no network to embed with")
        return predict_logprobs(self.model, self._crops(logmel), torch.device("cpu"), embed=True)[0]

    def aligned_proba(self, logmels: list[np.ndarray], progress: bool = False) -> np.ndarray:
        """Probabilities (n, labels) of an aligned run for several recordings' log-mels."""
        from accent.aligned import recording_sequence

        hop_ms = self.feature_config.hop_ms
        seqs = [recording_sequence(x, hop_ms, self.aligned.config) for x in logmels]
        return self.aligned.predict_proba(seqs, progress) if seqs else np.zeros((0, len(self.labels)))

    def predict_logmel(self, logmel: np.ndarray) -> np.ndarray:
        """Probabilities over :attr:`labels` for one recording's log-mels (frames, n_mels)."""
        if self.mode == Mode.ALIGNED:
            return self.aligned_proba([np.asarray(logmel, np.float32)])[0]
        self._refuse_logmel()
        if self.mode == Mode.BASELINE:
            return self.classify(mfcc_statistics(np.asarray(logmel, np.float32))[None])[0]
        if self.mode == Mode.EXTRACT:
            return self.classify(self.embed_logmel(logmel)[None])[0]
        logp = predict_logprobs(self.model, self._crops(logmel), torch.device("cpu"))
        return softmax_rows(logp)[0]


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
        if not (path / CHECKPOINT).is_file() and (path / RUN_JSON).is_file() and require_run_json(path).get("folds"):
            raise AccentError(kfold_message(path, require_run_json(path)))
        if (path / ALIGNED_MODEL).is_file() and not (path / CHECKPOINT).is_file():
            ckpt = aligned_checkpoint(path / ALIGNED_MODEL)
        else:
            ckpt = load_checkpoint(path / CHECKPOINT)
        run_json = require_run_json(path) if (path / RUN_JSON).is_file() else {}
        damaged, fix = f"checkpoint {path / CHECKPOINT}", "retrain it"
    try:
        return Run(path, ckpt, run_json)
    except (KeyError, RuntimeError, TypeError) as exc:
        raise AccentError(f"{damaged} does not match its model config "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}): {fix}") from None


def kfold_message(path: Path, run_json: dict) -> str:
    """Why a k-fold run directory cannot predict, and how to get a model that can."""
    return (f"{path} is a {run_json['folds']}-fold cross-validation run: k-fold runs keep no model of their own "
            f"(each fold's model saw part of the data); train one on all of it with the same command without "
            f"--folds: `accent transfer --features {run_json.get('features') or 'FEATDIR'} --mode {run_json.get('mode')} "
            f"--out RUNDIR`")


def aligned_checkpoint(path: Path) -> dict:
    """An aligned run's model file as the checkpoint dict :class:`Run` reads: plain arrays under
    ``"aligned"`` (so ``accent export`` packs them like any checkpoint's tensors), no pickle."""
    from accent.aligned import read_model_arrays

    meta, arrays = read_model_arrays(path)
    if not meta.get("feature_config"):
        raise AccentError(f"{path} records no feature config: train the aligned run again")
    return {"format": RUN_FORMAT, "mode": Mode.ALIGNED.value, "labels": list(meta["labels"]),
            "feature_config": meta["feature_config"],
            "aligned": {"meta": meta, "arrays": {k: v for k, v in arrays.items() if k != "classes"}}}


def predict_store_rows(run: Run, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
    """Recording-level probabilities over ``run.labels`` for store rows (any mode). A clip the run's
    backbone cannot use gets a NaN row (and a warning)."""
    if run.mode == Mode.ALIGNED:
        from accent.aligned import store_sequences

        seqs = store_sequences(store, rows, run.aligned.config)
        return run.aligned.predict_proba(seqs, progress) if len(seqs) else np.zeros((0, len(run.labels)))
    if run.mode == Mode.BASELINE:
        return run.classify(embed_rows(MFCC, store, rows))
    if run.mode == Mode.EXTRACT:
        X = embed_rows(run.backbone, store, rows, source=run.rundir, progress=progress)
        probs = np.full((len(rows), len(run.labels)), np.nan)
        ok = np.isfinite(X).all(axis=1)  # clips the backbone could not embed stay NaN
        if ok.any():
            probs[ok] = run.classify(X[ok])
        return probs
    if run.needs_audio:
        return _waveform_store_probabilities(run, store, rows, progress)
    return softmax_rows(recording_outputs(run.model, store, rows, run.crop_frames, torch.device("cpu")))


def _waveform_store_probabilities(run: Run, store, rows: np.ndarray, progress: bool) -> np.ndarray:
    """A fine-tuned waveform backbone: each clip decoded again from its path, one at a time."""
    from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

    backbone = run._backbone_for_preprocessing()
    eval_len = int(EVAL_CROP_S * backbone.sample_rate)
    probs = np.full((len(rows), len(run.labels)), np.nan)
    failed = []
    for k, path in enumerate(tqdm(store.index["path"].iloc[rows].tolist(), desc="predict", unit="clip",
                                  file=sys.stderr, disable=not progress, leave=False)):
        try:
            probs[k] = softmax_rows(waveform_logprobs(run.model, [decode(backbone, path)], eval_len))[0]
        except AudioError as exc:
            failed.append(f"{path}: {exc}")
    if failed:
        warnings.warn(f"{len(failed)} recording(s) could not be scored: {'; '.join(failed[:3])}", stacklevel=2)
    return probs
