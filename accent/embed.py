"""`accent embed`: fill a store's embedding cache for a backbone, here or on many machines.

Transfer runs and curves read backbone embeddings from ``FEATDIR/embeddings/`` (see
:mod:`accent.embeddings`) and compute the missing ones one clip after another. For a large corpus,
``accent embed --features FEATDIR --backbone NAME --executor dask --scheduler ADDRESS`` computes
them first, in shards on any executor (:mod:`accent.executors`):

- the clips still pending in the cache are cut into shards; a worker opens the store, loads the
  backbone once, embeds its shard and writes ``embeddings/shards/<cache>/<hash>.npz``;
- the driver copies each finished shard into the cache, saved atomically at most every
  ``SAVE_EVERY_S`` seconds and at the end; a shard file is removed only once the cache holding it
  is on disk, and a rerun adopts the shard files an interrupted run left behind;
- a shard whose worker dies is submitted again; clips a backbone cannot use are recorded as failed,
  exactly as in the one-process path, so the cache is the same whichever executor filled it.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from accent.embeddings import (DONE, FAILED, MFCC, PENDING, SAVE_EVERY_S, EmbeddingCache, _source,
                               fusion_parts, open_store, recording_embeddings)
from accent.errors import AccentError, AudioError
from accent.executors import (Shard, add_executor_options, n_workers, open_executor, relax_malloc_trim, run_shards,
                              shard_count)
from accent.fileio import atomic_path
from accent.store import FeatureStore

SHARDS_DIR = "shards"
MAX_SHARD_CLIPS = 500


def _embed_shard(spec, featdir: str, positions: np.ndarray, out_file: str) -> str:
    """Worker task: embed the store rows ``positions`` with backbone ``spec`` into ``out_file``."""
    relax_malloc_trim()
    store = FeatureStore.open(featdir)
    source = _source(spec, store)
    status = np.full(len(positions), DONE, np.int8)
    reasons = np.full(len(positions), "", dtype=object)
    vectors: list[np.ndarray | None] = []
    for j, i in enumerate(positions):
        try:
            vectors.append(np.asarray(source.embed(store, int(i)), np.float32).reshape(-1))
        except AudioError as exc:
            status[j], reasons[j] = FAILED, str(exc)
            vectors.append(None)
    dim = next((v.size for v in vectors if v is not None), 0)
    X = np.stack([v if v is not None else np.full(dim, np.nan, np.float32) for v in vectors]) \
        if vectors else np.zeros((0, dim), np.float32)
    with atomic_path(Path(out_file)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, positions=np.asarray(positions, np.int64), status=status, reasons=reasons.astype(str), X=X)
    return out_file


def _adopt_shard(cache: EmbeddingCache, path: Path) -> bool:
    """Copy a finished shard file into the cache; False if it is unreadable (torn: recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            positions, status, reasons, X = data["positions"], data["status"], data["reasons"], data["X"]
    except (OSError, ValueError, KeyError):
        return False
    for j, i in enumerate(positions.tolist()):
        if status[j] == DONE:
            cache.put(i, X[j])
        else:
            cache.fail(i, str(reasons[j]))
    return True


def fill_cache(spec, store, executor, *, n_shards: int | None = None, progress: bool = True) -> dict:
    """Embed every pending clip of ``store`` with backbone ``spec`` through ``executor``.

    Returns counts: ``clips``, ``reused`` (already in the cache), ``embedded``, ``failed``.
    """
    store = open_store(store)
    source = _source(spec, store)
    cache = EmbeddingCache.for_store(store, source)
    folder = cache.folder / SHARDS_DIR / cache.path.stem
    leftovers = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    adopted = [p for p in leftovers if _adopt_shard(cache, p)]
    reused = int(np.sum(cache.status != PENDING))
    todo = np.flatnonzero(cache.status == PENDING)
    pending_files: list[Path] = list(adopted)
    last_save = time.monotonic()

    def save() -> None:
        cache.save()
        for path in pending_files:
            path.unlink(missing_ok=True)
        pending_files.clear()

    def on_result(shard: Shard, out_file: str) -> None:
        nonlocal last_save
        if not _adopt_shard(cache, Path(out_file)):
            raise AccentError(f"{out_file}: shard result unreadable; rerun `accent embed` to recompute it")
        pending_files.append(Path(out_file))
        if time.monotonic() - last_save >= SAVE_EVERY_S:
            save()
            last_save = time.monotonic()

    try:
        if len(todo):
            folder.mkdir(parents=True, exist_ok=True)
            n = shard_count(len(todo), n_workers(executor), n_shards, max_items=MAX_SHARD_CLIPS)
            shards = []
            for block in np.array_split(todo, n):
                name = hashlib.sha1(block.tobytes()).hexdigest()[:12]
                shards.append(Shard(name, (spec, str(store.root), block, str(folder / f"{name}.npz")), len(block)))
            run_shards(executor, _embed_shard, shards, is_done=lambda s: False, progress_of=lambda s: 0,
                       on_result=on_result, desc=f"embed {source.spec}", progress=progress)
    finally:
        if len(todo) or adopted:
            save()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return {"clips": len(store.index), "reused": reused, "embedded": int(len(todo)),
            "failed": int(np.sum(cache.status == FAILED))}


def run_embed(args) -> int:
    if args.workers is not None and args.workers < 1:
        raise AccentError(f"--workers {args.workers}: need at least 1")
    store = open_store(args.features)
    names = [n for n in fusion_parts(args.backbone) if n != MFCC]
    if not names:
        print(f"{args.backbone}: MFCC statistics are computed from the stored log-mels when needed; nothing to cache")
        return 0
    one_process = args.executor == "processes" and (args.workers or 1) == 1 and not args.n_shards
    for name in names:
        if one_process:  # today's path: in this process, one clip after another
            recording_embeddings(name, store, progress=not args.quiet)
            print(f"{name}: embedding cache of {store.root} is complete ({len(store.index)} clips)")
            continue
        with open_executor(args.executor, args.scheduler, args.workers, start_method="spawn") as executor:
            counts = fill_cache(name, store, executor, n_shards=args.n_shards, progress=not args.quiet)
        print(f"{name}: embedding cache of {store.root} is complete: {counts['clips']} clips, "
              f"{counts['embedded']} embedded now, {counts['reused']} reused, {counts['failed']} could not be embedded")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("embed", help="fill a feature store's embedding cache for a backbone (optionally on Dask)",
                              description="Compute and cache recording embeddings of every clip of FEATDIR, so "
                                          "transfer runs and curves only read them; resumable.")
    p.add_argument("--features", required=True, help="FEATDIR (from `accent featurize`)")
    p.add_argument("--backbone", required=True,
                   help="resemblyzer, wav2vec2_base, hubert_base@8, accent:RUNDIR, or a fusion such as mfcc+resemblyzer")
    p.add_argument("--workers", type=int, help="processes with --executor processes (default: 1, in this process)")
    add_executor_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_embed)
