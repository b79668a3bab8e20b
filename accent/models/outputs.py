"""Scores of whole recordings: the mean over deterministic crops that tile each recording.

Log-mel networks read a store's frames (:func:`recording_outputs`); waveform networks read decoded
audio (:func:`waveform_logprobs`). Training (validation), inference and the embedding router all
score recordings through these functions, so a run's predictions are computed one way.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from accent.devices import autocast, inference_precision
from accent.store import crop_at

EVAL_BATCH = 64          # crops per forward pass when predicting log-mel recordings
WAVE_EVAL_BATCH = 16     # crops per forward pass of a waveform network
MAX_EVAL_CROPS = 6       # long recordings are scored on this many evenly spaced crops (deterministic)
STORE_CHUNK = 256        # recordings whose crops are cut at once


def eval_crops(frames: np.ndarray, n: int, max_crops: int = MAX_EVAL_CROPS) -> np.ndarray:
    """Deterministic crops covering a recording: ceil(T/n) evenly spaced windows (at most
    ``max_crops``); a short recording gives one tiled crop. Shape (k, n, ...)."""
    length = len(frames)
    if length <= n:
        return crop_at(frames, 0, n)[None]
    k = min(max_crops, math.ceil(length / n))
    starts = np.linspace(0, length - n, k).round().astype(int)
    return np.stack([crop_at(frames, s, n) for s in starts])


@torch.no_grad()
def predict_logprobs(model, crops_per_rec: list[np.ndarray], device: torch.device, embed: bool = False,
                     precision: str | None = None) -> np.ndarray:
    """Mean over crops of each recording's log-probabilities (or embeddings when ``embed``).
    ``precision``: a resolved one (:func:`accent.devices.resolve_precision`; training validates in
    its own); by default :func:`accent.devices.inference_precision`."""
    model.eval()
    precision = precision or inference_precision(device)
    sizes = [len(c) for c in crops_per_rec]
    flat = np.concatenate(crops_per_rec) if crops_per_rec else np.zeros((0, 1, 1), np.float32)
    outs = []
    for start in range(0, len(flat), EVAL_BATCH):
        x = torch.from_numpy(flat[start:start + EVAL_BATCH]).to(device)
        with autocast(device, precision):
            y = model.embed(x) if embed else torch.log_softmax(model(x).float(), dim=1)
        outs.append(y.float().cpu())
    values = torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)
    bounds = np.cumsum([0] + sizes)
    return np.stack([values[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])


def recording_outputs(model, store, rows: np.ndarray, n: int, device: torch.device, embed: bool = False,
                      precision: str | None = None) -> np.ndarray:
    """Recording-level mean log-probabilities (or embeddings) for store rows ``rows`` (``precision``:
    :func:`predict_logprobs`)."""
    out = []
    for start in range(0, len(rows), STORE_CHUNK):
        crops = [eval_crops(store.frames(int(i)), n) for i in rows[start:start + STORE_CHUNK]]
        out.append(predict_logprobs(model, crops, device, embed=embed, precision=precision))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


@torch.no_grad()
def waveform_logprobs(model, waves: list[np.ndarray], n_samples: int, device: torch.device | None = None,
                      precision: str | None = None) -> np.ndarray:
    """Mean log-probability over evenly spaced crops of each waveform: (len(waves), n_classes)
    (``precision``: :func:`predict_logprobs`)."""
    model.eval()
    device = device or torch.device("cpu")
    precision = precision or inference_precision(device)
    out = []
    for wave in waves:
        crops = torch.from_numpy(eval_crops(wave, n_samples, MAX_EVAL_CROPS)).to(device)
        with autocast(device, precision):
            logp = torch.cat([torch.log_softmax(model(crops[i:i + WAVE_EVAL_BATCH]).float(), dim=1)
                              for i in range(0, len(crops), WAVE_EVAL_BATCH)])
        out.append(logp.mean(0).cpu().numpy())
    return np.stack(out) if out else np.zeros((0, model.config["n_classes"]), np.float32)
