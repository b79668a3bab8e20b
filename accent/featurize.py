"""`accent featurize` and `accent merge`: manifest -> memory-mapped log-mel store, in parallel.

Worker processes decode and compute features; the parent appends results in manifest order to
the store (see :mod:`accent.store`), so the result does not depend on the number of workers,
memory stays flat as the corpus grows, and a rerun after ``kill -9`` resumes and ends with the same
bytes as an uninterrupted run.

Design choices:
- A FEATDIR holds one feature config. Pointing ``--out`` at a store (complete or partial) with a
  different config hash is refused with a one-line error asking for a new folder: nothing is ever
  mixed, deleted or written somewhere the user did not name.
- Rerunning on a complete store with the same config and manifest does nothing. With a changed
  manifest (new rows, new splits), clips already in the journal are reused and only new ones are
  computed; index.csv and the train-split statistics are rewritten from the new manifest.
- A skipped clip stays skipped in its FEATDIR (its journal line says why); after fixing the file,
  give it a new utt_id or path, or featurize into a new folder.
- ``--shard i/n`` takes the i-th of n contiguous blocks of manifest rows (block i holds rows
  ``[i*N//n, (i+1)*N//n)``), so `accent merge` concatenates shards in block order and gets exactly
  the frames, index and statistics of a single run.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from accent.audio import load_audio
from accent.duplicates import duplicate_warning
from accent.errors import AccentError, AudioError
from accent.executors import (Shard, add_executor_options, count_lines, map_ordered, n_workers, open_executor,
                              relax_malloc_trim, run_shards, shard_count)
from accent.features import FeatureConfig, _mel_transform, log_mel, log_mel_batch, preprocess
from accent.corpora import add_corpus_options, manifest_from_args
from accent.manifest import read_manifest, summarize
from accent.speakers import VOICES_FILE
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal
from accent.store import (DTYPE, ERROR_COLUMNS, ERRORS_FILE, FRAMES_FILE, JOURNAL_FILE, STORE_JSON, FeatureStore,
                          StoreWriter, manifest_hash, read_frames, read_store_json, write_store_files)

SILENT_RMS = 1e-4          # -80 dBFS: below this a decoded clip is treated as silence
COMMIT_EVERY_CLIPS = 64    # journal commits (two fsyncs) at most this many clips apart...
COMMIT_EVERY_S = 2.0       # ...or this many seconds apart, whichever comes first
CHUNKSIZE = 2              # clips per task sent to a worker: small keeps slow clips from bunching
BATCH_SAMPLES = 16000 * 600  # --device: log-mels of up to 10 minutes of 16 kHz audio per batch


# -- one clip ------------------------------------------------------------------------------------

def prepare_clip(path: str | Path, cfg: FeatureConfig) -> tuple[np.ndarray, float]:
    """The waveform the log-mels are computed from (decoded, trimmed, normalised) and the decoded
    duration; AudioError if the clip is unusable (silent, or too short after trimming)."""
    wave = load_audio(path, cfg.sample_rate, cfg.resampler)
    duration_s = len(wave) / cfg.sample_rate
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    if rms < SILENT_RMS:
        raise AudioError(f"silent (RMS {20 * np.log10(max(rms, 1e-12)):.0f} dBFS)")
    wave = preprocess(wave, cfg)
    kept_s = len(wave) / cfg.sample_rate
    if kept_s < cfg.min_duration_s:
        raise AudioError(f"too short: {kept_s:.2f} s of sound after trimming, minimum {cfg.min_duration_s} s")
    return wave, duration_s


def featurize_clip(path: str | Path, cfg: FeatureConfig) -> tuple[np.ndarray, float]:
    """Log-mel frames (float16, (n, n_mels)) and decoded duration of one clip; AudioError if unusable.

    This is the stored definition: ``log_mel(preprocess(load_audio(path, sr, resampler), cfg), cfg)``.
    """
    wave, duration_s = prepare_clip(path, cfg)
    return log_mel(wave, cfg).astype(DTYPE), duration_s


_WORKER_CFG: FeatureConfig | None = None


def _init_worker(cfg: FeatureConfig) -> None:
    """One thread per process: parallelism comes from processes, not from torch's thread pool."""
    global _WORKER_CFG
    import torch

    torch.set_num_threads(1)
    _WORKER_CFG = cfg


def clip_or_reason(path: str, cfg: FeatureConfig, prepare_only: bool = False) -> tuple[np.ndarray | None, float | str]:
    """(frames, duration_s), or (None, why the clip is unusable) without the path in front; with
    ``prepare_only`` the waveform instead of the frames (the parent computes the log-mels in batches)."""
    try:
        return (prepare_clip if prepare_only else featurize_clip)(path, cfg)
    except AudioError as exc:  # errors.csv has a path column: keep only what is wrong
        return None, str(exc).removeprefix(f"{path}: ")
    except Exception as exc:  # one bad clip is reported and skipped, never aborting the run
        return None, f"{type(exc).__name__}: {exc}"


def _work(item: tuple[str, str], prepare_only: bool = False) -> tuple[str, str, np.ndarray | None, float | str]:
    """Worker task: (utt_id, path, frames, duration_s) or (utt_id, path, None, reason)."""
    utt_id, path = item
    return (utt_id, path, *clip_or_reason(path, _WORKER_CFG, prepare_only))


def _work_prepare(item: tuple[str, str]):
    return _work(item, prepare_only=True)


def _results(todo: list[tuple[str, str]], cfg: FeatureConfig, workers: int, prepare_only: bool = False):
    """Results in the order of ``todo``, from a process pool of :mod:`accent.executors` (or
    in-process for one worker)."""
    task = _work_prepare if prepare_only else _work
    if workers <= 1 or len(todo) <= 1:
        _init_worker(cfg)
        yield from map(task, todo)
        return
    # fork starts workers instantly with torch already imported (here, once, and the mel filterbank
    # built): importing it in every worker cost about 2 CPU-seconds each. torch re-initialises its
    # thread pools in the child, and each worker pins itself to one thread anyway.
    import torch  # noqa: F401

    _mel_transform(cfg)
    with open_executor("processes", workers=workers, initializer=partial(_init_worker, cfg)) as executor:
        yield from map_ordered(executor, task, todo, chunksize=CHUNKSIZE)


def _batched_log_mels(results, cfg: FeatureConfig, device: str, max_samples: int | None = None):
    """Turn prepared waveforms into log-mel frames in batches on ``device``, keeping the order.

    A batch is padded to its longest clip, so it closes before (clips x longest) would pass
    ``max_samples``: memory on host and device stays bounded whatever the mix of lengths. Skipped
    clips pass through in their place.
    """
    max_samples = max_samples or BATCH_SAMPLES
    pending, n_waves, longest = [], 0, 0

    def flush():
        waves = [r[2] for r in pending if r[2] is not None]
        frames = iter(log_mel_batch(waves, cfg, device))
        for utt_id, path, wave, info in pending:
            yield utt_id, path, (next(frames).astype(DTYPE) if wave is not None else None), info
        pending.clear()

    for result in results:
        wave = result[2]
        if wave is not None and n_waves and (n_waves + 1) * max(longest, len(wave)) > max_samples:
            yield from flush()
            n_waves, longest = 0, 0
        pending.append(result)
        if wave is not None:
            n_waves, longest = n_waves + 1, max(longest, len(wave))
    yield from flush()


def _check_device(device: str) -> str:
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise AccentError(f"--device {device}: no CUDA GPU is visible; use --device cpu or leave it out")
        return device
    raise AccentError(f"--device {device!r}: use cuda, cuda:N or cpu")


def featurize_files(paths: list[str], cfg: FeatureConfig, workers: int = 1):
    """(path, frames or None, duration_s or reason) for each path, in order (for `accent predict`).

    One worker decodes in this process with torch pinned to one thread until the generator ends, as
    pool workers are: the small resampling and mel ops run 5x slower with two threads on a busy
    2-core machine (OpenMP spin-waits), and so does scoring between the items. More workers use the pool.
    """
    if workers <= 1 or len(paths) <= 1:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for path in paths:
                yield (path, *clip_or_reason(path, cfg))
        finally:
            torch.set_num_threads(previous)
        return
    for _, path, frames, info in _results([(p, p) for p in paths], cfg, workers):
        yield path, frames, info


# -- the driver ----------------------------------------------------------------------------------

@dataclass
class FeaturizeResult:
    out: Path
    n_rows: int            # manifest rows in this store (this shard)
    n_reused: int          # rows found already done in the journal
    n_new: int             # rows processed in this run
    up_to_date: bool       # nothing to do: complete store with this config and manifest
    meta: dict             # store.json

    def summary(self) -> str:
        if self.up_to_date:
            return (f"{self.out}: already complete for this manifest and config "
                    f"({self.meta['n_utts']} clips, {self.meta['n_errors']} skipped); nothing to do")
        return (f"{self.out}: {self.meta['n_utts']} clips, {self.meta['n_frames']} frames, "
                f"{self.meta['hours']:.2f} h of audio ({self.n_new} processed now, {self.n_reused} reused); "
                f"{self.meta['n_errors']} skipped, reasons in {self.out / ERRORS_FILE}")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise AccentError(f"--shard {text!r}: expected i/n, for example 0/4") from None
    if not (n >= 1 and 0 <= i < n):
        raise AccentError(f"--shard {text!r}: need 0 <= i < n, for example 0/4 ... 3/4")
    return i, n


def shard_rows(df: pd.DataFrame, shard: tuple[int, int] | None) -> pd.DataFrame:
    """Block ``i`` of ``n`` contiguous blocks of rows (all rows when ``shard`` is None)."""
    if shard is None:
        return df
    i, n = shard
    return df.iloc[i * len(df) // n:(i + 1) * len(df) // n]


def featurize(manifest: pd.DataFrame, out: str | Path, cfg: FeatureConfig | None = None, *,
              workers: int | None = None, shard: tuple[int, int] | None = None,
              progress: bool = True, device: str | None = None) -> FeaturizeResult:
    """Featurize the manifest's clips into the store ``out``; resume or extend one already there.

    ``device`` (``cuda``, ``cuda:1``, ``cpu``): the workers only decode and prepare waveforms and this
    process computes the log-mels in batches there (:func:`_batched_log_mels`); None (default): each
    worker computes its clips' log-mels itself. Both give the same features (float16 tolerance on
    a GPU, identical on the CPU).
    """
    cfg = cfg or FeatureConfig()
    out = Path(out)
    dup = manifest["utt_id"].duplicated()
    if dup.any():
        raise AccentError(f"manifest has duplicate utt_id {manifest.loc[dup, 'utt_id'].iloc[0]!r}: each clip needs a unique id")
    rows = shard_rows(manifest, shard)
    rows_hash = manifest_hash(rows)
    extra = {"manifest_hash": manifest_hash(manifest), "rows_hash": rows_hash,
             "shard": f"{shard[0]}/{shard[1]}" if shard else None}
    writer = StoreWriter(out, cfg, extra)
    previous = writer.previous_meta
    if previous and previous.get("complete") and previous.get("rows_hash") == rows_hash:
        writer.close()
        return FeaturizeResult(out, len(rows), len(rows), 0, True, previous)

    todo = [(u, p) for u, p in zip(rows["utt_id"], rows["path"]) if not writer.is_done(u, p)]
    n_reused = len(rows) - len(todo)
    writer.mark_incomplete()
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))

    bar = tqdm(total=len(rows), initial=n_reused, unit="clip", desc="featurize", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)
    last_commit, since_commit = time.monotonic(), 0
    try:
        results = _results(todo, cfg, workers, prepare_only=device is not None)
        if device is not None:
            results = _batched_log_mels(results, cfg, _check_device(device))
        for utt_id, path, frames, info in results:
            if frames is None:
                writer.skip(utt_id, path, info)
            else:
                writer.append(utt_id, path, frames, info)
            since_commit += 1
            if since_commit >= COMMIT_EVERY_CLIPS or time.monotonic() - last_commit >= COMMIT_EVERY_S:
                writer.commit()
                last_commit, since_commit = time.monotonic(), 0
            bar.update()
    finally:
        bar.close()
        writer.close()  # commits what is done, so Ctrl-C keeps finished work
    meta = writer.finish(rows)
    result = FeaturizeResult(out, len(rows), n_reused, len(todo), False, meta)
    if meta["n_utts"] == 0:
        raise AccentError(f"nothing featurized: all {len(rows)} clip(s) were skipped; reasons in {out / ERRORS_FILE}")
    return result


# -- merging shards ------------------------------------------------------------------------------

def _order_shards(stores: list[FeatureStore]) -> list[FeatureStore]:
    """Shards of one manifest in block order, checking that none is missing or repeated."""
    specs = [s.meta.get("shard") for s in stores]
    if not all(specs):
        return stores
    parsed = [parse_shard(spec) for spec in specs]
    counts = {n for _, n in parsed}
    sources = {s.meta.get("manifest_hash") for s in stores}
    if len(counts) != 1 or len(sources) != 1:
        return stores  # shards of different manifests: keep the order given
    n = counts.pop()
    have = sorted(i for i, _ in parsed)
    if have != list(range(n)):
        missing = sorted(set(range(n)) - set(have))
        what = f"shard(s) {', '.join(f'{i}/{n}' for i in missing)} missing" if missing else "a shard given twice"
        raise AccentError(f"cannot merge: {what}; pass every --shards folder from `accent featurize --shard i/{n}`")
    return [store for _, store in sorted(zip(parsed, stores), key=lambda pair: pair[0][0])]


def merge(shard_dirs: list[str | Path], out: str | Path, source: pd.DataFrame | None = None) -> dict:
    """Join complete stores with the same config into ``out`` (frames copied, stats recomputed).

    ``source``: the manifest the stores are consecutive blocks of, recorded as the merged store's
    manifest, so that `accent featurize` of that manifest finds the store complete.
    """
    out = Path(out)
    stores = _order_shards([FeatureStore.open(d) for d in shard_dirs])
    hashes = {s.meta["config_hash"] for s in stores}
    if len(hashes) != 1:
        detail = ", ".join(f"{s.root}={s.meta['config_hash']}" for s in stores)
        raise AccentError(f"cannot merge stores with different feature configs ({detail}): featurize them with one --config")
    cfg = stores[0].config
    existing = read_store_json(out) if out.is_dir() else None
    if existing is not None and existing.get("config_hash") != cfg.hash():
        raise AccentError(f"{out} holds features with another config: choose a new --out folder")
    if any(out.resolve() == s.root.resolve() for s in stores):
        raise AccentError(f"--out {out} is one of the --shards: choose a new folder")
    index = pd.concat([s.index for s in stores], ignore_index=True)
    dup = index["utt_id"].duplicated()
    if dup.any():
        raise AccentError(f"cannot merge: utt_id {index.loc[dup, 'utt_id'].iloc[0]!r} is in two stores")
    out.mkdir(parents=True, exist_ok=True)
    (out / STORE_JSON).unlink(missing_ok=True)  # incomplete until the end
    offsets, journal, end = [], [], 0
    tmp = out / (FRAMES_FILE + ".tmp")
    with open(tmp, "wb") as fh:
        for store in stores:
            with open(store.root / FRAMES_FILE, "rb") as src:
                for row in store.index.itertuples(index=False):
                    fh.write(read_frames(src, row.offset, row.n_frames, cfg.n_mels).tobytes())
                    offsets.append(end)
                    journal.append({"utt_id": row.utt_id, "path": row.path, "offset": end,
                                    "n_frames": int(row.n_frames), "duration_s": float(row.duration_s)})
                    end += int(row.n_frames)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(out / FRAMES_FILE)
    index["offset"] = offsets
    errors = pd.concat([pd.read_csv(s.root / ERRORS_FILE, dtype=str, keep_default_na=False)
                        for s in stores], ignore_index=True).reindex(columns=ERROR_COLUMNS)
    journal += [{"utt_id": e["utt_id"], "path": e["path"], "error": e["reason"]} for e in errors.to_dict("records")]
    (out / JOURNAL_FILE).write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in journal), encoding="utf-8")
    sources = {s.meta.get("manifest_hash") for s in stores}
    source_hash = manifest_hash(source) if source is not None else sources.pop() if len(sources) == 1 else None
    extra = {"manifest_hash": source_hash, "rows_hash": source_hash, "shard": None,  # shards of featurize_sharded
             "merged_from": [str(s.root) for s in stores] if source is None else None}  # are removed afterwards
    return write_store_files(out, cfg, index, errors, end, extra)


# -- sharded, on any executor -------------------------------------------------------------------

SHARDS_DIR = "shards"


def _featurize_shard(rows: pd.DataFrame, shard_dir: str, cfg: FeatureConfig) -> str:
    """Worker task: one shard's rows into their own store (resuming one left half done)."""
    relax_malloc_trim()
    try:
        featurize(rows, shard_dir, cfg, workers=1, progress=False)
    except AccentError:
        meta = read_store_json(Path(shard_dir))
        if not (meta and meta.get("complete")):  # "all clips skipped" is fine for one shard
            raise
    return shard_dir


def _shard_complete(shard_dir: Path, rows: pd.DataFrame) -> bool:
    meta = read_store_json(shard_dir) if shard_dir.is_dir() else None
    return bool(meta and meta.get("complete") and meta.get("rows_hash") == manifest_hash(rows))


def featurize_sharded(manifest: pd.DataFrame, out: str | Path, cfg: FeatureConfig | None = None, *,
                      executor, n_shards: int | None = None, progress: bool = True) -> FeaturizeResult:
    """:func:`featurize` through any executor (``submit``/``result``), e.g. a Dask client.

    The manifest is cut into contiguous blocks; each block becomes its own store (with journal)
    in ``out/shards/<manifest hash>-<n>/<i>``, written by whichever worker runs it; the blocks are
    then merged in order into ``out``, which therefore holds the same frames, index, errors and
    statistics as a single :func:`featurize` run. Finished shards are reused on rerun; the shard
    folder is removed once the merge is complete. Every worker must see ``out`` (a shared
    filesystem when workers are on other machines).
    """
    cfg = cfg or FeatureConfig()
    out = Path(out)
    dup = manifest["utt_id"].duplicated()
    if dup.any():
        raise AccentError(f"manifest has duplicate utt_id {manifest.loc[dup, 'utt_id'].iloc[0]!r}: each clip needs a unique id")
    if len(manifest) == 0:
        raise AccentError("the manifest has no rows: nothing to featurize")
    previous = read_store_json(out) if out.is_dir() else None
    if previous is not None and previous.get("config_hash") != cfg.hash():
        raise AccentError(f"{out} holds features with another config (hash {previous.get('config_hash')}, "
                          f"now {cfg.hash()}): choose a new --out folder so the two are never mixed")
    source_hash = manifest_hash(manifest)
    if previous and previous.get("complete") and previous.get("rows_hash") == source_hash:
        return FeaturizeResult(out, len(manifest), len(manifest), 0, True, previous)

    n = shard_count(len(manifest), n_workers(executor), n_shards)
    folder = out / SHARDS_DIR / f"{source_hash}-{n}"
    blocks = [shard_rows(manifest, (i, n)) for i in range(n)]
    shards = [Shard(f"{i}/{n}", (rows, str(folder / f"{i:05d}"), cfg), len(rows)) for i, rows in enumerate(blocks)]
    dirs = {s.key: Path(s.args[1]) for s in shards}
    reused = run_shards(executor, _featurize_shard, shards,
                        is_done=lambda s: _shard_complete(dirs[s.key], s.args[0]),
                        progress_of=lambda s: count_lines(dirs[s.key] / JOURNAL_FILE),
                        desc="featurize", progress=progress)
    meta = merge([dirs[s.key] for s in shards], out, source=manifest)
    import shutil

    shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)
    n_reused = sum(s.size for s in shards if s.submissions == 0)
    result = FeaturizeResult(out, len(manifest), n_reused, len(manifest) - n_reused, False, meta)
    if meta["n_utts"] == 0:
        raise AccentError(f"nothing featurized: all {len(manifest)} clip(s) were skipped; reasons in {out / ERRORS_FILE}")
    if progress:
        print(f"featurize: {n} shards, {reused} reused from an earlier run", file=sys.stderr)
    return result


# -- command line --------------------------------------------------------------------------------

def _manifest_from_args(args) -> pd.DataFrame:
    if args.manifest and args.corpus:
        raise AccentError("give either --manifest or --corpus/--root, not both")
    if args.manifest:
        return read_manifest(args.manifest)
    if not (args.corpus and args.root):
        raise AccentError("give --manifest M.csv, or --corpus NAME with --root DIR")

    df, log = manifest_from_args(args, speaker_cache=Path(args.out) / VOICES_FILE)
    print(summarize(df, log, title=f"manifest: {args.corpus} at {args.root}"))
    return df


def run_featurize(args) -> int:
    cfg = FeatureConfig.from_file(args.config)
    if args.workers is not None and args.workers < 1:
        raise AccentError(f"--workers {args.workers}: need at least 1")
    if args.executor == "processes" and not args.n_shards:  # today's path: one pool, one store
        if args.scheduler:
            raise AccentError("--scheduler is for --executor dask")
        result = featurize(_manifest_from_args(args), args.out, cfg, workers=args.workers,
                           shard=parse_shard(args.shard), progress=not args.quiet, device=args.device)
    else:
        if args.shard:
            raise AccentError("--shard i/n is manual sharding; with --executor dask the shards are made for you")
        if args.device:
            raise AccentError("--device batches log-mels in one process; it is not combined with --executor dask")
        manifest = _manifest_from_args(args)
        with open_executor(args.executor, args.scheduler, args.workers) as executor:
            result = featurize_sharded(manifest, args.out, cfg, executor=executor, n_shards=args.n_shards,
                                       progress=not args.quiet)
    print(result.summary())
    _warn_duplicates(args.out)
    return 0


def _warn_duplicates(out) -> None:
    """Recordings whose decoded audio is another's (:mod:`accent.duplicates`), said on stderr."""
    warning = duplicate_warning(FeatureStore.open(out))
    if warning:
        print(warning, file=sys.stderr)


def run_merge(args) -> int:
    meta = merge(args.shards, args.out)
    print(f"{args.out}: merged {len(args.shards)} stores: {meta['n_utts']} clips, {meta['n_frames']} frames, "
          f"{meta['n_errors']} skipped")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("featurize", help="log-mel features of a manifest's clips into a memory-mapped store",
                              description="Decode, resample, trim, normalise and compute log-mels for every clip; "
                                          "resumable; bad clips go to FEATDIR/errors.csv.")
    p.add_argument("--manifest", help="manifest CSV (from `accent manifest`)")
    p.add_argument("--corpus", help="build the manifest on the fly from this corpus layout (with --root)")
    p.add_argument("--root", help="corpus folder for --corpus")
    corpus_options = p.add_argument_group("with --corpus: the options of `accent manifest`")
    add_corpus_options(corpus_options)
    p.add_argument("--out", required=True, help="FEATDIR to write (one feature config per folder)")
    p.add_argument("--config", help="JSON file of FeatureConfig overrides, e.g. {\"sample_rate\": 8000}")
    p.add_argument("--workers", type=int, help="processes (default: all cores)")
    p.add_argument("--shard", help="i/n: featurize only the i-th of n contiguous blocks of rows (then `accent merge`)")
    add_executor_options(p)
    p.add_argument("--device", help="cuda (or cpu): workers only decode; this process computes the log-mels in "
                                    "batches on that device (default: each worker computes its own on the CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_featurize)

    m = subparsers.add_parser("merge", help="join feature stores (shards) into one",
                              description="Concatenate complete stores with the same feature config; "
                                          "shards of one manifest are put back in manifest order.")
    m.add_argument("--shards", nargs="+", required=True, help="FEATDIRs to join")
    m.add_argument("--out", required=True, help="FEATDIR to write")
    m.set_defaults(func=run_merge)
