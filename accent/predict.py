"""`accent predict`: the most likely accents of audio files, one at a time or in batches to a CSV.

The model is loaded once (a run directory or a ``.accent`` model file, :mod:`accent.modelfile`).
Each file goes through the same front end as the training data (:func:`accent.featurize.featurize_clip`:
decode at the run's sample rate, trim, normalise loudness, log-mel); decoding runs in ``--workers``
processes, and the crops of up to ``BATCH_FILES`` files share the network's forward passes
(``Run.predict_logmels``). Runs over a pretrained speech backbone
(``--backbone resemblyzer``, fusions) read the waveform instead, one file at a time
(``Run.predict_audio``). A file that cannot be used is reported and the other files are still scored.

Inputs are audio files, folders (searched recursively for audio files) and manifests (a .csv or .tsv
with a ``path`` column; relative paths are relative to the manifest). Without ``--out`` the top-k
accents are printed (a table or ``--json``); with ``--out predictions.csv`` one row per file is
written: ``path, label_1, probability_1, ... label_k, probability_k, error``.

Exit status: 0 when every file was scored, 1 when at least one file could not be (the others are
still printed or written), 2 for a problem with the model or the arguments.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from accent.errors import AccentError, AudioError
from accent.featurize import featurize_files
from accent.fileio import write_csv_atomic
from accent.layout import AUDIO_EXTENSIONS
from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

DEFAULT_TOP_K = 3
EXIT_SOME_FILES_FAILED = 1
BATCH_FILES = 32                      # files whose crops are scored together
MANIFEST_SUFFIXES = (".csv", ".tsv")


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(labels[i], float(probabilities[i])) for i in order]


def score_paths(run, paths: list[str], workers: int = 1, progress: bool = False,
                batch_files: int | None = None) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """(path, probabilities over ``run.labels`` or None, reason or None) for each path, in order."""
    batch_files = batch_files or BATCH_FILES
    bar = tqdm(total=len(paths), unit="file", desc="predict", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        if run.needs_audio:  # the backbone decodes and embeds each waveform itself
            for path in paths:
                try:
                    yield path, run.predict_audio(path), None
                except AudioError as exc:
                    yield path, None, str(exc).removeprefix(f"{path}: ")
                bar.update()
            return
        chunk: list[tuple[str, np.ndarray | None, object]] = []
        for item in featurize_files([str(p) for p in paths], run.feature_config, workers):
            chunk.append(item)
            if len(chunk) == batch_files:
                yield from _score_chunk(run, chunk)
                bar.update(len(chunk))
                chunk = []
        yield from _score_chunk(run, chunk)
        bar.update(len(chunk))
    finally:
        bar.close()


def _score_chunk(run, chunk):
    ok = [frames for _, frames, _ in chunk if frames is not None]
    probs = iter(run.predict_logmels(ok)) if ok else iter(())
    for path, frames, info in chunk:
        yield (path, next(probs), None) if frames is not None else (path, None, str(info))


def result_entry(path: str, probs: np.ndarray | None, error: str | None, labels: list[str], k: int) -> dict:
    """One file as `accent predict --json` prints it: ``{"path", "top": [{"label", "probability"}...],
    "probabilities"}`` or ``{"path", "error"}``."""
    if probs is None:
        return {"path": str(path), "error": f"{path}: {error}"}
    return {"path": str(path),
            "top": [{"label": lab, "probability": p} for lab, p in top_k(probs, labels, k)],
            "probabilities": dict(zip(labels, map(float, probs)))}


def _check_k(k: int) -> None:
    if k < 1:
        raise AccentError(f"--top-k must be at least 1 (got {k})")


def load_model(model: str | Path):
    """The run or model file to predict with (:func:`accent.inference.load_run`)."""
    from accent.inference import load_run  # torch: kept out of start-up (`accent --help` lists predict)

    return load_run(model)


def predict_files(model: str | Path, paths: list[str | Path], k: int = DEFAULT_TOP_K, workers: int = 1) -> list[dict]:
    """One :func:`result_entry` per file, in order; failed files carry ``error``."""
    _check_k(k)
    run = load_model(model)
    return [result_entry(path, probs, error, run.labels, k)
            for path, probs, error in score_paths(run, [str(p) for p in paths], workers)]


def collect_inputs(inputs: list[str | Path]) -> list[str]:
    """Audio paths from files, folders (recursive, sorted) and manifests (.csv/.tsv with a path column)."""
    paths: list[str] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            if not found:
                raise AccentError(f"folder {item} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            paths += map(str, found)
        elif item.suffix.lower() in MANIFEST_SUFFIXES and item.is_file():
            paths += _manifest_paths(item)
        else:  # a file, or a missing one: scoring reports it on its own row
            paths.append(str(item))
    return paths


def _manifest_paths(manifest: Path) -> list[str]:
    try:
        table = pd.read_csv(manifest, sep="\t" if manifest.suffix.lower() == ".tsv" else ",", dtype=str,
                            keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AccentError(f"manifest {manifest} is not a readable CSV/TSV ({type(exc).__name__})") from None
    if "path" not in table.columns:
        raise AccentError(f"manifest {manifest} has no 'path' column (columns: {', '.join(table.columns[:8])}): "
                          "give one audio path per row in a column named path")
    return [str(p if p.is_absolute() else manifest.parent / p) for p in map(Path, table["path"])]


def predict_to_csv(model: str | Path, inputs: list[str | Path], out: str | Path, k: int = DEFAULT_TOP_K,
                   workers: int = 1, progress: bool = True) -> pd.DataFrame:
    """Batch prediction: one model load, one CSV row per input file (top-k or the error), written atomically."""
    _check_k(k)
    paths = collect_inputs(inputs)
    if not paths:
        raise AccentError("no input files: give audio files, folders or a manifest")
    run = load_model(model)
    k = min(k, len(run.labels))
    rows = []
    for path, probs, error in score_paths(run, paths, workers, progress=progress):
        row = {"path": path}
        ranked = top_k(probs, run.labels, k) if probs is not None else [("", np.nan)] * k
        for i, (label, p) in enumerate(ranked, start=1):
            row[f"label_{i}"], row[f"probability_{i}"] = label, p
        row["error"] = error or ""
        rows.append(row)
    table = pd.DataFrame(rows)
    write_csv_atomic(table, out)
    return table


def format_table(results: list[dict]) -> str:
    lines = []
    for res in results:
        if "error" in res:
            continue
        ranked = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in res["top"])
        lines.append(f"{res['path']}\t{ranked}")
    return "\n".join(lines)


def _run_cli(args) -> int:
    if args.workers < 1:
        raise AccentError(f"--workers must be at least 1 (got {args.workers})")
    if args.out:
        table = predict_to_csv(args.model, args.audio, args.out, args.top_k, args.workers, progress=not args.quiet)
        failed = table[table["error"] != ""]
        for _, row in failed.head(10).iterrows():
            print(f"accent predict: error: {row['path']}: {row['error']}", file=sys.stderr)
        if len(failed) > 10:
            print(f"accent predict: {len(failed) - 10} more file(s) failed; see the error column", file=sys.stderr)
        print(f"{len(table) - len(failed)} of {len(table)} file(s) scored -> {args.out}")
        return EXIT_SOME_FILES_FAILED if len(failed) else 0
    results = predict_files(args.model, collect_inputs(args.audio), args.top_k, args.workers)
    for res in results:
        if "error" in res:
            print(f"accent predict: error: {res['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    elif any("error" not in r for r in results):
        print(format_table(results))
    return EXIT_SOME_FILES_FAILED if any("error" in r for r in results) else 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="top-k accents with probabilities for audio files, folders or a manifest",
        description="Score audio files (any decodable format and sample rate) with a trained run or a .accent "
                    "model file. Exit status 0: all files scored; 1: some files could not be read (reported, "
                    "the others still scored); 2: bad model or arguments.")
    p.add_argument("--model", required=True, help="RUNDIR of any trained run, or a NAME.accent model file")
    p.add_argument("audio", nargs="+", metavar="INPUT",
                   help="audio files (wav, mp3, flac, ogg, ...), folders of them, or a manifest .csv/.tsv with a path column")
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help=f"accents to show per file (default {DEFAULT_TOP_K})")
    p.add_argument("--json", action="store_true", help="JSON list instead of a table (failed files carry 'error')")
    p.add_argument("--out", help="write predictions.csv (one row per file: top-k labels and probabilities, or the error)")
    p.add_argument("--workers", type=int, default=1, help="processes decoding audio (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar with --out")
    p.set_defaults(func=_run_cli)
