"""`accent predict`: the most likely accents of audio files, one at a time or in batches to a CSV.

The model is loaded once (a run directory or a ``.accent`` model file, :mod:`accent.modelfile`).
Each file goes through the same front end as the training data (:func:`accent.featurize.featurize_clip`:
decode at the run's sample rate, trim, normalise loudness, log-mel); decoding runs in ``--workers``
processes, and the crops of up to ``BATCH_FILES`` files share the network's forward passes
(``Run.predict_logmels``). Runs over a pretrained speech backbone
(``--backbone resemblyzer``, fusions) read the waveform instead, one file at a time
(``Run.predict_audio``). A file that cannot be used is reported and the other files are still scored;
so is a file without speech (noise, a tone: :mod:`accent.speech`), whatever the model, since every
model names an accent for anything it is shown.

Inputs are audio files, folders (searched recursively for audio files) and manifests (a .csv or .tsv
with a ``path`` column, and a ``text`` column with each clip's transcript for a model that needs it,
:attr:`accent.methods.fitted.Fitted.needs_text`; ``--text`` gives one file's). Relative paths are
relative to the manifest. Without ``--out`` the top-k accents are printed (a table or ``--json``);
with ``--out predictions.csv`` one row per file is written: ``path, label_1, probability_1, ...
label_k, probability_k, error`` (and ``passage_match, off_passage`` for a model that tells).

A model that knows what its speakers read (aligned: the passage) gives each clip a
``passage_match`` in 0..1; below the model's threshold the clip is ``off_passage`` and the table
says "does not read the passage" instead of an accent (``--json`` keeps the probabilities).

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
from accent.speech import no_speech_reason

DEFAULT_TOP_K = 3
EXIT_SOME_FILES_FAILED = 1
BATCH_FILES = 32                      # files whose crops are scored together
MANIFEST_SUFFIXES = (".csv", ".tsv")
TEXT_HINT = "--text TEXT (one file) or a manifest with a text column"


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(labels[i], float(probabilities[i])) for i in order]


def score_paths(run, paths: list[str], workers: int = 1, progress: bool = False, batch_files: int | None = None,
                texts: list[str | None] | None = None,
                hint: str = TEXT_HINT) -> Iterator[tuple[str, np.ndarray | None, float | None, str | None]]:
    """(path, probabilities over ``run.labels`` or None, passage_match or None, reason or None) for
    each path, in order. ``texts``: each file's transcript (a model that needs_text refuses a file
    without one, in one line that says ``hint``: where the caller takes texts from)."""
    batch_files = batch_files or BATCH_FILES
    fitted = run.fitted
    fitted.require_texts(texts, paths, hint)
    texts = list(texts) if texts is not None else [None] * len(paths)
    bar = tqdm(total=len(paths), unit="file", desc="predict", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)
    try:
        if run.needs_audio:  # the backbone decodes and embeds each waveform itself
            for (path, frames, info), text in zip(featurize_files([str(p) for p in paths], run.feature_config),
                                                  texts):
                reason = str(info) if frames is None else no_speech_reason(frames, run.feature_config)
                try:
                    yield (path, None, None, reason) if reason else (path, *fitted.score_audio(path, text), None)
                except AudioError as exc:
                    yield path, None, None, str(exc).removeprefix(f"{path}: ")
                bar.update()
            return
        chunk: list[tuple[str, np.ndarray | None, object, str | None]] = []
        for item, text in zip(featurize_files([str(p) for p in paths], run.feature_config, workers), texts):
            chunk.append((*item, text))
            if len(chunk) == batch_files:
                yield from _score_chunk(fitted, chunk, run.feature_config)
                bar.update(len(chunk))
                chunk = []
        yield from _score_chunk(fitted, chunk, run.feature_config)
        bar.update(len(chunk))
    finally:
        bar.close()


def _score_chunk(fitted, chunk, cfg):
    """Score a chunk's clips together; a clip that failed to decode, or holds no speech
    (:func:`accent.speech.no_speech_reason`), gets its reason instead of an accent."""
    reasons = [str(info) if frames is None else no_speech_reason(frames, cfg) for _, frames, info, _ in chunk]
    ok = [(frames, text) for (_, frames, _, text), reason in zip(chunk, reasons) if reason is None]
    probs, match = fitted.score_logmels([np.asarray(f, np.float32) for f, _ in ok], [t for _, t in ok]) if ok \
        else (np.zeros((0, len(fitted.labels))), None)
    scored = iter(zip(probs, match if match is not None else [None] * len(probs)))
    for (path, *_), reason in zip(chunk, reasons):
        yield (path, *next(scored), None) if reason is None else (path, None, None, reason)


def passage_fields(fitted, match) -> dict:
    """``passage_match`` (0..1, or None when the model has no notion of it or cannot tell) and
    ``off_passage``: what every answer carries (predict --json, the serve API, evaluate)."""
    known = match is not None and bool(np.isfinite(match))
    return {"passage_match": float(match) if known else None, "off_passage": fitted.off_passage(match)}


def result_entry(path: str, probs: np.ndarray | None, error: str | None, fitted, k: int, match=None) -> dict:
    """One file as `accent predict --json` prints it: ``{"path", "top": [{"label", "probability"}...],
    "probabilities", "passage_match", "off_passage"}`` or ``{"path", "error"}``."""
    if probs is None:
        return {"path": str(path), "error": f"{path}: {error}"}
    return {"path": str(path),
            "top": [{"label": lab, "probability": p} for lab, p in top_k(probs, fitted.labels, k)],
            "probabilities": dict(zip(fitted.labels, map(float, probs))), **passage_fields(fitted, match)}


def _check_k(k: int) -> None:
    if k < 1:
        raise AccentError(f"--top-k must be at least 1 (got {k})")


def load_model(model: str | Path):
    """The run or model file to predict with (:func:`accent.inference.load_run`)."""
    from accent.inference import load_run  # torch: kept out of start-up (`accent --help` lists predict)

    return load_run(model)


def predict_files(model: str | Path, paths: list[str | Path], k: int = DEFAULT_TOP_K, workers: int = 1,
                  texts: list[str | None] | None = None) -> list[dict]:
    """One :func:`result_entry` per file, in order; failed files carry ``error``. ``texts``: each
    file's transcript, for a model that needs it."""
    _check_k(k)
    run = load_model(model)
    return [result_entry(path, probs, error, run.fitted, k, match)
            for path, probs, match, error in score_paths(run, [str(p) for p in paths], workers, texts=texts)]


def collect_inputs(inputs: list[str | Path]) -> list[str]:
    """Audio paths from files, folders (recursive, sorted) and manifests (.csv/.tsv with a path column)."""
    return collect_items(inputs)[0]


def collect_items(inputs: list[str | Path], text: str | None = None) -> tuple[list[str], list[str | None]]:
    """(audio paths, their texts): :func:`collect_inputs`, with a manifest's ``text`` column and
    ``text`` (``--text``) for one audio file given alone."""
    paths: list[str] = []
    texts: list[str | None] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
            if not found:
                raise AccentError(f"folder {item} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            paths += map(str, found)
            texts += [None] * len(found)
        elif item.suffix.lower() in MANIFEST_SUFFIXES and item.is_file():
            found, found_texts = _manifest_items(item)
            paths += found
            texts += found_texts
        else:  # a file, or a missing one: scoring reports it on its own row
            paths.append(str(item))
            texts.append(None)
    if text is not None:
        if len(inputs) != 1 or len(paths) != 1 or texts[0] is not None:
            raise AccentError("--text is the transcript of one audio file: for several files give a manifest "
                              "(.csv/.tsv) with path and text columns")
        texts = [text]
    return paths, texts


def _manifest_items(manifest: Path) -> tuple[list[str], list[str | None]]:
    try:
        table = pd.read_csv(manifest, sep="\t" if manifest.suffix.lower() == ".tsv" else ",", dtype=str,
                            keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AccentError(f"manifest {manifest} is not a readable CSV/TSV ({type(exc).__name__})") from None
    if "path" not in table.columns:
        raise AccentError(f"manifest {manifest} has no 'path' column (columns: {', '.join(table.columns[:8])}): "
                          "give one audio path per row in a column named path")
    paths = [str(p if p.is_absolute() else manifest.parent / p) for p in map(Path, table["path"])]
    texts = [t or None for t in table["text"]] if "text" in table.columns else [None] * len(paths)
    return paths, texts


def predict_to_csv(model: str | Path, inputs: list[str | Path], out: str | Path, k: int = DEFAULT_TOP_K,
                   workers: int = 1, progress: bool = True, text: str | None = None) -> pd.DataFrame:
    """Batch prediction: one model load, one CSV row per input file (top-k or the error), written
    atomically; ``passage_match`` and ``off_passage`` columns when the model tells whether a clip
    reads its passage (or text)."""
    _check_k(k)
    paths, texts = collect_items(inputs, text)
    if not paths:
        raise AccentError("no input files: give audio files, folders or a manifest")
    run = load_model(model)
    k = min(k, len(run.labels))
    rows, matched = [], False
    for path, probs, match, error in score_paths(run, paths, workers, progress=progress, texts=texts):
        row = {"path": path}
        ranked = top_k(probs, run.labels, k) if probs is not None else [("", np.nan)] * k
        for i, (label, p) in enumerate(ranked, start=1):
            row[f"label_{i}"], row[f"probability_{i}"] = label, p
        matched |= match is not None
        row.update(passage_fields(run.fitted, match))
        row["error"] = error or ""
        rows.append(row)
    table = pd.DataFrame(rows)
    if not matched:
        table = table.drop(columns=["passage_match", "off_passage"])
    write_csv_atomic(table, out)
    return table


def format_table(results: list[dict], off_words: str = "does not read the passage") -> str:
    """One line per scored file: its top accents, or ``off_words`` when it is off the passage."""
    lines = []
    for res in results:
        if "error" in res:
            continue
        if res.get("off_passage"):
            lines.append(f"{res['path']}\t{off_words} (passage match {res['passage_match']:.2f})")
            continue
        ranked = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in res["top"])
        lines.append(f"{res['path']}\t{ranked}")
    return "\n".join(lines)


def _run_cli(args) -> int:
    if args.workers < 1:
        raise AccentError(f"--workers must be at least 1 (got {args.workers})")
    if args.out:
        table = predict_to_csv(args.model, args.audio, args.out, args.top_k, args.workers, progress=not args.quiet,
                               text=args.text)
        failed = table[table["error"] != ""]
        for _, row in failed.head(10).iterrows():
            print(f"accent predict: error: {row['path']}: {row['error']}", file=sys.stderr)
        if len(failed) > 10:
            print(f"accent predict: {len(failed) - 10} more file(s) failed; see the error column", file=sys.stderr)
        print(f"{len(table) - len(failed)} of {len(table)} file(s) scored -> {args.out}")
        return EXIT_SOME_FILES_FAILED if len(failed) else 0
    _check_k(args.top_k)
    paths, texts = collect_items(args.audio, args.text)
    run = load_model(args.model)
    results = [result_entry(path, probs, error, run.fitted, args.top_k, match)
               for path, probs, match, error in score_paths(run, paths, args.workers, texts=texts)]
    for res in results:
        if "error" in res:
            print(f"accent predict: error: {res['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    elif any("error" not in r for r in results):
        print(format_table(results, run.fitted.off_words))
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
    p.add_argument("--text", help="the transcript of the one audio file given, for a model that needs it (a manifest "
                                  "gives each file's in a text column)")
    p.add_argument("--json", action="store_true", help="JSON list instead of a table (failed files carry 'error'; "
                                                       "passage_match and off_passage say whether the clip reads "
                                                       "the model's passage)")
    p.add_argument("--out", help="write predictions.csv (one row per file: top-k labels and probabilities, or the error)")
    p.add_argument("--workers", type=int, default=1, help="processes decoding audio (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar with --out")
    p.set_defaults(func=_run_cli)
