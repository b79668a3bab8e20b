"""The alignment engine: recordings as MFCC block sequences, banded DTW against a reference
sequence, and a cache of the paths beside the feature store. Torch-free.

Any method that compares recordings "at the same place in the text" uses it: the passage-aligned
recipe (:mod:`accent.aligned`) aligns every clip to reference readings of one passage; a phonetic
method aligns each clip to a rendering of its own transcript (one reference per clip). Both go
through :func:`align` (one pair) or :func:`store_alignments` (every row of a store, cached).

- :func:`recording_sequence`: log-mel frames averaged into ``block_ms`` blocks, DCT to ``n_mfcc``
  MFCCs, mean and variance normalised per recording (removes the channel and most of the voice level).
- :func:`align`: DTW with a Sakoe-Chiba band around the line from (0, 0) to (n-1, m-1), so
  recordings of very different lengths still align (the band follows their slope, and is at least
  wide enough for one step of it); compiled with numba, Euclidean distance on ``align_coeffs``.
  Returns the path and its cost per path step (the *normalised cost*: how well the clip matches the
  reference; a clip that does not read the reference's text costs more).
- :func:`store_alignments`: every row of a feature store against one reference (or one reference
  per row), computed once in shards through an executor (:mod:`accent.executors`, so Dask works)
  and kept under ``FEATDIR/alignments/<key>/``, where the key covers the store's feature config and
  rows and the :class:`AlignSpec`; each reference's file is named by a hash of its content.

A path is stored compactly as one step code per path step (``STEP_CODES``: both advance, the
reference advances, the clip advances), uint8, concatenated over the rows with offsets.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from accent.errors import AccentError
from accent.executors import Shard, n_workers, run_file_shards, shard_count
from accent.features import mfcc_from_logmel
from accent.fileio import atomic_path
from accent.store import FeatureStore

STD_FLOOR = 1e-6
CACHE_DIR = "alignments"
FORMAT = "accent-alignments/1"
# step code -> (clip step, reference step); code 0 first: ties go to the diagonal, as in librosa
STEP_CODES = np.array([[1, 1], [0, 1], [1, 0]], dtype=np.int64)
MIN_BLOCKS = 2


@dataclass(frozen=True)
class AlignSpec:
    """Everything that changes a sequence or a path (and so the cache key)."""
    n_mfcc: int = 20
    block_ms: float = 40.0
    align_coeffs: tuple[int, int] = (1, 10)   # c1..c9: c0 (loudness) would align on level, not phones
    band: float = 0.25                        # Sakoe-Chiba radius, a fraction of the longer sequence

    def key(self) -> str:
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# -- sequences ---------------------------------------------------------------------------------

def block_frames(hop_ms: float, block_ms: float) -> int:
    """How many stored frames make one block (at least one)."""
    return max(1, int(round(block_ms / hop_ms)))


def recording_sequence(logmel: np.ndarray, hop_ms: float, spec: AlignSpec = AlignSpec()) -> np.ndarray:
    """Per-recording normalised MFCC blocks, float32 (n_blocks, n_mfcc), from log-mel frames (n, n_mels)."""
    x = np.asarray(logmel, dtype=np.float32)
    k = block_frames(hop_ms, spec.block_ms)
    n = len(x) // k
    if n < MIN_BLOCKS:
        raise AccentError(f"recording too short to align: {len(x)} frames, need {MIN_BLOCKS * k}")
    blocks = x[:n * k].reshape(n, k, -1).mean(axis=1)
    mfcc = mfcc_from_logmel(blocks, spec.n_mfcc)
    return ((mfcc - mfcc.mean(0)) / np.maximum(mfcc.std(0), STD_FLOOR)).astype(np.float32)


def store_sequences(store, rows=None, spec: AlignSpec = AlignSpec()) -> list[np.ndarray]:
    """:func:`recording_sequence` of a feature store's rows (positions in ``store.index``; all by default)."""
    rows = range(len(store.index)) if rows is None else rows
    hop_ms = store.config.hop_ms
    return [recording_sequence(store.frames(int(i)), hop_ms, spec) for i in rows]


# -- DTW ---------------------------------------------------------------------------------------

def _banded_dtw(x, y, radius):
    """(step codes of the path, accumulated cost); compiled by :func:`_compiled`."""
    n, m = x.shape[0], y.shape[0]
    slope = (m - 1) / max(n - 1, 1)
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for i in range(n):
        c = i * slope
        lo[i] = max(0, int(np.floor(c - radius)))
        hi[i] = min(m - 1, int(np.ceil(c + radius)))
    lo[0] = 0
    hi[n - 1] = m - 1
    inf = np.inf
    D = np.full((n, m), inf)
    S = np.zeros((n, m), np.uint8)
    for i in range(n):
        for j in range(lo[i], hi[i] + 1):
            d = 0.0
            for k in range(x.shape[1]):
                t = x[i, k] - y[j, k]
                d += t * t
            d = np.sqrt(d)
            if i == 0 and j == 0:
                D[0, 0] = d
                continue
            best, step = inf, 0
            if i > 0 and j > 0 and D[i - 1, j - 1] < best:
                best, step = D[i - 1, j - 1], 0
            if j > 0 and D[i, j - 1] < best:
                best, step = D[i, j - 1], 1
            if i > 0 and D[i - 1, j] < best:
                best, step = D[i - 1, j], 2
            D[i, j] = best + d
            S[i, j] = step
    # backtrack from the end: step codes in path order
    steps = np.empty(n + m, np.uint8)
    i, j, k = n - 1, m - 1, 0
    while i > 0 or j > 0:
        s = S[i, j]
        steps[k] = s
        k += 1
        if s == 0:
            i -= 1
            j -= 1
        elif s == 1:
            j -= 1
        else:
            i -= 1
    return steps[:k][::-1].copy(), D[n - 1, m - 1]


_DTW = None


def _compiled():
    import numba

    return numba.njit(cache=True, nogil=True)(_banded_dtw)


def band_radius(n: int, m: int, band: float) -> float:
    """The band's half-width in reference blocks: ``band`` of the longer sequence, and never
    narrower than two steps of the slope, so the band is connected whatever the two lengths."""
    return max(band * max(n, m), 2.0 * (m - 1) / max(n - 1, 1) + 1.0)


@dataclass(frozen=True)
class Alignment:
    """One clip against one reference: ``steps`` (uint8 codes of :data:`STEP_CODES`) and the
    cost per path step (the normalised cost)."""
    steps: np.ndarray
    cost: float

    def path(self) -> np.ndarray:
        """(path length, 2) int64 pairs (clip block, reference block), from (0, 0) to the ends."""
        return steps_to_path(self.steps)


def steps_to_path(steps: np.ndarray) -> np.ndarray:
    moves = STEP_CODES[np.asarray(steps, np.int64)]
    return np.concatenate([np.zeros((1, 2), np.int64), np.cumsum(moves, axis=0)])


def align(seq: np.ndarray, ref: np.ndarray, spec: AlignSpec = AlignSpec()) -> Alignment:
    """Banded DTW of a clip's sequence against a reference sequence on ``spec.align_coeffs``."""
    global _DTW
    if _DTW is None:
        _DTW = _compiled()
    lo, hi = spec.align_coeffs
    x = np.ascontiguousarray(seq[:, lo:hi], dtype=np.float64)
    y = np.ascontiguousarray(ref[:, lo:hi], dtype=np.float64)
    if len(x) < MIN_BLOCKS or len(y) < MIN_BLOCKS:
        raise AccentError(f"cannot align sequences of {len(x)} and {len(y)} blocks: need {MIN_BLOCKS} each")
    steps, total = _DTW(x, y, band_radius(len(x), len(y), spec.band))
    return Alignment(steps, float(total) / (len(steps) + 1))


# -- many alignments and their cache -------------------------------------------------------------

@dataclass(frozen=True)
class Alignments:
    """Alignments of several clips (in row order): step codes concatenated, ``offsets`` (n + 1)."""
    steps: np.ndarray
    offsets: np.ndarray
    costs: np.ndarray

    def __len__(self) -> int:
        return len(self.costs)

    def path(self, i: int) -> np.ndarray:
        return steps_to_path(self.steps[self.offsets[i]:self.offsets[i + 1]])

    @classmethod
    def of(cls, alignments: list[Alignment]) -> "Alignments":
        offsets = np.concatenate([[0], np.cumsum([len(a.steps) for a in alignments])]).astype(np.int64)
        steps = np.concatenate([a.steps for a in alignments]) if alignments else np.zeros(0, np.uint8)
        return cls(steps.astype(np.uint8), offsets, np.array([a.cost for a in alignments], np.float32))

    @classmethod
    def concat(cls, parts: list["Alignments"]) -> "Alignments":
        steps = np.concatenate([p.steps for p in parts])
        ends = np.cumsum([p.offsets[-1] for p in parts])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + start for p, start in zip(parts, np.r_[0, ends[:-1]])])
        return cls(steps, offsets.astype(np.int64), np.concatenate([p.costs for p in parts]))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, format=np.array(FORMAT), steps=self.steps, offsets=self.offsets, costs=self.costs)
        return path

    @classmethod
    def load(cls, path: Path) -> "Alignments":
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != FORMAT:
                raise AccentError(f"{path} is not an alignment cache file: delete it and run again")
            return cls(z["steps"], z["offsets"], z["costs"])


def sequence_hash(seq: np.ndarray) -> str:
    """Content hash of a reference sequence (its identity in the cache)."""
    a = np.ascontiguousarray(seq, dtype=np.float32)
    return hashlib.sha1(repr(a.shape).encode() + a.tobytes()).hexdigest()[:16]


def store_key(store, spec: AlignSpec) -> str:
    """Folder name of a store's alignments: its feature config, its rows and the spec."""
    cols = store.index[["utt_id", "offset", "n_frames"]].to_csv(index=False)
    rows = hashlib.sha1(cols.encode()).hexdigest()[:12]
    return f"{store.config.hash()}-{rows}-{spec.key()}"


def cache_folder(store, spec: AlignSpec) -> Path:
    """Absolute, so that workers with another working directory find it."""
    return Path(store.root).resolve() / CACHE_DIR / store_key(store, spec)


def _align_shard(store_root: str, rows: list[int], refs, spec: AlignSpec, out: str) -> str:
    """Worker task: rows of a store against ``refs`` (one sequence for all, or a list with one per
    row), saved at ``out``."""
    store = FeatureStore.open(store_root)
    seqs = store_sequences(store, rows, spec)
    refs = refs if isinstance(refs, list) else [refs] * len(rows)
    Alignments.of([align(s, r, spec) for s, r in zip(seqs, refs)]).save(Path(out))
    return out


def store_alignments(store, references, spec: AlignSpec = AlignSpec(), *, executor=None,
                     n_shards: int | None = None, progress: bool = False) -> Alignments:
    """Every row of ``store`` (in index order) aligned to ``references``: one sequence for all rows
    (a passage reading) or a list with one per row (a rendering of each clip's own text).

    Cached in :func:`cache_folder` under the references' content hash; a cold call runs shards of
    rows through ``executor`` (anything with ``submit``, e.g. :func:`accent.executors.open_executor`'s
    or a Dask client; ``None`` runs them here), finished shards surviving an interruption.
    """
    per_row = isinstance(references, (list, tuple))
    refs = [np.asarray(r, np.float32) for r in (references if per_row else [references])]
    n = len(store.index)
    if per_row and len(refs) != n:
        raise AccentError(f"{len(refs)} references for a store of {n} rows: give one, or one per row")
    name = hashlib.sha1("".join(sequence_hash(r) for r in refs).encode()).hexdigest()[:16]
    folder = cache_folder(store, spec)
    final = folder / f"{'each' if per_row else 'ref'}-{name}.npz"
    if final.is_file():
        return Alignments.load(final)
    count = shard_count(n, n_workers(executor) if executor is not None else 1, n_shards, max_items=200)
    parts_dir = folder / f"{final.stem}.shards-{count}"
    shards = []
    for i in range(count):
        rows = list(range(i * n // count, (i + 1) * n // count))
        shard_refs = [refs[r] for r in rows] if per_row else refs[0]
        out = parts_dir / f"{i:05d}.npz"
        shards.append(Shard(f"{i}/{count}", (str(Path(store.root).resolve()), rows, shard_refs, spec, str(out)),
                            len(rows)))
    run_file_shards(executor, _align_shard, shards, desc="align", progress=progress)
    result = Alignments.concat([Alignments.load(Path(s.args[-1])) for s in shards])
    result.save(final)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return result
