"""The feature store: log-mel frames of every clip in one flat, memory-mapped float16 file.

Layout of FEATDIR (see docs/architecture.md):

    store.json    format, feature config and its hash, sizes, labels, ``complete`` flag
    frames.f16    float16 array (total_frames, n_mels), C order (time-major), append-only
    index.csv     one row per clip kept: utt_id,label,speaker,split,offset,n_frames,path,duration_s,...
    stats.npz     per-bin mean and std (float32) over train-split frames
    errors.csv    utt_id,path,reason of the clips skipped
    journal.jsonl one line per processed clip (kept or skipped), written after its frames are on disk
    README.md     what the files are

Training reads random fixed-length crops through :class:`FeatureStore` without loading the store
into memory. :class:`StoreWriter` appends clips and survives ``kill -9``: a clip counts only once
its journal line is on disk, and that line is written after the frames are fsync'ed, so a resumed
run truncates ``frames.f16`` to the end of the last journaled clip and continues from there.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from accent import __version__
from accent.errors import AccentError
from accent.fileio import atomic_path, write_csv_atomic, write_json_atomic, write_text_atomic
from accent.features import STD_FLOOR, FeatureConfig

FORMAT = "accent-store/1"
DTYPE = np.float16
STORE_JSON = "store.json"
FRAMES_FILE = "frames.f16"
INDEX_FILE = "index.csv"
STATS_FILE = "stats.npz"
ERRORS_FILE = "errors.csv"
JOURNAL_FILE = "journal.jsonl"
README_FILE = "README.md"

INDEX_COLUMNS = ["utt_id", "label", "speaker", "split", "offset", "n_frames", "path", "duration_s",
                 "corpus", "text"]
ERROR_COLUMNS = ["utt_id", "path", "reason"]


def _featurize_hint(root: Path) -> str:
    return f"run `accent featurize --manifest MANIFEST.csv --out {root}`"


def read_store_json(root: Path) -> dict | None:
    """store.json as a dict, or None when the folder holds no store yet."""
    path = root / STORE_JSON
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AccentError(f"{path} is not valid JSON: delete {root} and {_featurize_hint(root)}") from None
    if meta.get("format") != FORMAT:
        raise AccentError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}; {_featurize_hint(root)} into a new folder")
    return meta


def frames_memmap(root: Path, n_frames: int, n_mels: int) -> np.ndarray:
    """The frames file as a read-only (n_frames, n_mels) float16 array; empty stores give an empty array."""
    if n_frames == 0:
        return np.zeros((0, n_mels), dtype=DTYPE)
    return np.memmap(root / FRAMES_FILE, dtype=DTYPE, mode="r", shape=(n_frames, n_mels))


def read_index(path: Path) -> pd.DataFrame:
    index = pd.read_csv(path, dtype=str, keep_default_na=False)
    index["offset"] = index["offset"].astype(np.int64)
    index["n_frames"] = index["n_frames"].astype(np.int64)
    index["duration_s"] = pd.to_numeric(index["duration_s"], errors="coerce")
    return index


def crop_at(frames: np.ndarray, start: int, n: int) -> np.ndarray:
    """``n`` frames of one clip from ``start`` as float32; a clip shorter than ``n`` is read
    cyclically (tiled), so every crop has the same shape and holds only that clip's frames."""
    length = len(frames)
    if length >= n:
        return np.asarray(frames[start:start + n], dtype=np.float32)
    return np.asarray(frames[(start + np.arange(n)) % length], dtype=np.float32)


class FeatureStore:
    """Read-only view of a complete FEATDIR: index, config, normalisation stats and frames."""

    def __init__(self, root: Path, meta: dict, index: pd.DataFrame, mean: np.ndarray, std: np.ndarray,
                 frames: np.ndarray):
        self.root = root
        self.meta = meta
        self.config = FeatureConfig.from_dict(meta["config"])
        self.index = index
        self.labels = sorted(index["label"].unique().tolist())
        self.mean = mean
        self.std = std
        self.n_mels = int(meta["n_mels"])
        self._frames = frames
        self._offsets = index["offset"].to_numpy(np.int64)
        self._lengths = index["n_frames"].to_numpy(np.int64)

    @classmethod
    def open(cls, root: str | Path) -> "FeatureStore":
        root = Path(root)
        if not root.is_dir():
            raise AccentError(f"feature store {root} not found: {_featurize_hint(root)}")
        meta = read_store_json(root)
        if meta is None:
            raise AccentError(f"{root} holds no feature store (no {STORE_JSON}): {_featurize_hint(root)}")
        missing = [f for f in (FRAMES_FILE, INDEX_FILE, STATS_FILE) if not (root / f).is_file()]
        if not meta.get("complete") or missing:
            raise AccentError(f"feature store {root} is incomplete (interrupted featurize?): "
                              f"{_featurize_hint(root)} again to finish it")
        n_frames, n_mels = int(meta["n_frames"]), int(meta["n_mels"])
        expected = n_frames * n_mels * np.dtype(DTYPE).itemsize
        if (root / FRAMES_FILE).stat().st_size < expected:
            raise AccentError(f"{root / FRAMES_FILE} is shorter than store.json says ({expected} bytes): "
                              f"delete {root} and {_featurize_hint(root)}")
        index = read_index(root / INDEX_FILE)
        with np.load(root / STATS_FILE) as stats:
            mean, std = stats["mean"].astype(np.float32), stats["std"].astype(np.float32)
        return cls(root, meta, index, mean, std, frames_memmap(root, n_frames, n_mels))

    def __len__(self) -> int:
        return len(self.index)

    def frames(self, i: int) -> np.ndarray:
        """Row ``i`` of :attr:`index` as a float16 (n_frames, n_mels) view of the memory map."""
        start = self._offsets[i]
        return self._frames[start:start + self._lengths[i]]

    def crop(self, i: int, n: int, rng: np.random.Generator) -> np.ndarray:
        """A random ``n``-frame window of clip ``i`` as float32 (n, n_mels).

        A clip shorter than ``n`` is read cyclically from a random start (tiled), so every crop has
        the same shape and still holds only that clip's frames.
        """
        frames = self.frames(i)
        length = len(frames)
        start = int(rng.integers(0, length - n + 1 if length >= n else length))
        return crop_at(frames, start, n)


class StoreView:
    """A feature store with a replacement index (same rows, other ``split`` values): folds and
    subsampled training sets reuse the memory map without copying frames."""

    def __init__(self, store: FeatureStore, index: pd.DataFrame):
        self._store = store
        self.index = index
        self.config, self.mean, self.std, self.n_mels = store.config, store.mean, store.std, store.n_mels
        self.labels, self.root = store.labels, store.root

    def frames(self, i: int) -> np.ndarray:
        return self._store.frames(i)


def read_frames(fh, offset: int, n_frames: int, n_mels: int) -> np.ndarray:
    """Frames ``[offset, offset + n_frames)`` read from an open frames file, as a fresh float16 array.

    Whole-store passes (statistics, merging) read through a file handle instead of the memory map:
    pages of a map count as resident memory of the process, so a pass over a large store through
    ``np.memmap`` would make peak memory grow with the corpus.
    """
    row_bytes = n_mels * np.dtype(DTYPE).itemsize
    fh.seek(offset * row_bytes)
    data = fh.read(n_frames * row_bytes)
    return np.frombuffer(data, dtype=DTYPE).reshape(n_frames, n_mels)


def train_stats(root: Path, n_mels: int, index: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-bin mean and std over train-split frames (all frames when there is no train row).

    Sums run in float64 in index order, so two stores with the same frames and index (a single
    run and merged shards) get bit-identical statistics. Returns (mean, std, rows_used).
    """
    train = index["split"] == "train"
    used = "train" if train.any() else "all"
    rows = index[train] if train.any() else index
    total = np.zeros(n_mels, np.float64)
    total_sq = np.zeros(n_mels, np.float64)
    count = 0
    with open(root / FRAMES_FILE, "rb") as fh:
        for offset, length in zip(rows["offset"].to_numpy(np.int64), rows["n_frames"].to_numpy(np.int64)):
            x = read_frames(fh, int(offset), int(length), n_mels).astype(np.float64)
            total += x.sum(axis=0)
            total_sq += np.square(x).sum(axis=0)
            count += int(length)
    if count == 0:
        return np.zeros(n_mels, np.float32), np.ones(n_mels, np.float32), used
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32), used


def manifest_hash(df: pd.DataFrame) -> str:
    """Content hash of a manifest (or shard of one): a rerun with the same hash has nothing to do."""
    return hashlib.sha1(df.to_csv(index=False).encode("utf-8")).hexdigest()[:12]


README_TEXT = """# Feature store ({fmt})

Log-mel spectrograms written by `accent featurize` (accent {version}).

- `frames.f16`: raw float16 array, shape (total_frames, n_mels) = ({n_frames}, {n_mels}), C order
  (time-major). Read with `np.memmap(path, dtype=np.float16, mode="r", shape=(n_frames, n_mels))`.
- `index.csv`: one row per clip kept ({n_utts}); clip i is `frames[offset:offset + n_frames]`.
- `stats.npz`: `mean`, `std` float32 (n_mels,) over the frames of {stats_rows} rows (for input normalisation).
- `errors.csv`: clips skipped and why ({n_errors}).
- `store.json`: the feature config (hash `{config_hash}`), sizes and labels; `"complete": true` once finished.
- `journal.jsonl`: one line per processed clip; lets an interrupted or extended run resume.

Open it from Python with `accent.store.FeatureStore.open("{root}")`.
"""


class StoreWriter:
    """Appends clips to a FEATDIR; resumes an interrupted run; never mixes two feature configs.

    Commits are batched: ``append`` and ``skip`` buffer journal lines; :meth:`commit` fsyncs the
    frames, then writes and fsyncs the buffered journal lines. Anything after the last committed
    clip is discarded on the next open.
    """

    def __init__(self, root: str | Path, cfg: FeatureConfig, extra_meta: dict | None = None):
        self.root = Path(root)
        self.cfg = cfg
        self.extra_meta = dict(extra_meta or {})
        self.root.mkdir(parents=True, exist_ok=True)
        existing = read_store_json(self.root)
        if existing is not None and existing.get("config_hash") != cfg.hash():
            raise AccentError(f"{self.root} holds features with another config (hash {existing.get('config_hash')}, "
                              f"now {cfg.hash()}): choose a new --out folder so the two are never mixed")
        if existing is None and ((self.root / JOURNAL_FILE).exists() or (self.root / FRAMES_FILE).exists()):
            raise AccentError(f"{self.root} has {FRAMES_FILE} or {JOURNAL_FILE} but no {STORE_JSON}: "
                              "it was not written by `accent featurize`; choose an empty --out folder")
        self.previous_meta = existing
        if existing is None:
            self.mark_incomplete()
        self.done: dict[tuple[str, str], dict] = self._read_journal()
        self.end = max((e["offset"] + e["n_frames"] for e in self.done.values() if "offset" in e), default=0)
        self._pending: list[str] = []
        self._open_files()

    # -- journal -------------------------------------------------------------------------------
    def _read_journal(self) -> dict[tuple[str, str], dict]:
        """Committed entries by (utt_id, path); a torn last line (no newline) is ignored."""
        path = self.root / JOURNAL_FILE
        done: dict[tuple[str, str], dict] = {}
        if not path.is_file():
            return done
        raw = path.read_bytes()
        complete = raw[:raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            with open(path, "r+b") as fh:
                fh.truncate(len(complete))
        for line in complete.decode("utf-8").splitlines():
            entry = json.loads(line)
            done[(entry["utt_id"], entry["path"])] = entry
        return done

    def _open_files(self) -> None:
        frames_path = self.root / FRAMES_FILE
        frames_path.touch()
        self._frames = open(frames_path, "r+b")
        self._frames.truncate(self.end * self.cfg.n_mels * np.dtype(DTYPE).itemsize)
        self._frames.seek(0, os.SEEK_END)
        self._journal = open(self.root / JOURNAL_FILE, "ab")

    def is_done(self, utt_id: str, path: str) -> bool:
        return (utt_id, path) in self.done

    def mark_incomplete(self) -> None:
        """Written before any append, so a reader never trusts a store that is being extended."""
        meta = {"format": FORMAT, "config": self.cfg.to_dict(), "config_hash": self.cfg.hash(),
                "n_mels": self.cfg.n_mels, "dtype": "float16", "complete": False, **self.extra_meta}
        write_json_atomic(self.root / STORE_JSON, meta)

    def append(self, utt_id: str, path: str, frames: np.ndarray, duration_s: float) -> None:
        frames = np.ascontiguousarray(frames, dtype=DTYPE)
        if frames.ndim != 2 or frames.shape[1] != self.cfg.n_mels:
            raise ValueError(f"frames for {utt_id} have shape {frames.shape}, expected (n, {self.cfg.n_mels})")
        self._frames.write(frames.tobytes())
        entry = {"utt_id": utt_id, "path": path, "offset": self.end, "n_frames": int(len(frames)),
                 "duration_s": round(float(duration_s), 4)}
        self.end += len(frames)
        self._stage(entry)

    def skip(self, utt_id: str, path: str, reason: str) -> None:
        self._stage({"utt_id": utt_id, "path": path, "error": reason})

    def _stage(self, entry: dict) -> None:
        self.done[(entry["utt_id"], entry["path"])] = entry
        self._pending.append(json.dumps(entry, ensure_ascii=False) + "\n")

    def commit(self) -> None:
        if not self._pending:
            return
        self._frames.flush()
        os.fsync(self._frames.fileno())
        self._journal.write("".join(self._pending).encode("utf-8"))
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._pending.clear()

    def close(self) -> None:
        self.commit()
        self._frames.close()
        self._journal.close()

    # -- finishing -----------------------------------------------------------------------------
    def finish(self, manifest: pd.DataFrame, meta: dict | None = None) -> dict:
        """Write index.csv, errors.csv, stats.npz, README.md and store.json (complete) atomically.

        Rows come from ``manifest`` in its order; frames are found by (utt_id, path) in the journal.
        """
        self.close()
        kept_rows, error_rows = [], []
        for row in manifest.to_dict("records"):
            entry = self.done.get((row["utt_id"], row["path"]))
            if entry is None:
                continue
            if "error" in entry:
                error_rows.append({"utt_id": row["utt_id"], "path": row["path"], "reason": entry["error"]})
            else:
                kept_rows.append({**row, "offset": entry["offset"], "n_frames": entry["n_frames"],
                                  "duration_s": entry["duration_s"]})
        extras = [c for c in manifest.columns if c not in INDEX_COLUMNS]
        index = pd.DataFrame(kept_rows, columns=INDEX_COLUMNS + extras)
        errors = pd.DataFrame(error_rows, columns=ERROR_COLUMNS)
        return write_store_files(self.root, self.cfg, index, errors, self.end, {**self.extra_meta, **(meta or {})})


def write_store_files(root: Path, cfg: FeatureConfig, index: pd.DataFrame, errors: pd.DataFrame,
                      total_frames: int, extra_meta: dict) -> dict:
    """Finish a store whose frames.f16 is in place: stats, index, errors, README, then store.json."""
    mean, std, stats_rows = train_stats(root, cfg.n_mels, index)
    with atomic_path(root / STATS_FILE) as tmp, open(tmp, "wb") as fh:  # a file object: savez adds no .npz
        np.savez(fh, mean=mean, std=std)
    write_csv_atomic(index, root / INDEX_FILE)
    write_csv_atomic(errors, root / ERRORS_FILE)
    meta = {"format": FORMAT, "config": cfg.to_dict(), "config_hash": cfg.hash(),
            "n_utts": int(len(index)), "n_frames": int(total_frames), "n_mels": cfg.n_mels,
            "dtype": "float16", "labels": sorted(index["label"].unique().tolist()),
            "n_errors": int(len(errors)), "stats_rows": stats_rows,
            "hours": round(float(pd.to_numeric(index["duration_s"]).sum()) / 3600, 4),
            "accent_version": __version__, **extra_meta, "complete": True}
    if stats_rows == "all":
        meta["stats_note"] = "no train rows: mean/std computed over all rows"
    write_text_atomic(root / README_FILE, README_TEXT.format(
        fmt=FORMAT, version=__version__, n_frames=total_frames, n_mels=cfg.n_mels, n_utts=len(index),
        stats_rows=stats_rows, n_errors=len(errors), config_hash=cfg.hash(), root=root))
    write_json_atomic(root / STORE_JSON, meta)
    return meta
