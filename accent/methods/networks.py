"""The torch side of the methods: trained networks and saved classifiers, fitted and loaded.

:class:`NetworkFitted` is any run with a network (pretrain, scratch, finetune; log-mel or waveform);
:class:`ClassifierFitted` a scikit-learn classifier over one vector per recording (baseline: MFCC
statistics, extract: a backbone's embedding). The method classes import this module on first use
(:func:`accent.methods.base.networks`), so that declaring and listing the methods stays torch-free.
Every path predicts through the same functions that scored the run in training
(:mod:`accent.models.outputs`, :mod:`accent.embeddings`, :mod:`accent.classifiers`).
"""
from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from accent.backbones import get_backbone
from accent.backbones.names import ACCENT, MFCC, can_finetune
from accent.checkpoint import save_atomic
from accent.classifiers import classifier_proba, fit_classifier
from accent.embeddings import audio_embedding, embed_rows
from accent.errors import AccentError, AudioError
from accent.features import FeatureConfig, crop_frames, mfcc_statistics
from accent.layout import CHECKPOINT
from accent.methods.fitted import Fitted
from accent.metrics import softmax_rows
from accent.models import DEFAULT_PRESET, build_model, model_config, network_from_checkpoint
from accent.models.outputs import eval_crops, predict_logprobs, recording_outputs, waveform_logprobs
from accent.models.waveform import EVAL_CROP_S, WaveformClassifier, decode, waveform_model_config
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.training import config
from accent.training.loop import train_and_record
from accent.training.rundir import classifier_checkpoint, classifier_fields, record_run
from accent.training.tasks import LogmelTask, WaveformTask, drop_unembedded, linear_probe

CPU = torch.device("cpu")


# ---------------------------------------------------------------------------------------- fitted
class _Checkpointed(Fitted):
    """A fitted model read from (or written as) checkpoint.pt: labels, features, normalisation, crops."""

    def __init__(self, ckpt: dict, run_json: dict, rundir: Path | None):
        super().__init__(ckpt["labels"], FeatureConfig.from_dict(ckpt["feature_config"]), rundir)
        self.ckpt = ckpt
        self.norm_mean = np.asarray(ckpt["norm_mean"], dtype=np.float32)
        self.norm_std = np.asarray(ckpt["norm_std"], dtype=np.float32)
        self.crop_frames = int(ckpt.get("crop_frames") or crop_frames(3.0, self.feature_config))
        self.backbone = ckpt.get("backbone") or run_json.get("backbone") or ACCENT
        self.model = network_from_checkpoint(ckpt)

    def _crops(self, logmel: np.ndarray) -> np.ndarray:
        logmel = np.asarray(logmel, dtype=np.float32)
        if logmel.ndim != 2 or logmel.shape[1] != self.feature_config.n_mels:
            raise AccentError(f"log-mel input has shape {logmel.shape}; expected (frames, {self.feature_config.n_mels})")
        return eval_crops(logmel, self.crop_frames)

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise AccentError(f"run {self.rundir} ({self.ckpt.get('mode')}) has no network to embed with")
        return predict_logprobs(self.model, [self._crops(logmel)], CPU, embed=True)[0]

    def save(self, rundir: Path) -> None:
        save_atomic(self.ckpt, rundir / CHECKPOINT)


class NetworkFitted(_Checkpointed):
    """A trained network: log-mel crops, or (a fine-tuned speech backbone) the waveform of each file."""

    def __init__(self, ckpt: dict, run_json: dict, rundir: Path | None, uses_backbone: bool = False):
        super().__init__(ckpt, run_json, rundir)
        self.reads_audio = (uses_backbone and self.backbone != ACCENT) or isinstance(self.model, WaveformClassifier)

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        self.refuse_logmels()
        return super().embed_logmel(logmel)

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        if self.reads_audio:
            return self._waveform_store_probabilities(store, rows, progress)
        return softmax_rows(recording_outputs(self.model, store, rows, self.crop_frames, CPU))

    def predict_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray:
        """The crops of all recordings share forward passes."""
        self.refuse_logmels()
        if not logmels:
            return np.zeros((0, len(self.labels)))
        return softmax_rows(predict_logprobs(self.model, [self._crops(x) for x in logmels], CPU))

    def _preprocessing(self):
        return get_backbone(self.backbone, random_init=True)  # preprocessing only: the weights are the run's

    def predict_audio(self, path, text: str | None = None) -> np.ndarray:
        backbone = self._preprocessing()
        wave = decode(backbone, str(path))
        return softmax_rows(waveform_logprobs(self.model, [wave], int(EVAL_CROP_S * backbone.sample_rate)))[0]

    def _waveform_store_probabilities(self, store, rows: np.ndarray, progress: bool) -> np.ndarray:
        """A fine-tuned waveform backbone: each clip decoded again from its path, one at a time."""
        backbone = self._preprocessing()
        eval_len = int(EVAL_CROP_S * backbone.sample_rate)
        probs = np.full((len(rows), len(self.labels)), np.nan)
        failed = []
        for k, path in enumerate(tqdm(store.index["path"].iloc[rows].tolist(), desc="predict", unit="clip",
                                      file=sys.stderr, disable=not progress, leave=False)):
            try:
                probs[k] = softmax_rows(waveform_logprobs(self.model, [decode(backbone, path)], eval_len))[0]
            except AudioError as exc:
                failed.append(f"{path}: {exc}")
        if failed:
            warnings.warn(f"{len(failed)} recording(s) could not be scored: {'; '.join(failed[:3])}", stacklevel=2)
        return probs


class ClassifierFitted(_Checkpointed):
    """A saved scikit-learn classifier over one vector per recording, computed as ``spec`` names
    (``mfcc``, a backbone, a fusion; :func:`accent.embeddings.embed_rows`). ``reads_audio``: the
    vectors come from the audio file, not from log-mels (also when our network is a fine-tuned
    waveform backbone, a source of ``pretrain --init``)."""

    def __init__(self, ckpt: dict, run_json: dict, rundir: Path | None, spec: str, reads_audio: bool):
        super().__init__(ckpt, run_json, rundir)
        self.spec = spec
        self.reads_audio = reads_audio or isinstance(self.model, WaveformClassifier)

    def classify(self, X: np.ndarray) -> np.ndarray:
        return classifier_proba(self.ckpt["sklearn"], X, self.rundir)

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        X = embed_rows(self.spec, store, rows, source=self.rundir, progress=progress)
        probs = np.full((len(rows), len(self.labels)), np.nan)
        ok = np.isfinite(X).all(axis=1)  # clips the backbone could not embed stay NaN
        if ok.any():
            probs[ok] = self.classify(X[ok])
        return probs

    def predict_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray:
        self.refuse_logmels()
        if not logmels:
            return np.zeros((0, len(self.labels)))
        if self.spec == MFCC:
            return self.classify(np.stack([mfcc_statistics(np.asarray(x, np.float32)) for x in logmels]))
        return self.classify(predict_logprobs(self.model, [self._crops(x) for x in logmels], CPU, embed=True))

    def predict_audio(self, path, text: str | None = None) -> np.ndarray:
        X = audio_embedding(self.spec, path, self.feature_config, source=self.rundir)
        return self.classify(X[None])[0]


# ---------------------------------------------------------------------------------------- training
def classifier_run(method, X: np.ndarray, view, data, out: Path, info: dict, extra_ckpt: dict) -> dict:
    """baseline and extract: a scikit-learn classifier on one vector per recording (rows of ``X``)."""
    t0 = time.perf_counter()
    train_labels = view.index["label"].iloc[data.train].tolist()
    arrays = fit_classifier(X[data.train], train_labels, method.classifier, method.seed, out)
    seconds = round(time.perf_counter() - t0, 2)
    if arrays["classes"] != data.labels:
        raise AccentError(f"classifier classes {arrays['classes']} differ from the training labels {data.labels}")
    rows = np.concatenate([data.val, data.test])
    probs = classifier_proba(arrays, X[rows], out)
    return record_run(out, mode=method.name, labels=data.labels, index=view.index, rows=rows, probs=probs,
                      train_rows=data.train, info=info, fields=classifier_fields(method.classifier, seconds),
                      ckpt=classifier_checkpoint(method.name, data.labels, view, arrays, method.classifier,
                                                 method.seed, extra_ckpt))


def mfcc_vectors(view) -> np.ndarray:
    return embed_rows(MFCC, view, np.arange(len(view.index)))


def extract_vectors(method, view, data) -> tuple[np.ndarray, object, dict]:
    """(vectors of every row, the split without clips the backbone could not embed, checkpoint extras)."""
    X = embed_rows(method.backbone, view, np.arange(len(view.index)), source=method.source_path,
                   progress=method.progress)
    data = drop_unembedded(X, view, data, method.backbone)
    extra = {"backbone": method.backbone}
    source_run = method.source_run
    if source_run is not None and method.needs_source_run():
        extra.update({"state_dict": source_run.model.state_dict(), "model_config": source_run.model.config,
                      "crop_frames": source_run.crop_frames,
                      "norm_mean": torch.as_tensor(getattr(source_run.model, "norm_mean", source_run.norm_mean)).clone(),
                      "norm_std": torch.as_tensor(getattr(source_run.model, "norm_std", source_run.norm_std)).clone()})
    return X, data, extra


def network_recipe(name: str, overlay: dict | None, seed: int, device: str | None, max_epochs: int | None,
                   crop_s: float | None) -> tuple[dict, config.TrainConfig]:
    """The resolved recipe and TrainConfig of a trained transfer mode. The crop length is the
    source's (``crop_s``) unless the user's recipe sets train.crop_s."""
    recipe = config.resolve(name, overlay)
    fixed = {"seed": seed, "device": device or "cpu"}
    if crop_s is not None and "crop_s" not in (overlay or {}).get("train", {}):
        fixed["crop_s"] = crop_s
    cfg = config.train_config(recipe, **fixed)
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    return recipe, cfg


def source_crop_s(method, view) -> float:
    source_run = method.source_run
    return 3.0 if source_run is None else source_run.crop_frames / view.config.frames_per_second


def scratch_model(method, view, data, resolved: dict):
    """The source's architecture when given (a log-mel network), else the recipe's preset, from random weights."""
    source_run = method.source_run
    if source_run is not None and source_run.model is not None and not isinstance(source_run.model, WaveformClassifier):
        mcfg = {**source_run.model.config, "n_classes": len(data.labels)}
    else:
        chosen, overrides = config.model_choice(resolved, method.preset)
        mcfg = model_config(chosen or DEFAULT_PRESET, view.n_mels, len(data.labels), overrides)
    model = build_model(mcfg)
    model.set_normalization(view.mean, view.std)
    return model


def finetune_source_model(method, view, data):
    """The source network with a new head, set by a linear probe on its frozen embeddings."""
    source_run = method.source_run
    model = copy.deepcopy(source_run.model)
    model.replace_head(len(data.labels))
    X = recording_outputs(model, view, data.train, source_run.crop_frames, CPU, embed=True)
    linear_probe(model, X, view.index["label"].iloc[data.train].to_numpy(), method.seed)
    return model


def train_logmel(method, model, view, data, out: Path, info: dict, resolved: dict, cfg) -> dict:
    task = LogmelTask(view, data, cfg.crop_s)
    return train_and_record(model, task, cfg, out, mode=method.name, info=info, resume=method.resume,
                            progress=method.progress, recipe=config.as_record(resolved, cfg))


def seed_torch(seed: int) -> None:
    torch.manual_seed(seed)


def source_waveform_backbone(source_run) -> str | None:
    """The backbone a source run fine-tuned (``accent pretrain --init BACKBONE``), else None."""
    if source_run is not None and isinstance(source_run.model, WaveformClassifier):
        return source_run.model.config["backbone"]
    return None


def finetune_pretrained(method, view, data, out: Path, info: dict, backbone_name: str, source=None) -> dict:
    """finetune with a registered pretrained backbone, or with the fine-tuned one of a ``source`` run
    (``accent pretrain --init BACKBONE``): linear probe on its frozen embeddings (the extract
    features), then the waveform recipe through the same training loop."""
    if not can_finetune(backbone_name):
        raise AccentError(f"--mode finetune needs one network to update, not {backbone_name!r} (mfcc or a fusion): "
                          "use --mode extract for it")
    rows = np.arange(len(view.index))
    # the linear probe's features
    X = embed_rows(ACCENT, view, rows, source=source.rundir, progress=method.progress) if source is not None else \
        embed_rows(backbone_name, view, rows, progress=method.progress)
    data = drop_unembedded(X, view, data, backbone_name)
    # a source run brings its own weights: the backbone is then needed for its preprocessing only
    backbone = get_backbone(backbone_name, random_init=True) if source is not None else get_backbone(backbone_name)
    resolved, cfg = network_recipe("waveform_finetune", method.recipe, method.seed, method.device, method.max_epochs,
                                   None)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(method.seed)
    if source is not None:
        model = copy.deepcopy(source.model)
        model.replace_head(len(data.labels))
    else:
        model = WaveformClassifier(backbone.torch_module(),
                                   waveform_model_config(backbone_name, backbone.dim, len(data.labels)))
    linear_probe(model, X[data.train], data.codes(view.index, data.train), method.seed)
    task = WaveformTask(backbone, view, data, cfg.crop_s, method.progress, spec=backbone_name)
    return train_and_record(model, task, cfg, out, mode=method.name, info=info, resume=method.resume,
                            progress=method.progress, recipe=config.as_record(resolved, cfg))
