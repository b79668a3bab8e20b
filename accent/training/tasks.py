"""What one training loop trains on: log-mel crops of a feature store, or waveform crops of audio.

A task draws an epoch's batches (class-balanced random crops, the same plan on every rank, each
rank keeping its slice), scores the validation recordings, and predicts any rows at the end. The
loop in :mod:`accent.training.loop` knows nothing else about the data.

An epoch is a fixed number of random crops per training recording (at least
``min_crops_per_epoch``), drawn class-balanced, so training length scales with the data. A
recording is scored by the mean log-probability over crops tiling it.
"""
from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import torch

from accent.classifiers import fit_probe
from accent.errors import AccentError
from accent.features import crop_frames
from accent.models.outputs import recording_outputs, waveform_logprobs
from accent.models.waveform import TRAIN_CROP_S, WaveformClassifier, decode
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.splits import SplitData
from accent.store import crop_at
from accent.training.config import TrainConfig

MAX_CACHED_AUDIO_S = 4 * 3600.0   # waveform fine-tuning holds train+val audio in memory: about 0.9 GB at 16 kHz


def epoch_plan(labels: np.ndarray, n_crops: int, rng: np.random.Generator) -> np.ndarray:
    """Which training recordings (positions into ``labels``) the epoch's crops come from: drawn
    with probability inversely proportional to class size, so every class is seen equally often."""
    counts = np.bincount(labels)
    weights = 1.0 / counts[labels]
    return rng.choice(len(labels), size=n_crops, p=weights / weights.sum())


def steps_per_epoch(train_lengths: np.ndarray, n_frames: int, cfg: TrainConfig, world: int = 1) -> int:
    """Steps per epoch: the crops needed to cover every training recording ``passes_per_epoch``
    times (a 20 s recording counts 7 crops of 3 s, a 2 s one counts 1), at least ``min_crops_per_epoch``."""
    coverage = int(np.ceil(np.asarray(train_lengths) / n_frames).sum())
    n_crops = max(int(cfg.passes_per_epoch * coverage), cfg.min_crops_per_epoch)
    return math.ceil(n_crops / (cfg.batch_size * world))


class LogmelTask:
    """Random ``crop_s`` crops of a store's log-mels; validation on whole recordings of the val split."""

    def __init__(self, store, data: SplitData, crop_s: float):
        self.store, self.data = store, data
        self.n_frames = crop_frames(crop_s, store.config)
        self.train_y = data.codes(store.index, data.train)
        self.val_y = data.codes(store.index, data.val)

    def steps_per_epoch(self, cfg: TrainConfig, world: int) -> int:
        return steps_per_epoch(self.store.index["n_frames"].to_numpy()[self.data.train], self.n_frames, cfg, world)

    def batches(self, n_steps: int, cfg: TrainConfig, rng: np.random.Generator, rank: int, world: int):
        plan = epoch_plan(self.train_y, n_steps * cfg.batch_size * world, rng)
        rows = self.data.train
        lengths = self.store.index["n_frames"].to_numpy()[rows[plan]]
        n = self.n_frames
        starts = rng.integers(0, np.where(lengths >= n, lengths - n + 1, lengths))
        plan, starts = plan[rank::world], starts[rank::world]
        for step in range(n_steps):
            sl = slice(step * cfg.batch_size, (step + 1) * cfg.batch_size)
            batch = np.stack([crop_at(self.store.frames(int(rows[p])), int(s), n) for p, s in zip(plan[sl], starts[sl])])
            yield batch, self.train_y[plan[sl]]

    def validate(self, model, device: torch.device, precision: str) -> tuple[np.ndarray, np.ndarray]:
        return recording_outputs(model, self.store, self.data.val, self.n_frames, device, precision=precision), self.val_y

    def logprobs(self, model, rows: np.ndarray) -> np.ndarray:
        return recording_outputs(model, self.store, rows, self.n_frames, torch.device("cpu"))

    def embeddings(self, model, rows: np.ndarray) -> np.ndarray:
        return recording_outputs(model, self.store, rows, self.n_frames, torch.device("cpu"), embed=True)

    def release_training_audio(self) -> None:
        """Nothing to release: log-mels are read from the memory-mapped store."""

    def checkpoint_fields(self, model) -> dict:
        """The normalisation the network applies itself, and its crop length."""
        return {"norm": (model.norm_mean.detach().cpu().clone(), model.norm_std.detach().cpu().clone()),
                "crop_frames": self.n_frames, "backbone": None}


class WaveformTask:
    """Random 1.6-3 s waveform crops (one length per batch) of the train recordings, decoded once and
    kept in memory; validation on evenly spaced ``crop_s`` crops of whole val recordings."""

    def __init__(self, backbone, store, data: SplitData, crop_s: float, progress: bool, spec: str | None = None):
        self.spec = spec or backbone.name
        self.backbone, self.store, self.data, self.progress = backbone, store, data, progress
        self.sample_rate = backbone.sample_rate
        self.eval_len = int(crop_s * self.sample_rate)
        self.train_y = data.codes(store.index, data.train)
        self.val_y = data.codes(store.index, data.val)
        self.train_waves = self.decode_rows(data.train, "train")
        self.val_waves = self.decode_rows(data.val, "val")

    def decode_rows(self, rows: np.ndarray, what: str) -> list[np.ndarray]:
        """Waveforms of store rows, in memory; refuses more than ``MAX_CACHED_AUDIO_S`` of audio."""
        index = self.store.index
        seconds = float(index["duration_s"].iloc[rows].astype(float).sum()) if "duration_s" in index else 0.0
        if seconds > MAX_CACHED_AUDIO_S:
            raise AccentError(f"fine-tuning {self.backbone.name} would hold {seconds / 3600:.1f} h of {what} audio in "
                              f"memory (limit {MAX_CACHED_AUDIO_S / 3600:.0f} h): use --per-class, or --mode extract")
        paths = index["path"].iloc[rows].tolist()
        return [decode(self.backbone, p) for p in tqdm(paths, desc=f"decode {what}", unit="clip", file=sys.stderr,
                                                       disable=not self.progress, leave=False)]

    def steps_per_epoch(self, cfg: TrainConfig, world: int) -> int:
        return steps_per_epoch(np.array([len(w) for w in self.train_waves]), self.eval_len, cfg, world)

    def batches(self, n_steps: int, cfg: TrainConfig, rng: np.random.Generator, rank: int, world: int):
        waves, size = self.train_waves, cfg.batch_size * world
        plan = epoch_plan(self.train_y, n_steps * size, rng)
        for step in range(n_steps):
            chosen = plan[step * size:(step + 1) * size]
            n = int(rng.uniform(*TRAIN_CROP_S) * self.sample_rate)
            starts = [int(rng.integers(0, max(1, len(waves[p]) - n + 1))) for p in chosen]
            chosen, starts = chosen[rank::world], starts[rank::world]
            yield np.stack([crop_at(waves[p], s, n) for p, s in zip(chosen, starts)]), self.train_y[chosen]

    def validate(self, model, device: torch.device, precision: str) -> tuple[np.ndarray, np.ndarray]:
        return waveform_logprobs(model, self.val_waves, self.eval_len, device, precision), self.val_y

    def logprobs(self, model, rows: np.ndarray) -> np.ndarray:
        """Validation recordings from memory; the others (test) decoded now, one by one."""
        cached = dict(zip(self.data.val.tolist(), self.val_waves))
        missing = [r for r in rows.tolist() if r not in cached]
        decoded = dict(zip(missing, self.decode_rows(np.array(missing, dtype=np.int64), "test")))
        waves = [cached[r] if r in cached else decoded[r] for r in rows.tolist()]
        return waveform_logprobs(model, waves, self.eval_len)

    def release_training_audio(self) -> None:
        self.train_waves = []

    def checkpoint_fields(self, model) -> dict:
        """The store's statistics for the record (the backbone brings its own preprocessing)."""
        return {"norm": (torch.from_numpy(np.asarray(self.store.mean, np.float32)),
                         torch.from_numpy(np.asarray(self.store.std, np.float32))),
                "crop_frames": None, "backbone": self.spec}


def drop_unembedded(X: np.ndarray, view, data: SplitData, backbone: str) -> SplitData:
    """The splits without the rows whose features hold NaN (clips the backbone could not embed),
    with one warning naming them."""
    used = np.concatenate([data.train, data.val, data.test])
    bad = used[~np.isfinite(X[used]).all(axis=1)]
    if len(bad) == 0:
        return data
    names = ", ".join(view.index["utt_id"].iloc[bad[:3]].astype(str))
    more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
    warnings.warn(f"backbone {backbone}: {len(bad)} recording(s) could not be embedded and are left out of "
                  f"train/val/test: {names}{more}", stacklevel=2)
    kept = data.without(bad)
    if len(kept.train) == 0 or len(kept.val) == 0:
        raise AccentError(f"backbone {backbone}: no train or val recording left after dropping the clips it "
                          f"could not embed (see the warning); check the audio paths in {view.root}/index.csv")
    return kept


def linear_probe(model, X: np.ndarray, y: np.ndarray, seed: int) -> None:
    """Set the model's head to a logistic regression on frozen training embeddings ``X``.

    Our network's embeddings are not standardised: dividing by the tiny spread of an almost-dead
    ReLU unit would give it a huge weight, and augmented training crops then blow up the loss. A
    waveform backbone's embedding is centred and divided by one overall scale (kept in the model)."""
    if isinstance(model, WaveformClassifier):
        X = model.set_embedding_scale(X)
    weight, bias = fit_probe(X, y, seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        model.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
