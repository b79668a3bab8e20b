"""Recording-level embeddings of a feature store's clips, routed by backbone name, cached on disk.

Names understood by :func:`recording_embeddings`:

- ``mfcc``: MFCC statistics of the stored log-mels (:func:`accent.features.mfcc_statistics`), the
  classical baseline; cheap, computed on the fly, not cached.
- a registered backbone (:data:`accent.backbones.BACKBONES`, e.g. ``resemblyzer``, ``hubert_base@8``):
  each clip is decoded again from the index's ``path`` at the backbone's sample rate and handed to
  the backbone raw; the store's silence trimming and loudness normalisation are NOT applied,
  because each backbone brings its own preprocessing (Resemblyzer: VAD and volume; SSL models: none).
- ``accent:RUNDIR``: our own network (the one a run directory holds) on the stored log-mels, the
  mean over crops tiling each recording; the store must use the run's feature config. ``accent``
  is the same with RUNDIR given separately (``--source``): both spellings take the same path.
- several names joined with ``+`` (``mfcc+resemblyzer``): their vectors concatenated, see
  :func:`fused_features`.

Vectors are not standardised here: fusion puts blocks with very different scales side by side, so
the classifier pipeline must standardise (``StandardScaler`` fit on the training rows only, then
the classifier), which also keeps test statistics out of training.

Cache: ``FEATDIR/embeddings/<name>-<key>.npz``, where ``key`` hashes the backbone fingerprint
(weights and settings), the store's ``config_hash`` and its ``index.csv`` clip identity columns
(utt_id, path, offset, n_frames: a new split or label column keeps the cache). Any change gives a
new key; the previous file is then removed, after its rows that are still valid
(same backbone, same feature config, same ``utt_id``/``path``/``n_frames``) were carried over, so
extending a store only embeds the new clips. The file is rewritten atomically every
``SAVE_EVERY_S`` seconds and when the loop ends (also on Ctrl-C), so an interrupted run resumes.
A clip that cannot be embedded (``AudioError``) is recorded as failed with its reason, gets a NaN
row, and is reported in one warning; it is not retried until the cache is invalidated.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import torch

from accent.audio import load_audio
from accent.backbones import Backbone, get_backbone
from accent.backbones.base import file_sha1
from accent.backbones.names import ACCENT, ACCENT_PREFIX, MFCC, fusion_parts
from accent.checkpoint import checkpoint_file, load_run_checkpoint
from accent.errors import AccentError, AudioError
from accent.features import FeatureConfig, check_feature_config, crop_frames, mfcc_statistics
from accent.featurize import featurize_clip
from accent.fileio import atomic_path
from accent.models import is_waveform_config, network_from_checkpoint
from accent.models.outputs import MAX_EVAL_CROPS, eval_crops, predict_logprobs, recording_outputs
from accent.models.waveform import EVAL_CROP_S, decode
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.store import FeatureStore

CACHE_DIR = "embeddings"
SAVE_EVERY_S = 60.0
PENDING, DONE, FAILED = 0, 1, 2
FAILURES_SHOWN = 3
KEY_CHARS = 12
IDENTITY_COLUMNS = ("utt_id", "path", "offset", "n_frames")


def open_store(store) -> FeatureStore:
    """A FEATDIR path is opened; a FeatureStore, or a view of one with the same rows (anything with
    ``root``, ``index``, ``config`` and ``frames(i)``, e.g. transfer's StoreView), is used as is."""
    if isinstance(store, (str, Path)):
        return FeatureStore.open(store)
    return store


def store_identity(store: FeatureStore) -> tuple[str, str]:
    """(feature config hash, hash of the index's clip identity columns): which clips, which features.

    Only ``IDENTITY_COLUMNS`` of index.csv enter the hash: relabelling or re-splitting a store
    changes no embedding, so it keeps the cache; adding, removing or re-featurizing a clip does not.
    """
    rows = store.index[list(IDENTITY_COLUMNS)].astype(str).to_csv(index=False)
    return store.config.hash(), hashlib.sha1(rows.encode("utf-8")).hexdigest()


def _row_keys(store: FeatureStore) -> np.ndarray:
    """What must match for a cached vector to be reused for a store row."""
    idx = store.index
    return np.array([f"{u}\t{p}\t{n}" for u, p, n in zip(idx["utt_id"], idx["path"], idx["n_frames"])], dtype=str)


def _positions(store: FeatureStore, rows) -> np.ndarray:
    """Row positions in ``store.index``: None (all), integer positions, a boolean mask, or a
    DataFrame/Series taken from ``store.index`` (its index labels are the positions)."""
    if rows is None:
        return np.arange(len(store.index))
    if isinstance(rows, (pd.DataFrame, pd.Series)) and not pd.api.types.is_bool_dtype(getattr(rows, "dtype", None)):
        rows = rows.index
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if len(arr) != len(store.index):
            raise AccentError(f"row mask has {len(arr)} entries; the store {store.root} has {len(store.index)} rows")
        return np.flatnonzero(arr)
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= len(store.index)):
        raise AccentError(f"row positions must be in 0..{len(store.index) - 1} for store {store.root}")
    return arr


# -- embedding sources -------------------------------------------------------------------------

class _AudioSource:
    """A registered backbone: decode the clip at the backbone's rate, embed the raw waveform."""

    batched = False

    def __init__(self, spec):
        if isinstance(spec, Backbone):
            self.backbone, self.spec = spec, spec.name
        else:
            self.backbone, self.spec = get_backbone(spec), spec
        self.fingerprint = self.backbone.fingerprint
        self.cache_name = re.sub(r"[^A-Za-z0-9_.]+", "_", self.spec)

    def embed(self, store: FeatureStore, i: int) -> np.ndarray:
        return self.embed_file(store.index["path"].iat[i])

    def embed_file(self, path: str | Path) -> np.ndarray:
        return self.backbone.embed_waveform(load_audio(path, self.backbone.sample_rate))


class _NetworkSource:
    """Our network (pretrain, finetune, scratch or extract run): its embedding of the stored
    log-mels of each clip, computed for many rows at once (:attr:`batched`). A run whose network is
    a fine-tuned waveform backbone (``accent pretrain --init resemblyzer``) embeds each clip's audio
    instead: the mean of its encoder's embeddings over evenly spaced crops."""

    def __init__(self, spec: str, store=None):
        rundir = Path(spec[len(ACCENT_PREFIX):]).expanduser()
        if not rundir.exists():
            raise AccentError(f"run directory {rundir} not found: train one with `accent pretrain --out {rundir}`")
        ckpt = load_run_checkpoint(rundir)  # a run directory or an exported model file
        if ckpt.get("state_dict") is None:
            raise AccentError(f"run {rundir} holds no network to embed with (mode {ckpt.get('mode')}, "
                              f"backbone {ckpt.get('backbone') or 'accent'})")
        self.model = network_from_checkpoint(ckpt)
        self.waveform = is_waveform_config(ckpt.get("model_config"))
        self.batched = not self.waveform
        if self.waveform:
            self.backbone = get_backbone(ckpt["model_config"]["backbone"], random_init=True)  # preprocessing only
        self.feature_config = FeatureConfig.from_dict(ckpt["feature_config"])
        self.crop_frames = int(ckpt.get("crop_frames") or crop_frames(3.0, self.feature_config))
        if store is not None:
            check_feature_config(self.feature_config, store.config, store.root)
        self.spec = spec
        self.fingerprint = f"accent-{file_sha1(checkpoint_file(rundir))}"
        where = hashlib.sha1(str(rundir.resolve()).encode()).hexdigest()[:8]
        self.cache_name = f"accent_{re.sub(r'[^A-Za-z0-9_.]+', '_', rundir.resolve().name)}_{where}"

    def embed(self, store: FeatureStore, i: int) -> np.ndarray:
        return self.embed_file(store.index["path"].iat[i])

    def embed_file(self, path: str | Path) -> np.ndarray:
        """A waveform network's embedding of one audio file; AudioError for an unusable clip."""
        wave = decode(self.backbone, str(path))
        crops = torch.from_numpy(eval_crops(wave, int(EVAL_CROP_S * self.backbone.sample_rate), MAX_EVAL_CROPS))
        with torch.no_grad():
            return self.model.embed(crops).mean(0).numpy().astype(np.float32)

    def embed_rows(self, store, rows: np.ndarray) -> np.ndarray:
        if self.waveform:  # the cached path calls embed() per clip; this is a report's uncached sample
            return np.stack([self.embed(store, int(i)) for i in rows])
        return recording_outputs(self.model, store, rows, self.crop_frames, torch.device("cpu"), embed=True)

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        """One recording's log-mels (frames, n_mels) -> its embedding."""
        return predict_logprobs(self.model, [eval_crops(logmel, self.crop_frames)], torch.device("cpu"), embed=True)[0]


def network_spec(name: str, source=None) -> str:
    """``accent`` -> ``accent:SOURCE``: the two spellings of our network, made one."""
    if name == ACCENT:
        if source is None:
            raise AccentError("backbone 'accent' needs --source RUNDIR (a run written by `accent pretrain`)")
        return f"{ACCENT_PREFIX}{source}"
    return name


def _source(spec, store=None):
    if isinstance(spec, str) and spec.startswith(ACCENT_PREFIX):
        return _NetworkSource(spec, store)
    return _AudioSource(spec)


# -- cache -------------------------------------------------------------------------------------

class EmbeddingCache:
    """Vectors of every store row for one backbone; ``status`` is PENDING, DONE or FAILED per row."""

    def __init__(self, folder: Path, name: str, key: str, meta: dict, keys: np.ndarray):
        self.folder = folder
        self.name = name
        self.path = folder / f"{name}-{key}.npz"
        self.meta = meta
        self.keys = keys
        self.status = np.full(len(keys), PENDING, np.int8)
        self.reasons = np.full(len(keys), "", dtype=object)
        self.X: np.ndarray | None = None
        self.read_only = False

    @classmethod
    def for_store(cls, store: FeatureStore, source) -> "EmbeddingCache":
        config_hash, index_sha1 = store_identity(store)
        key = hashlib.sha1(f"{source.fingerprint}|{config_hash}|{index_sha1}".encode()).hexdigest()[:KEY_CHARS]
        meta = {"backbone": source.spec, "fingerprint": source.fingerprint, "config_hash": config_hash,
                "index_sha1": index_sha1}
        cache = cls(store.root / CACHE_DIR, source.cache_name, key, meta, _row_keys(store))
        if cache.path.is_file():
            cache._adopt(cache.path)
        else:
            for old in cache.stale_siblings():
                cache._adopt(old)
        return cache

    def stale_siblings(self) -> list[Path]:
        """This backbone's cache files for earlier versions of the store (or of the backbone)."""
        pattern = re.compile(rf"{re.escape(self.name)}-[0-9a-f]{{{KEY_CHARS}}}\.npz")
        return [p for p in sorted(self.folder.glob(f"{self.name}-*.npz"))
                if pattern.fullmatch(p.name) and p != self.path]

    def _adopt(self, path: Path) -> None:
        """Copy the rows of another cache file that are valid here (same backbone and features)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if (meta.get("fingerprint"), meta.get("config_hash")) != (self.meta["fingerprint"], self.meta["config_hash"]):
                    return
                where = {k: j for j, k in enumerate(data["keys"].tolist())}
                status, reasons, X = data["status"], data["reasons"], data["X"]
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return  # unreadable cache (torn copy, old format): recompute
        for i, k in enumerate(self.keys.tolist()):
            j = where.get(k)
            if j is None or status[j] == PENDING:
                continue
            if status[j] == DONE:
                self.put(i, X[j])
            else:
                self.fail(i, str(reasons[j]))

    def put(self, i: int, vector: np.ndarray) -> None:
        vector = np.asarray(vector, np.float32).reshape(-1)
        if self.X is None:
            self.X = np.full((len(self.keys), vector.size), np.nan, np.float32)
        self.X[i] = vector
        self.status[i] = DONE

    def fail(self, i: int, reason: str) -> None:
        self.status[i] = FAILED
        self.reasons[i] = reason

    def save(self) -> None:
        """Atomic rewrite (tmp file + rename), then removal of this backbone's stale cache files.
        A store the user cannot write to (shared, read-only data) keeps the vectors in memory only."""
        if self.read_only:
            return
        X = self.X if self.X is not None else np.zeros((len(self.keys), 0), np.float32)
        try:
            with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, meta=np.array(json.dumps(self.meta)), keys=self.keys, status=self.status,
                         reasons=self.reasons.astype(str), X=X)
        except PermissionError as exc:
            self.read_only = True
            warnings.warn(f"embedding cache not saved ({exc.strerror}: {self.folder}): the vectors are kept for "
                          "this process only", stacklevel=3)
            return
        for old in self.stale_siblings():
            old.unlink(missing_ok=True)

    def vectors(self, positions: np.ndarray, dim: int | None) -> np.ndarray:
        if self.X is None:
            return np.full((len(positions), dim or 0), np.nan, np.float32)
        return self.X[positions]


def _fill(cache: EmbeddingCache, source, store: FeatureStore, todo: list[int], progress: bool) -> None:
    if todo and source.batched:  # a network embeds the whole store at once: cheap, and reused by every run
        todo = np.flatnonzero(cache.status == PENDING)
        for i, vector in zip(todo, source.embed_rows(store, todo)):
            cache.put(int(i), vector)
        cache.save()
        return
    last_save = time.monotonic()
    try:
        for i in tqdm(todo, desc=f"embed {source.spec}", unit="clip", file=sys.stderr,
                      disable=not progress or not todo, dynamic_ncols=True):
            try:
                cache.put(i, source.embed(store, i))
            except AudioError as exc:
                cache.fail(i, str(exc))
            if time.monotonic() - last_save >= SAVE_EVERY_S:
                cache.save()
                last_save = time.monotonic()
    finally:
        if todo:
            cache.save()


def _warn_failures(spec: str, store: FeatureStore, cache: EmbeddingCache, positions: np.ndarray) -> None:
    failed = [int(i) for i in np.unique(positions) if cache.status[i] == FAILED]
    if not failed:
        return
    shown = "; ".join(f"{store.index['utt_id'].iat[i]}: {cache.reasons[i]}" for i in failed[:FAILURES_SHOWN])
    more = f" (+{len(failed) - FAILURES_SHOWN} more)" if len(failed) > FAILURES_SHOWN else ""
    warnings.warn(f"{spec}: {len(failed)} recording(s) could not be embedded and have NaN rows: {shown}{more}",
                  stacklevel=3)


# -- public API --------------------------------------------------------------------------------

def recording_embeddings(backbone_name, store, rows=None, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """Embeddings of the store's recordings: (utt_ids, X float32 (len(rows), dim)), rows in the
    order given. ``backbone_name`` is a name (module docstring) or a Backbone instance; ``store`` a
    FeatureStore or FEATDIR; ``rows`` as in :func:`_positions`. Recordings that could not be
    embedded have NaN rows (drop them before fitting)."""
    if isinstance(backbone_name, str) and len(fusion_parts(backbone_name)) > 1:
        return fused_features(store, fusion_parts(backbone_name), rows=rows, progress=progress)
    store = open_store(store)
    positions = _positions(store, rows)
    utt_ids = store.index["utt_id"].iloc[positions].tolist()
    if backbone_name == MFCC:
        X = [mfcc_statistics(np.asarray(store.frames(int(i)), np.float32)) for i in positions]
        if not X:
            return utt_ids, np.zeros((0, mfcc_statistics(np.zeros((2, store.n_mels), np.float32)).size), np.float32)
        return utt_ids, np.stack(X).astype(np.float32)
    source = _source(backbone_name, store)
    cache = EmbeddingCache.for_store(store, source)
    todo = [int(i) for i in np.unique(positions) if cache.status[i] == PENDING]
    _fill(cache, source, store, todo, progress)
    _warn_failures(source.spec, store, cache, positions)
    return utt_ids, cache.vectors(positions, getattr(getattr(source, "backbone", None), "dim", None))


def fused_features(store, names: list[str], rows=None, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """Several backbones' vectors side by side (in ``names`` order), e.g. ``["mfcc", "resemblyzer"]``.
    A row is NaN wherever any part failed. Standardise before fitting (see the module docstring)."""
    names = [n.strip() if isinstance(n, str) else n for n in names]
    names = [n for n in names if not isinstance(n, str) or n]
    if not names:
        raise AccentError("fusion needs at least one backbone name, e.g. mfcc+resemblyzer")
    store = open_store(store)
    parts = [recording_embeddings(name, store, rows=rows, progress=progress) for name in names]
    return parts[0][0], np.concatenate([X for _, X in parts], axis=1)


def embed_rows(backbone: str, store, rows: np.ndarray, source=None, progress: bool = False) -> np.ndarray:
    """Recording-level features (rows x dim) of store rows for a run's ``backbone`` setting: THE hook
    where backbones plug in. ``accent`` is the network of run ``source`` (as ``accent:SOURCE``);
    ``a+b`` concatenates the parts (standardised later by the classifier). Rows a backbone could not
    embed are NaN."""
    blocks = [recording_embeddings(network_spec(part, source), store, rows=rows, progress=progress)[1]
              for part in fusion_parts(backbone)]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def audio_embedding(backbone_name: str, path: str | Path, feature_config=None, source=None) -> np.ndarray:
    """One audio file's vector for the same names as :func:`embed_rows`, without a store (for
    ``accent predict``). ``mfcc`` and our network compute the log-mels exactly as featurize stores
    them, with ``feature_config`` (a FeatureConfig; default: the network's config, else the
    defaults). Raises AudioError for an unusable file."""
    parts = fusion_parts(backbone_name)
    if len(parts) > 1:
        return np.concatenate([audio_embedding(name, path, feature_config, source) for name in parts]).astype(np.float32)
    spec = network_spec(backbone_name, source)
    if spec == MFCC or spec.startswith(ACCENT_PREFIX):
        network = _NetworkSource(spec) if spec.startswith(ACCENT_PREFIX) else None
        if network is not None and network.waveform:
            return network.embed_file(path)
        cfg = feature_config or (network.feature_config if network is not None else FeatureConfig())
        logmel, _ = featurize_clip(path, cfg)  # the stored definition, float16 rounding and checks included
        vector = mfcc_statistics(logmel) if network is None else network.embed_logmel(np.asarray(logmel, np.float32))
        return np.asarray(vector, np.float32)
    return _AudioSource(spec).embed_file(path)


def network_embeddings(spec: str, store, rows: np.ndarray, source=None) -> np.ndarray:
    """Our network's embeddings of a few store rows, computed now and not cached (a report's sample
    of a large store): the same computation as the cached path."""
    store = open_store(store)
    return _NetworkSource(network_spec(spec, source), store).embed_rows(store, np.asarray(rows))


def embedding_failures(backbone_name: str, store) -> pd.DataFrame:
    """utt_id, path, reason of the clips a backbone's cache records as failed (for reports)."""
    store = open_store(store)
    cache = EmbeddingCache.for_store(store, _source(backbone_name, store))
    failed = np.flatnonzero(cache.status == FAILED)
    return pd.DataFrame({"utt_id": store.index["utt_id"].iloc[failed].tolist(),
                         "path": store.index["path"].iloc[failed].tolist(),
                         "reason": cache.reasons[failed].tolist()})
