"""One training loop for every neural mode (pretrain, finetune, scratch), CPU, CUDA or torchrun.

An epoch is a fixed number of random crops per training recording (at least ``min_crops_per_epoch``),
drawn class-balanced, so training length scales with the data. After each epoch the model predicts
every validation *recording* (mean log-probability over crops tiling it) and early stopping keeps the
weights with the best recording-level balanced accuracy. The whole training state is saved each
epoch (``train_state.pt``) so ``--resume`` continues an interrupted run exactly where it stopped.

Checkpoints hold tensors and plain Python types only and are read with ``torch.load(weights_only=True)``:
a checkpoint carrying a pickled object is refused instead of executed.

Several GPUs: ``torchrun --nproc_per_node=N -m accent pretrain --device cuda ...``; every rank draws
the same epoch plan and trains on its own slice of the crops; rank 0 evaluates and writes.
"""
from __future__ import annotations

import math
import os
import pickle
import time
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from accent.errors import AccentError
from accent.fileio import atomic_path, read_json_or_none, write_csv_atomic, write_json_atomic
from accent.evaluate import recording_metrics
from accent.manifest import recordings_without_speaker_id
from accent.features import FeatureConfig, mfcc_statistics
from accent.models import DEFAULT_PRESET, PRESETS, AccentNet, build_model, model_config
from accent.store import crop_at

RUN_FORMAT = "accent-run/1"
CHECKPOINT = "checkpoint.pt"
TRAIN_STATE = "train_state.pt"
RUN_JSON = "run.json"
PREDICTIONS = "predictions.csv"
EVAL_BATCH = 64          # crops per forward pass when predicting recordings
MAX_EVAL_CROPS = 6       # long recordings are scored on this many evenly spaced crops (deterministic)


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run; stored in the checkpoint and run.json."""

    crop_s: float = 3.0
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    max_epochs: int = 30
    patience: int = 8
    warmup_epochs: float = 1.0
    passes_per_epoch: float = 1.0    # an epoch draws enough crops to cover the training frames this often
    min_crops_per_epoch: int = 128   # keeps an epoch meaningful when the training set is tiny
    freeze_epochs: int = 0           # transfer: epochs with only the new head trained
    body_lr_mult: float = 1.0        # transfer: learning-rate factor for everything but the head
    grad_clip: float = 5.0
    seed: int = 0
    device: str = "cpu"
    compile: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------------------------------- crops
def crop_frames(crop_s: float, cfg: FeatureConfig) -> int:
    return max(1, int(round(crop_s * cfg.frames_per_second)))


def eval_crops(frames: np.ndarray, n: int, max_crops: int = MAX_EVAL_CROPS) -> np.ndarray:
    """Deterministic crops covering a recording: ceil(T/n) evenly spaced windows (at most
    ``max_crops``); a short recording gives one tiled crop. Shape (k, n, n_mels)."""
    length = len(frames)
    if length <= n:
        return crop_at(frames, 0, n)[None]
    k = min(max_crops, math.ceil(length / n))
    starts = np.linspace(0, length - n, k).round().astype(int)
    return np.stack([crop_at(frames, s, n) for s in starts])


def epoch_plan(labels: np.ndarray, n_crops: int, rng: np.random.Generator) -> np.ndarray:
    """Which training recordings (positions into ``labels``) the epoch's crops come from: drawn
    with probability inversely proportional to class size, so every class is seen equally often."""
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return rng.choice(len(labels), size=n_crops, p=weights / weights.sum())


# ---------------------------------------------------------------------------------------- devices
def _world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def resolve_device(device: str | None) -> torch.device:
    rank, world = _world()
    if device in (None, "", "cpu"):
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AccentError("--device cuda requested but no CUDA GPU is visible: use --device cpu")
        if world > 1:
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device(device)
    raise AccentError(f"unknown --device {device!r}: use cpu or cuda")


def _init_distributed(device: torch.device) -> None:
    rank, world = _world()
    if world > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


# ---------------------------------------------------------------------------------------- prediction
@torch.no_grad()
def predict_logprobs(model: AccentNet, crops_per_rec: list[np.ndarray], device: torch.device,
                     embed: bool = False) -> np.ndarray:
    """Mean over crops of each recording's log-probabilities (or embeddings when ``embed``)."""
    model.eval()
    sizes = [len(c) for c in crops_per_rec]
    flat = np.concatenate(crops_per_rec) if crops_per_rec else np.zeros((0, 1, 1), np.float32)
    outs = []
    for start in range(0, len(flat), EVAL_BATCH):
        x = torch.from_numpy(flat[start:start + EVAL_BATCH]).to(device)
        with _autocast(device):
            y = model.embed(x) if embed else torch.log_softmax(model(x).float(), dim=1)
        outs.append(y.float().cpu())
    values = torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
    bounds = np.cumsum([0] + sizes)
    return np.stack([values[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])


def recording_outputs(model: AccentNet, store, rows: np.ndarray, n: int, device: torch.device,
                      embed: bool = False) -> np.ndarray:
    """Recording-level mean log-probabilities (or embeddings) for store rows ``rows``."""
    out, chunk = [], 256
    for start in range(0, len(rows), chunk):
        crops = [eval_crops(store.frames(int(i)), n) for i in rows[start:start + chunk]]
        out.append(predict_logprobs(model, crops, device, embed=embed))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def softmax_rows(logp: np.ndarray) -> np.ndarray:
    p = np.exp(logp - logp.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------- checkpoints
def save_atomic(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: Path) -> dict:
    """Read a checkpoint with ``weights_only=True``; anything else becomes a one-line AccentError."""
    if not path.is_file():
        raise AccentError(f"checkpoint {path} not found: train one with `accent pretrain` or `accent transfer`")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else is damaged
        raise AccentError(f"checkpoint {path} is corrupt or truncated (not a torch checkpoint archive): retrain it")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise AccentError(f"checkpoint {path} holds objects that are not plain tensors/values and was refused "
                          f"(weights_only load): {str(exc).splitlines()[0][:160]}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise AccentError(f"checkpoint {path} is unreadable or truncated ({type(exc).__name__}): retrain it") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != RUN_FORMAT:
        raise AccentError(f"checkpoint {path} is not an accent run ({RUN_FORMAT}): retrain it")
    return ckpt


def check_feature_config(source_cfg: FeatureConfig, target_cfg: FeatureConfig, target: str | Path) -> None:
    """Refuse a store whose features differ from the ones the model was trained on."""
    if not source_cfg.compatible_with(target_cfg):
        a, b = source_cfg.to_dict(), target_cfg.to_dict()
        diff = ", ".join(f"{k}={b[k]} (model: {a[k]})" for k in a if a[k] != b[k])
        raise AccentError(f"feature store {target} was made with another feature config ({diff}): "
                          f"re-featurize it with the model's config")


class Run:
    """A trained run loaded for inference: the network (or scikit-learn arrays) plus its metadata."""

    def __init__(self, rundir: Path, ckpt: dict, run_json: dict):
        self.rundir = rundir
        self.ckpt = ckpt
        self.run_json = run_json
        self.mode = ckpt.get("mode", "pretrain")
        self.labels = list(ckpt["labels"])
        self.feature_config = FeatureConfig.from_dict(ckpt["feature_config"])
        self.norm_mean = np.asarray(ckpt["norm_mean"], dtype=np.float32)
        self.norm_std = np.asarray(ckpt["norm_std"], dtype=np.float32)
        self.crop_frames = int(ckpt.get("crop_frames") or crop_frames(3.0, self.feature_config))
        self.sklearn = ckpt.get("sklearn")
        self.backbone = ckpt.get("backbone") or run_json.get("backbone") or "accent"
        self.model = None
        if ckpt.get("state_dict") is not None:
            from accent.waveform_finetune import build_waveform_model, is_waveform_config

            config = ckpt["model_config"]
            self.model = build_waveform_model(config) if is_waveform_config(config) else build_model(config)
            self.model.load_state_dict(ckpt["state_dict"])
            self.model.eval()

    @property
    def needs_audio(self) -> bool:
        """True when the run reads raw audio rather than log-mels: extract over a pretrained speech
        backbone or a fusion, or a fine-tuned pretrained backbone."""
        return self.mode in ("extract", "finetune") and self.backbone != "accent"

    def predict_audio(self, path) -> np.ndarray:
        """Probabilities over :attr:`labels` for one audio file, for runs that read raw audio
        (:attr:`needs_audio`); AudioError for an unusable file."""
        if self.mode == "extract":
            from accent.transfer import audio_features

            return self.classify(audio_features(self, path)[None])[0]
        from accent.waveform_finetune import decode, predict_waveform
        from accent.backbones import get_backbone

        backbone = get_backbone(self.backbone, random_init=True)  # preprocessing only: the weights are the run's
        return predict_waveform(self.model, decode(backbone, str(path)), backbone.sample_rate)

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
        from accent.transfer import classifier_proba

        return classifier_proba(self.sklearn, X, self.rundir)

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        if self.mode == "finetune":
            self._refuse_logmel()
        if self.model is None:
            raise AccentError(f"run {self.rundir} ({self.mode}) has no network to embed with")
        return predict_logprobs(self.model, self._crops(logmel), torch.device("cpu"), embed=True)[0]

    def predict_logmel(self, logmel: np.ndarray) -> np.ndarray:
        """Probabilities over :attr:`labels` for one recording's log-mels (frames, n_mels)."""
        self._refuse_logmel()
        if self.mode == "baseline":
            return self.classify(mfcc_statistics(np.asarray(logmel, np.float32))[None])[0]
        if self.mode == "extract":
            return self.classify(self.embed_logmel(logmel)[None])[0]
        logp = predict_logprobs(self.model, self._crops(logmel), torch.device("cpu"))
        return softmax_rows(logp)[0]


def standardize(arrays: dict, X: np.ndarray) -> np.ndarray:
    """Apply the StandardScaler a run saved as arrays (fit on its training rows only)."""
    return (np.asarray(X, np.float64) - np.asarray(arrays["scaler_mean"])) / np.asarray(arrays["scaler_scale"])


def sklearn_predict_proba(arrays: dict, X: np.ndarray) -> np.ndarray:
    """Standardise then apply a logistic regression stored as arrays (multinomial or binary)."""
    scores = standardize(arrays, X) @ np.asarray(arrays["coef"]).T + np.asarray(arrays["intercept"])
    if scores.shape[1] == 1:  # binary logistic regression: one column, positive class second
        scores = np.concatenate([np.zeros_like(scores), scores], axis=1)
    return softmax_rows(scores)


def load_run(rundir: str | Path) -> Run:
    rundir = Path(rundir)
    if not rundir.is_dir():
        raise AccentError(f"run directory {rundir} not found: train one with `accent pretrain --out {rundir}`")
    ckpt = load_checkpoint(rundir / CHECKPOINT)
    run_json = {}
    if (rundir / RUN_JSON).is_file():
        run_json = read_json_or_none(rundir / RUN_JSON)
        if run_json is None:
            raise AccentError(f"{rundir / RUN_JSON} is not valid JSON: the run was damaged; retrain it")
    try:
        return Run(rundir, ckpt, run_json)
    except (KeyError, RuntimeError) as exc:
        raise AccentError(f"checkpoint {rundir / CHECKPOINT} does not match its model config "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}): retrain it") from None


def predict_store_rows(run: Run, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
    """Recording-level probabilities over ``run.labels`` for store rows (any mode)."""
    if run.mode == "baseline":
        return run.classify(mfcc_matrix(store, rows))
    if run.mode == "extract":
        from accent.transfer import embed_rows

        X = embed_rows(run.backbone, store, rows, run=run, progress=progress)
        probs = np.full((len(rows), len(run.labels)), np.nan)
        ok = np.isfinite(X).all(axis=1)  # clips the backbone could not embed stay NaN
        if ok.any():
            probs[ok] = run.classify(X[ok])
        return probs
    if run.needs_audio:
        from accent.waveform_finetune import store_probabilities

        return store_probabilities(run.model, store, rows, progress=progress)
    return softmax_rows(recording_outputs(run.model, store, rows, run.crop_frames, torch.device("cpu")))


def mfcc_matrix(store, rows: np.ndarray) -> np.ndarray:
    return np.stack([mfcc_statistics(np.asarray(store.frames(int(i)), np.float32)) for i in rows])


# ---------------------------------------------------------------------------------------- data
@dataclass
class SplitData:
    """Store rows and label codes of the train/val/test splits used by one run."""

    labels: list[str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def codes(self, index: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        lookup = {lab: k for k, lab in enumerate(self.labels)}
        return np.array([lookup[lab] for lab in index["label"].iloc[rows]], dtype=np.int64)


def splits_from_index(index: pd.DataFrame, where: str) -> SplitData:
    """Rows of each split; refuses empty splits and classes missing from training."""
    rows = {s: np.flatnonzero((index["split"] == s).to_numpy()) for s in ("train", "val", "test")}
    for s in ("train", "val"):
        if len(rows[s]) == 0:
            raise AccentError(f"{where} has no {s} recordings: too few speakers for a {s} split "
                              "(re-split the manifest with more speakers per class)")
    train_labels = set(index["label"].iloc[rows["train"]])
    other = set(index["label"].iloc[np.concatenate([rows["val"], rows["test"]])])
    unseen = sorted(other - train_labels)
    if unseen:
        raise AccentError(f"{where}: class(es) {', '.join(unseen)} occur in val/test but not in train: "
                          "give each class at least 3 speakers or drop it (accent manifest --min-speakers 3)")
    return SplitData(sorted(train_labels), rows["train"], rows["val"], rows["test"])


# ---------------------------------------------------------------------------------------- the loop
def _lr_lambda(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def steps_per_epoch(train_lengths: np.ndarray, n_frames: int, cfg: TrainConfig, world: int = 1) -> int:
    """Steps per epoch: the crops needed to cover every training recording ``passes_per_epoch``
    times (a 20 s recording counts 7 crops of 3 s, a 2 s one counts 1), at least ``min_crops_per_epoch``."""
    coverage = int(np.ceil(np.asarray(train_lengths) / n_frames).sum())
    n_crops = max(int(cfg.passes_per_epoch * coverage), cfg.min_crops_per_epoch)
    return math.ceil(n_crops / (cfg.batch_size * world))


def balanced_accuracy_codes(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (integer codes): the early-stopping score."""
    return float(np.mean([(pred[y == k] == k).mean() for k in np.unique(y)]))


def _set_body_trainable(model: AccentNet, trainable: bool) -> None:
    for p in model.body_parameters():
        p.requires_grad_(trainable)


def run_epoch(model, ddp_model, optimizer, scheduler, store, train_rows, train_y, n_frames, n_steps: int,
              cfg: TrainConfig, rng: np.random.Generator, device: torch.device) -> float:
    """One epoch of class-balanced random crops; returns the mean training loss (this rank)."""
    rank, world = _world()
    plan = epoch_plan(train_y, n_steps * cfg.batch_size * world, rng)
    lengths = store.index["n_frames"].to_numpy()[train_rows[plan]]
    starts = rng.integers(0, np.where(lengths >= n_frames, lengths - n_frames + 1, lengths))
    plan, starts = plan[rank::world], starts[rank::world]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    model.train()
    total = 0.0
    for step in range(n_steps):
        sl = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
        batch = np.stack([crop_at(store.frames(int(train_rows[p])), int(s), n_frames)
                          for p, s in zip(plan[sl], starts[sl])])
        x = torch.from_numpy(batch).to(device, non_blocking=True)
        y = torch.from_numpy(train_y[plan[sl]]).to(device)
        with _autocast(device):
            loss = loss_fn(ddp_model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach())
    return total / n_steps


def _rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def fit(model: AccentNet, store, data: SplitData, cfg: TrainConfig, out: Path, *, resume: bool = False,
        progress: bool = True, description: str = "train") -> dict:
    """Train ``model`` on ``data.train`` with early stopping on recording-level val balanced accuracy.

    Returns {"best_epoch", "epochs_run", "history", "train_seconds"}; ``model`` ends with the best
    weights. ``out/train_state.pt`` holds everything needed to resume after each epoch.
    """
    from tqdm import tqdm

    device = resolve_device(cfg.device)
    _init_distributed(device)
    rank, world = _world()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model.to(device)
    n_frames = crop_frames(cfg.crop_s, store.config)
    train_y = data.codes(store.index, data.train)
    val_y = data.codes(store.index, data.val)

    head_ids = {id(p) for p in model.head.parameters()}
    optimizer = torch.optim.AdamW(
        [{"params": model.body_parameters(), "lr": cfg.lr * cfg.body_lr_mult},
         {"params": [p for p in model.parameters() if id(p) in head_ids], "lr": cfg.lr}],
        weight_decay=cfg.weight_decay)
    n_steps = steps_per_epoch(store.index["n_frames"].to_numpy()[data.train], n_frames, cfg, world)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(cfg.max_epochs * n_steps, max(1, int(cfg.warmup_epochs * n_steps))))

    state_path = out / TRAIN_STATE
    history: list[dict] = []
    best = {"epoch": 0, "bacc": -1.0, "loss": math.inf, "state": None}
    start_epoch, bad_epochs, elapsed = 1, 0, 0.0
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        rng.bit_generator.state = st["numpy_rng"]
        torch.set_rng_state(st["torch_rng"])
        history, best, bad_epochs, elapsed = st["history"], st["best"], st["bad_epochs"], st["elapsed"]
        start_epoch = st["epoch"] + 1

    ddp_model = model
    if world > 1:
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    if cfg.compile:
        ddp_model = torch.compile(ddp_model)

    bar = tqdm(total=cfg.max_epochs, initial=start_epoch - 1, desc=description, unit="epoch",
               disable=not progress or rank != 0, leave=False)
    for epoch in range(start_epoch, cfg.max_epochs + 1):
        if bad_epochs >= cfg.patience:
            break
        t0 = time.perf_counter()
        _set_body_trainable(model, epoch > cfg.freeze_epochs)
        train_loss = run_epoch(model, ddp_model, optimizer, scheduler, store, data.train, train_y, n_frames,
                               n_steps, cfg, rng, device)
        logp = recording_outputs(model, store, data.val, n_frames, device)
        val_pred = logp.argmax(1)
        val_loss = float(-logp[np.arange(len(val_y)), val_y].mean())
        val_acc = float((val_pred == val_y).mean())
        val_bacc = balanced_accuracy_codes(val_pred, val_y)
        if world > 1:  # every rank follows rank 0's early-stopping decision
            t = torch.tensor([val_bacc, val_loss, val_acc], device=device)
            torch.distributed.broadcast(t, 0)
            val_bacc, val_loss, val_acc = (float(v) for v in t)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch, "train_loss": round(train_loss, 5), "val_loss": round(val_loss, 5),
                        "val_acc": round(val_acc, 5), "val_bacc": round(val_bacc, 5),
                        "seconds": round(elapsed, 2)})
        if val_bacc > best["bacc"] + 1e-9 or (abs(val_bacc - best["bacc"]) <= 1e-9 and val_loss < best["loss"]):
            best = {"epoch": epoch, "bacc": val_bacc, "loss": val_loss,
                    "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
            bad_epochs = 0
        else:
            bad_epochs += 1
        if rank == 0:
            save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "numpy_rng": _rng_state(rng),
                         "torch_rng": torch.get_rng_state(), "history": history, "best": best,
                         "bad_epochs": bad_epochs, "elapsed": elapsed, "epoch": epoch}, state_path)
        bar.update(1)
        bar.set_postfix(loss=f"{train_loss:.3f}", val_bacc=f"{val_bacc:.3f}")
    bar.close()
    model.load_state_dict(best["state"])
    model.to("cpu").eval()
    return {"best_epoch": best["epoch"], "epochs_run": len(history), "history": history,
            "train_seconds": round(elapsed, 2)}


# ---------------------------------------------------------------------------------------- outputs
def training_data_summary(index: pd.DataFrame, train_rows: np.ndarray) -> dict:
    """The run.json fields that say what a run learned from: training size and the whole store."""
    return {"n_train_recordings": int(len(train_rows)),
            "n_train_speakers": int(index["speaker"].iloc[train_rows].nunique()),
            "dataset": dataset_summary(index)}


def dataset_summary(index: pd.DataFrame) -> dict:
    per_split = {s: int((index["split"] == s).sum()) for s in ("train", "val", "test")}
    spk_splits = index[index["split"] != ""].groupby("speaker")["split"].nunique()
    return {"n_recordings": int(len(index)), "n_speakers": int(index["speaker"].nunique()),
            "n_classes": int(index["label"].nunique()), "splits": per_split,
            "speaker_disjoint": bool((spk_splits <= 1).all()),
            "speaker_ids": recordings_without_speaker_id(index) == 0,
            "recordings_without_speaker_id": recordings_without_speaker_id(index)}


def predictions_table(index: pd.DataFrame, rows: np.ndarray, probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    table = index.iloc[rows][["utt_id", "speaker", "split", "label"]].reset_index(drop=True)
    table["pred"] = [labels[k] for k in probs.argmax(1)] if len(rows) else []
    for k, lab in enumerate(labels):
        table[f"p_{lab}"] = probs[:, k] if len(rows) else []
    return table


def split_metrics(table: pd.DataFrame, labels: list[str]) -> dict:
    return {s: recording_metrics(table.loc[table["split"] == s, "label"], table.loc[table["split"] == s, "pred"], labels)
            for s in ("val", "test")}


def write_run(out: Path, ckpt: dict, run_json: dict, table: pd.DataFrame) -> dict:
    """checkpoint.pt, predictions.csv, then run.json last (its presence marks a finished run)."""
    out.mkdir(parents=True, exist_ok=True)
    save_atomic(ckpt, out / CHECKPOINT)
    write_csv_atomic(table, out / PREDICTIONS)
    write_json_atomic(out / RUN_JSON, run_json, default=float)
    (out / TRAIN_STATE).unlink(missing_ok=True)
    return run_json


def network_checkpoint(model: AccentNet, mode: str, labels: list[str], feature_config: FeatureConfig,
                       cfg: TrainConfig, metrics: dict, fit_result: dict, n_frames: int) -> dict:
    return {"format": RUN_FORMAT, "mode": mode, "state_dict": model.state_dict(),
            "model_config": model.config, "labels": list(labels), "feature_config": feature_config.to_dict(),
            "norm_mean": model.norm_mean.detach().cpu().clone(), "norm_std": model.norm_std.detach().cpu().clone(),
            "crop_frames": n_frames, "train_config": asdict(cfg), "metrics": metrics,
            "epoch": fit_result.get("best_epoch"), "optimizer": None, "history": fit_result.get("history", [])}


def train_network(model: AccentNet, store, data: SplitData, cfg: TrainConfig, out: Path, *, mode: str,
                  run_info: dict, resume: bool, progress: bool) -> dict:
    """fit + score val/test + write the run directory (rank 0). Shared by pretrain, finetune and scratch."""
    out.mkdir(parents=True, exist_ok=True)
    fit_result = fit(model, store, data, cfg, out, resume=resume, progress=progress, description=mode)
    rank, world = _world()
    n_frames = crop_frames(cfg.crop_s, store.config)
    rows = np.concatenate([data.val, data.test])
    probs = softmax_rows(recording_outputs(model, store, rows, n_frames, torch.device("cpu")))
    table = predictions_table(store.index, rows, probs, data.labels)
    metrics = split_metrics(table, data.labels)
    run_json = {**run_info, "mode": mode, "labels": data.labels, "best_epoch": fit_result["best_epoch"],
                "epochs_run": fit_result["epochs_run"], "history": fit_result["history"], "metrics": metrics,
                "train_seconds": fit_result["train_seconds"], "train_config": asdict(cfg),
                "model_config": model.config, "world_size": world,
                **training_data_summary(store.index, data.train)}
    if rank == 0:
        write_run(out, network_checkpoint(model, mode, data.labels, store.config, cfg, metrics, fit_result, n_frames),
                  run_json, table)
    return run_json


def finished_run(out: Path) -> dict | None:
    """run.json of a finished run in ``out`` (checkpoint present), else None."""
    if (out / CHECKPOINT).is_file() and not (out / TRAIN_STATE).exists():
        return read_json_or_none(out / RUN_JSON)  # missing or damaged run.json: not finished, train again
    return None


def pretrain(features, out, *, preset: str = DEFAULT_PRESET, crop_s: float = 3.0, max_epochs: int | None = None,
             seed: int = 0, resume: bool = False, device: str | None = None, progress: bool = True,
             compile: bool = False, model_overrides: dict | None = None, train_overrides: dict | None = None) -> dict:
    """Train a source model on a feature store's train split; writes RUNDIR (checkpoint, run.json, predictions)."""
    from accent.store import FeatureStore

    out = Path(out)
    if resume and (done := finished_run(out)) is not None:
        return done
    store = FeatureStore.open(features)
    data = splits_from_index(store.index, str(features))
    cfg = TrainConfig(crop_s=crop_s, seed=seed, device=device or "cpu", compile=compile)
    if max_epochs is not None:
        cfg.max_epochs = int(max_epochs)
    cfg = TrainConfig.from_dict({**asdict(cfg), **(train_overrides or {})})
    torch.manual_seed(seed)
    model = build_model(model_config(preset, store.n_mels, len(data.labels), model_overrides))
    model.set_normalization(store.mean, store.std)
    info = {"backbone": "accent", "source": None, "features": str(features), "seed": seed, "per_class": None,
            "train_fraction": None, "folds": None, "fold": None, "preset": preset}
    return train_network(model, store, data, cfg, out, mode="pretrain", run_info=info, resume=resume,
                         progress=progress)


def _run_cli(args) -> int:
    result = pretrain(args.features, args.out, preset=args.preset, crop_s=args.crop_s, max_epochs=args.max_epochs,
                      seed=args.seed, resume=args.resume, device=args.device, compile=args.compile)
    if _world()[0] != 0:  # torchrun: rank 0 wrote the run and reports it
        return 0
    test = result["metrics"]["test"]
    print(f"pretrained {result['preset']} in {result['train_seconds']:.0f} s: best epoch {result['best_epoch']}/"
          f"{result['epochs_run']}, test balanced accuracy {test['balanced_accuracy']:.3f} "
          f"(n={test['n']}) -> {args.out}")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("pretrain", help="train a source model on a feature store")
    p.add_argument("--features", required=True, help="FEATDIR written by `accent featurize`")
    p.add_argument("--out", required=True, help="RUNDIR to write (checkpoint.pt, run.json, predictions.csv)")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS))
    p.add_argument("--crop-s", type=float, default=3.0, help="training crop length in seconds (default 3)")
    p.add_argument("--max-epochs", type=int, default=None, help="upper bound; early stopping usually ends sooner")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    p.set_defaults(func=_run_cli)
