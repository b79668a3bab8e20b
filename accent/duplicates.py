"""Duplicate audio: the same recording twice, even re-encoded at another rate or bitrate.

Corpora redistributed by different people share recordings (an SAA reading at 44.1 kHz in one,
resampled to 8 kHz mp3 in another); a duplicate across training and test data is a leak no speaker
split catches, since the two copies carry different names. A byte hash misses re-encodings, and a
redistributor may also have cut the pauses out (the 8 kHz SAA copies are 1-12 s shorter than the
originals), so neither a hash nor a correlation at one lag will do. The fingerprint is taken from the stored log-mels: the energy of 16 fixed bands between 150 Hz
and 3.8 kHz (inside the telephone band, so an 8 kHz store and a 48 kHz one describe the same thing)
in 40 ms frames, each band's mean removed (a codec's or channel's colouring cancels). Each 1 s
chunk of a clip finds its best-correlating window of the other clip; the clip duplicates the other
when the ``SCORE_QUANTILE`` (0.9) quantile of those best correlations is ``MIN_SCORE`` or more, that
is when at least a tenth of its chunks match that well (chunks across a pause an editor cut out
match nothing, so a copy cannot be asked to match everywhere). Two people reading the same passage stay below it:
their voices and timing differ within a second (docs/benchmarks.md, "Duplicate audio").

Fingerprints are kept beside the store in ``fingerprints.npz`` (recomputed when the store's clips
change); :func:`store_duplicates` finds duplicates within a store (`accent featurize` warns about
them), :func:`duplicates_between` those between two stores (the real-speech protocol drops source
recordings that duplicate target ones).
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from accent.executors import usable_cores
from accent.features import FeatureConfig, mel_frequencies_hz
from accent.fileio import atomic_path
from accent.store import FeatureStore

FINGERPRINT_FILE = "fingerprints.npz"
BAND_EDGES_HZ = np.geomspace(150.0, 3800.0, 17)   # 16 bands
FRAME_S = 0.04
CHUNK_FRAMES = 25        # 1 s: short enough to fall between two pauses an editor removed
CHUNK_HOP = 12           # query chunks every ~0.5 s; the other clip's windows at every frame
SCORE_QUANTILE = 0.9     # quantile of the query chunks' best correlations that must reach MIN_SCORE
MIN_SCORE = 0.925         # real copies >= 0.948, two readers of one passage <= 0.902 (docs/benchmarks.md)
MAX_CHECKED_HOURS = 10.0  # featurize's check of a whole store: about 45 s for saa-8k's 2.6 h on one core
BLOCK_ROWS = 20000       # query chunks per matrix product (memory: BLOCK_ROWS x one clip's windows)
EXAMPLES_SHOWN = 3


def band_matrix(cfg: FeatureConfig) -> np.ndarray:
    """(n_mels, 16) averaging weights: each band is the mean of the mel bins centred inside it (the
    nearest bin when none is)."""
    centres = mel_frequencies_hz(cfg)
    weights = np.zeros((len(centres), len(BAND_EDGES_HZ) - 1), np.float32)
    for b, (low, high) in enumerate(zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:])):
        inside = (centres >= low) & (centres < high)
        if not inside.any():
            distance = np.abs(centres - np.sqrt(low * high))
            inside = distance == distance.min()
        weights[inside, b] = 1.0 / inside.sum()
    return weights


def fingerprint(logmel: np.ndarray, cfg: FeatureConfig, bands: np.ndarray | None = None) -> np.ndarray:
    """(frames of 40 ms, 16) float32 fingerprint of one clip's stored log-mels (module docstring)."""
    energy = np.asarray(logmel, np.float32) @ (band_matrix(cfg) if bands is None else bands)
    per_frame = max(1, int(round(FRAME_S * cfg.frames_per_second)))
    n = len(energy) // per_frame
    pooled = energy[:n * per_frame].reshape(n, per_frame, -1).mean(axis=1)
    return (pooled - pooled.mean(axis=0)) if n else pooled


def windows(fp: np.ndarray, hop: int) -> np.ndarray:
    """Unit-norm, mean-free 1 s windows of a fingerprint, every ``hop`` frames: (n, 25 * 16)."""
    if len(fp) < CHUNK_FRAMES:
        return np.zeros((0, CHUNK_FRAMES * fp.shape[1]), np.float32)
    W = np.lib.stride_tricks.sliding_window_view(fp, (CHUNK_FRAMES, fp.shape[1]))[::hop, 0]
    W = W.reshape(len(W), -1)
    W = W - W.mean(axis=1, keepdims=True)
    return (W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-6)).astype(np.float32)


def match_scores(queries: list[np.ndarray], others: list[np.ndarray], threads: int | None = None) -> np.ndarray:
    """(len(queries), len(others)): for each pair, the SCORE_QUANTILE of the query's 1 s chunks' best
    correlation with any 1 s window of the other clip; near 1 when the other clip holds the query's
    audio, even cut up and re-encoded. Clips shorter than 1 s score -1.

    The matrix products dominate (they grow with the product of the two sides' hours) and release
    the GIL, so the ``others`` are shared out among ``threads`` (default :func:`cpu_threads`); each
    column is computed alone, so the scores do not depend on the thread count."""
    chunks = [windows(q, CHUNK_HOP) for q in queries]
    counts = np.array([len(c) for c in chunks])
    scores = np.full((len(queries), len(others)), -1.0)
    if not counts.sum():
        return scores
    C, starts = np.concatenate(chunks), np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    pick = starts[has] + np.floor(SCORE_QUANTILE * (counts[has] - 1)).astype(int)
    owner = np.repeat(np.arange(len(queries)), counts)

    def score_column(j: int) -> None:
        W = windows(others[j], 1)
        if not len(W):
            return
        best = np.concatenate([(C[s:s + BLOCK_ROWS] @ W.T).max(axis=1) for s in range(0, len(C), BLOCK_ROWS)])
        scores[has, j] = best[np.lexsort((best, owner))][pick]

    threads = min(threads or cpu_threads(), len(others) or 1)
    if threads == 1:
        for j in range(len(others)):
            score_column(j)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(score_column, range(len(others))))
    return scores


def cpu_threads() -> int:
    """Threads for the matrix products: the cores this process may use, at most ``OMP_NUM_THREADS``
    when that is set (the project's way of keeping processes that share cores from oversubscribing)."""
    cores = usable_cores()
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(cap) if cap.isdigit() and int(cap) > 0 else cores))


class Fingerprints:
    """The fingerprints of a store's clips: ``utt_ids`` and ``parts`` (one array per clip)."""

    def __init__(self, utt_ids: list[str], parts: list[np.ndarray]):
        self.utt_ids, self.parts = utt_ids, parts

    @classmethod
    def of_store(cls, store: FeatureStore) -> "Fingerprints":
        """Read ``fingerprints.npz`` when it matches the store's clips, else compute and save it
        (a store the user cannot write to keeps them in memory)."""
        key = _store_key(store)
        path = store.root / FINGERPRINT_FILE
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) == key:
                    bounds = np.cumsum(np.concatenate([[0], data["lengths"]]))
                    frames = data["frames"].astype(np.float32)
                    return cls(data["utt_ids"].tolist(), [frames[s:e] for s, e in zip(bounds[:-1], bounds[1:])])
        bands = band_matrix(store.config)
        parts = [fingerprint(store.frames(i), store.config, bands) for i in range(len(store.index))]
        found = cls(store.index["utt_id"].astype(str).tolist(), parts)
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, key=np.array(key), utt_ids=np.array(found.utt_ids),
                         lengths=np.array([len(p) for p in parts], np.int64),
                         frames=np.concatenate(parts).astype(np.float16) if parts else np.zeros((0, len(BAND_EDGES_HZ) - 1), np.float16))
        except PermissionError:
            pass
        return found


def _store_key(store: FeatureStore) -> str:
    rows = store.index[["utt_id", "n_frames", "offset"]].astype(str).to_csv(index=False)
    settings = f"{BAND_EDGES_HZ.round(1).tolist()}|{FRAME_S}"   # what changes a fingerprint
    return hashlib.sha1(f"{settings}|{store.config.hash()}|{rows}".encode()).hexdigest()


def _pairs(scores: np.ndarray, a: list[str], b: list[str], min_score: float) -> pd.DataFrame:
    i, j = np.nonzero(scores >= min_score)
    return pd.DataFrame({"utt_id": [a[k] for k in i], "duplicate_of": [b[k] for k in j],
                         "score": np.round(scores[i, j], 4)})


def store_duplicates(store: FeatureStore, min_score: float = MIN_SCORE) -> pd.DataFrame:
    """Pairs of recordings in one store with the same audio: utt_id, duplicate_of, score. The cost
    grows with the square of the store's hours of audio (docs/benchmarks.md, "Duplicate audio")."""
    found = Fingerprints.of_store(store)
    scores = match_scores(found.parts, found.parts)
    scores = np.triu(np.maximum(scores, scores.T), k=1)   # either clip may be the cut-down copy
    return _pairs(scores, found.utt_ids, found.utt_ids, min_score)


def duplicates_between(store: FeatureStore, other: FeatureStore, min_score: float = MIN_SCORE) -> pd.DataFrame:
    """Recordings of ``store`` (utt_id) whose audio is also in ``other`` (duplicate_of)."""
    a, b = Fingerprints.of_store(store), Fingerprints.of_store(other)
    scores = np.maximum(match_scores(a.parts, b.parts), match_scores(b.parts, a.parts).T)
    return _pairs(scores, a.utt_ids, b.utt_ids, min_score)


def duplicate_warning(store: FeatureStore) -> str | None:
    """One line about the store's duplicate recordings, or None when there are none (or the store
    is too large to check in passing: its cost grows with the square of its hours)."""
    hours = float(store.index["n_frames"].sum()) / store.config.frames_per_second / 3600
    if hours > MAX_CHECKED_HOURS:
        return (f"note: {store.root} was not checked for duplicate audio ({hours:.0f} h; the check in passing stops "
                f"at {MAX_CHECKED_HOURS:.0f} h): run accent.duplicates.store_duplicates on it")
    pairs = store_duplicates(store)
    if pairs.empty:
        return None
    shown = "; ".join(f"{a} = {b}" for a, b, _ in pairs.head(EXAMPLES_SHOWN).itertuples(index=False))
    more = f" (+{len(pairs) - EXAMPLES_SHOWN} more)" if len(pairs) > EXAMPLES_SHOWN else ""
    return (f"warning: {len(pairs)} pair(s) of recordings in {store.root} have the same audio: {shown}{more}; "
            "drop one of each from the manifest, or the two copies may land on both sides of a split")
