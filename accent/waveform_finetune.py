"""Fine-tuning a pretrained speech backbone on raw waveforms (``accent transfer --mode finetune
--backbone resemblyzer``), the counterpart of fine-tuning our CNN on stored log-mels.

The recipe is the one :mod:`accent.transfer` uses for our CNN, "linear probe, then fine-tune": the
new head starts as a strongly regularised logistic regression on the frozen recording embeddings
(the ``extract`` features, read from the embedding cache), ``freeze_epochs`` train the head alone,
then the backbone trains at ``body_lr_mult`` times the head's learning rate. Each training step
takes random crops of one length drawn from ``TRAIN_CROP_S`` (1.6 s is one Resemblyzer partial,
the length GE2E was trained on); a recording is predicted by the mean log-probability over evenly
spaced ``EVAL_CROP_S`` crops covering it (at most ``MAX_EVAL_CROPS``), and early stopping keeps the
epoch with the best validation balanced accuracy of whole recordings.

Waveforms are decoded once from the index's ``path`` at the backbone's rate and cleaned by the
backbone's own :meth:`~accent.backbones.base.Backbone.preprocess`; the training and validation
recordings stay in memory (float32, capped by ``MAX_CACHED_AUDIO_S``), which suits the small targets
that fine-tuning is for. The head reads the embedding centred by the training recordings' mean and
divided by ONE scale (their overall spread), not per dimension: an almost-constant ReLU unit would
otherwise get a huge weight, as :func:`accent.transfer.linear_probe_head` explains.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from accent.errors import AccentError, AudioError
from accent.transfer import set_probe_head
from accent.train import (MAX_EVAL_CROPS, RUN_FORMAT, TRAIN_STATE, balanced_accuracy_codes, crop_at, epoch_plan,
                          eval_crops, predictions_table, save_atomic, softmax_rows, split_metrics, SplitData,
                          steps_per_epoch, TrainConfig, training_data_summary, write_run)

MODEL_KIND = "waveform"
TRAIN_CROP_S = (1.6, 3.0)
EVAL_CROP_S = 3.0
EVAL_BATCH = 16
MAX_CACHED_AUDIO_S = 4 * 3600.0   # about 0.9 GB of float32 at 16 kHz
WAVEFORM_FINETUNE_CONFIG = {"lr": 1e-3, "body_lr_mult": 0.1, "freeze_epochs": 1, "max_epochs": 10,
                            "patience": 3, "batch_size": 16, "min_crops_per_epoch": 64, "weight_decay": 0.01,
                            "label_smoothing": 0.1, "grad_clip": 5.0, "crop_s": EVAL_CROP_S}


class WaveformClassifier(nn.Module):
    """A backbone's ``torch_module`` (waveforms -> embeddings) with a linear head on the centred,
    scaled embedding. ``config`` rebuilds it (see :func:`build_waveform_model`)."""

    def __init__(self, body: nn.Module, config: dict):
        super().__init__()
        self.config = dict(config)
        self.body = body
        self.register_buffer("emb_mean", torch.zeros(config["dim"]))
        self.register_buffer("emb_scale", torch.ones(()))
        self.head = nn.Linear(config["dim"], config["n_classes"])

    def embed(self, waves: torch.Tensor) -> torch.Tensor:
        return self.body(waves)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        return self.head((self.embed(waves) - self.emb_mean) / self.emb_scale)

    def body_parameters(self):
        return self.body.parameters()


def waveform_model_config(backbone_name: str, dim: int, n_classes: int) -> dict:
    return {"kind": MODEL_KIND, "backbone": backbone_name, "dim": int(dim), "n_classes": int(n_classes)}


def is_waveform_config(model_config) -> bool:
    return isinstance(model_config, dict) and model_config.get("kind") == MODEL_KIND


def build_waveform_model(config: dict) -> WaveformClassifier:
    """The architecture of a saved run, with random weights (its state dict is loaded next), so
    loading a fine-tuned run needs no pretrained weights file."""
    from accent.backbones import get_backbone

    return WaveformClassifier(get_backbone(config["backbone"], random_init=True).torch_module(), config)


# ---------------------------------------------------------------------------------------- audio
def decode(backbone, path: str) -> np.ndarray:
    """One recording as the backbone's module is fed it; AudioError for an unusable clip."""
    from accent.audio import load_audio

    return backbone.preprocess(load_audio(path, backbone.sample_rate))


def decode_rows(backbone, index, rows: np.ndarray, what: str, progress: bool) -> list[np.ndarray]:
    """Waveforms of store rows, in memory; refuses more than ``MAX_CACHED_AUDIO_S`` of audio."""
    from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

    seconds = float(index["duration_s"].iloc[rows].astype(float).sum()) if "duration_s" in index else 0.0
    if seconds > MAX_CACHED_AUDIO_S:
        raise AccentError(f"fine-tuning {backbone.name} would hold {seconds / 3600:.1f} h of {what} audio in memory "
                          f"(limit {MAX_CACHED_AUDIO_S / 3600:.0f} h): use --per-class, or --mode extract")
    paths = index["path"].iloc[rows].tolist()
    return [decode(backbone, p) for p in tqdm(paths, desc=f"decode {what}", unit="clip", file=sys.stderr,
                                                   disable=not progress, leave=False)]


def recording_logprobs(model: WaveformClassifier, waves: list[np.ndarray], n_samples: int) -> np.ndarray:
    """Mean log-probability over evenly spaced crops of each recording: (len(waves), n_classes)."""
    model.eval()
    out = []
    with torch.no_grad():
        for wave in waves:
            crops = torch.from_numpy(eval_crops(wave, n_samples, MAX_EVAL_CROPS))
            logp = torch.cat([torch.log_softmax(model(crops[i:i + EVAL_BATCH]), dim=1)
                              for i in range(0, len(crops), EVAL_BATCH)])
            out.append(logp.mean(0).numpy())
    return np.stack(out) if out else np.zeros((0, model.config["n_classes"]), np.float32)


def predict_waveform(model: WaveformClassifier, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Probabilities of one preprocessed recording (``accent predict``)."""
    return softmax_rows(recording_logprobs(model, [wave], int(EVAL_CROP_S * sample_rate)))[0]


def store_probabilities(model: WaveformClassifier, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
    """Probabilities of store rows (``accent evaluate``), each clip decoded again from its path, one
    at a time; a clip that cannot be used gets a NaN row and is named in one warning."""
    import warnings

    from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

    from accent.backbones import get_backbone

    backbone = get_backbone(model.config["backbone"], random_init=True)  # preprocessing only, no weights
    eval_len = int(EVAL_CROP_S * backbone.sample_rate)
    probs = np.full((len(rows), model.config["n_classes"]), np.nan)
    failed = []
    for k, path in enumerate(tqdm(store.index["path"].iloc[rows].tolist(), desc="predict", unit="clip",
                                  file=sys.stderr, disable=not progress, leave=False)):
        try:
            probs[k] = softmax_rows(recording_logprobs(model, [decode(backbone, path)], eval_len))[0]
        except AudioError as exc:
            failed.append(f"{path}: {exc}")
    if failed:
        warnings.warn(f"{len(failed)} recording(s) could not be scored: {'; '.join(failed[:3])}", stacklevel=2)
    return probs


# ---------------------------------------------------------------------------------------- training
def linear_probe(model: WaveformClassifier, X_train: np.ndarray, y_train: np.ndarray, seed: int) -> None:
    """Centre/scale buffers from the frozen training embeddings; head = logistic regression on them."""
    mean = X_train.mean(axis=0)
    scale = float(np.sqrt(((X_train - mean) ** 2).sum(axis=1).mean() / X_train.shape[1])) or 1.0
    set_probe_head(model.head, (X_train - mean) / scale, y_train, seed)
    with torch.no_grad():
        model.emb_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        model.emb_scale.fill_(scale)


def _train_epoch(model, optimizer, waves, y, cfg: TrainConfig, sample_rate: int, rng) -> float:
    """Class-balanced random crops, one crop length per batch; returns the mean training loss."""
    n_steps = steps_per_epoch(np.array([len(w) for w in waves]), int(EVAL_CROP_S * sample_rate), cfg)
    plan = epoch_plan(y, n_steps * cfg.batch_size, rng)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    total = 0.0
    for step in range(n_steps):
        chosen = plan[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        n = int(rng.uniform(*TRAIN_CROP_S) * sample_rate)
        batch = np.stack([crop_at(waves[p], int(rng.integers(0, max(1, len(waves[p]) - n + 1))), n) for p in chosen])
        loss = loss_fn(model(torch.from_numpy(batch)), torch.from_numpy(y[chosen]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        total += float(loss.detach())
    return total / n_steps


def fit_waveform(model: WaveformClassifier, train: tuple[list, np.ndarray], val: tuple[list, np.ndarray],
                 cfg: TrainConfig, sample_rate: int, out: Path, *, resume: bool, progress: bool) -> dict:
    """Frozen warm-up, then gentle fine-tuning; early stopping on val recording balanced accuracy.
    ``out/train_state.pt`` is written after every epoch, so ``resume`` continues where it stopped."""
    from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    head_ids = {id(p) for p in model.head.parameters()}
    optimizer = torch.optim.AdamW([{"params": list(model.body_parameters()), "lr": cfg.lr * cfg.body_lr_mult},
                                   {"params": [p for p in model.parameters() if id(p) in head_ids], "lr": cfg.lr}],
                                  weight_decay=cfg.weight_decay)
    history, best, bad_epochs, elapsed, start = [], {"epoch": 0, "bacc": -1.0, "loss": math.inf, "state": None}, 0, 0.0, 1
    state_path = out / TRAIN_STATE
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        history, best, bad_epochs, elapsed, start = st["history"], st["best"], st["bad_epochs"], st["elapsed"], st["epoch"] + 1
    eval_len = int(EVAL_CROP_S * sample_rate)
    bar = tqdm(total=cfg.max_epochs, initial=start - 1, desc="finetune", unit="epoch", disable=not progress, leave=False)
    for epoch in range(start, cfg.max_epochs + 1):
        if bad_epochs >= cfg.patience:
            break
        t0 = time.perf_counter()
        for p in model.body_parameters():
            p.requires_grad_(epoch > cfg.freeze_epochs)
        train_loss = _train_epoch(model, optimizer, *train, cfg, sample_rate, rng)
        logp = recording_logprobs(model, val[0], eval_len)
        pred = logp.argmax(1)
        val_loss = float(-logp[np.arange(len(val[1])), val[1]].mean())
        val_bacc = balanced_accuracy_codes(pred, val[1])
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
                        "val_acc": round(float((pred == val[1]).mean()), 5), "val_bacc": round(val_bacc, 5),
                        "seconds": round(elapsed, 2)})
        if val_bacc > best["bacc"] + 1e-9 or (abs(val_bacc - best["bacc"]) <= 1e-9 and val_loss < best["loss"]):
            best = {"epoch": epoch, "bacc": val_bacc, "loss": val_loss,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            bad_epochs = 0
        else:
            bad_epochs += 1
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "history": history,
                     "best": best, "bad_epochs": bad_epochs, "elapsed": elapsed, "epoch": epoch}, state_path)
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_bacc=f"{val_bacc:.3f}")
    bar.close()
    model.load_state_dict(best["state"])
    model.eval()
    return {"best_epoch": best["epoch"], "epochs_run": len(history), "history": history, "train_seconds": round(elapsed, 2)}


def finetune_backbone(backbone_name: str, view, data: SplitData, X: np.ndarray, out: Path, *, seed: int,
                      max_epochs: int | None, info: dict, resume: bool, progress: bool) -> dict:
    """Fine-tune a registered backbone on ``view``'s splits and write the run directory.

    ``X`` holds the frozen recording embeddings of every row of ``view`` (the extract features):
    the linear probe is fitted on its training rows; rows with failed clips are already dropped from ``data``.
    """
    from accent.backbones import get_backbone

    backbone = get_backbone(backbone_name)
    cfg = TrainConfig.from_dict({**asdict(TrainConfig()), **WAVEFORM_FINETUNE_CONFIG, "seed": seed, "device": "cpu"})
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = WaveformClassifier(backbone.torch_module(), waveform_model_config(backbone_name, backbone.dim, len(data.labels)))
    y_train, y_val = data.codes(view.index, data.train), data.codes(view.index, data.val)
    linear_probe(model, X[data.train], y_train, seed)
    train_waves = decode_rows(backbone, view.index, data.train, "train", progress)
    val_waves = decode_rows(backbone, view.index, data.val, "val", progress)
    result = fit_waveform(model, (train_waves, y_train), (val_waves, y_val), cfg, backbone.sample_rate, out,
                          resume=resume, progress=progress)
    del train_waves
    eval_len = int(EVAL_CROP_S * backbone.sample_rate)
    test_waves = decode_rows(backbone, view.index, data.test, "test", progress)
    probs = softmax_rows(np.concatenate([recording_logprobs(model, val_waves, eval_len),
                                         recording_logprobs(model, test_waves, eval_len)]))
    table = predictions_table(view.index, np.concatenate([data.val, data.test]), probs, data.labels)
    metrics = split_metrics(table, data.labels)
    run_json = {**info, "mode": "finetune", "labels": data.labels, "best_epoch": result["best_epoch"],
                "epochs_run": result["epochs_run"], "history": result["history"], "metrics": metrics,
                "train_seconds": result["train_seconds"], "train_config": asdict(cfg), "model_config": model.config,
                **training_data_summary(view.index, data.train)}
    ckpt = {"format": RUN_FORMAT, "mode": "finetune", "backbone": backbone_name, "state_dict": model.state_dict(),
            "model_config": model.config, "labels": list(data.labels), "feature_config": view.config.to_dict(),
            "norm_mean": torch.from_numpy(np.asarray(view.mean, np.float32)),
            "norm_std": torch.from_numpy(np.asarray(view.std, np.float32)), "crop_frames": None,
            "train_config": asdict(cfg), "metrics": metrics, "epoch": result["best_epoch"], "optimizer": None,
            "history": result["history"]}
    return write_run(out, ckpt, run_json, table)
