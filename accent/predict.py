"""`accent predict`: the most likely accents of audio files, from any trained run directory.

Each file goes through the same front end as the training data (:func:`accent.featurize.featurize_clip`:
decode at the run's sample rate, trim, normalise loudness, log-mel), then ``Run.predict_logmel``,
which works for every mode (pretrain, finetune, scratch, extract, baseline). Runs over a pretrained
speech backbone (``--backbone resemblyzer``, fusions) read the waveform instead: ``Run.predict_audio``
embeds the file as the backbone did in training (:func:`accent.embeddings.audio_embedding`). A file that cannot be
used is reported on one line and the other files are still scored.

Exit status: 0 when every file was scored, 1 when at least one file could not be (the others are
still printed), 2 for a problem with the model directory or the arguments.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from accent.errors import AccentError, AudioError

DEFAULT_TOP_K = 3
EXIT_SOME_FILES_FAILED = 1


def score_file(run, path: str | Path) -> np.ndarray:
    """Probabilities over ``run.labels`` for one audio file; AudioError naming the file if unusable."""
    from accent.featurize import featurize_clip

    try:
        if run.needs_audio:  # a pretrained speech backbone reads the waveform itself
            return run.predict_audio(path)
        frames, _ = featurize_clip(path, run.feature_config)
    except AudioError as exc:
        message = str(exc)
        raise AudioError(message if str(path) in message else f"{path}: {message}") from None
    return run.predict_logmel(np.asarray(frames, dtype=np.float32))


def top_k(probabilities: np.ndarray, labels: list[str], k: int) -> list[tuple[str, float]]:
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(labels[i], float(probabilities[i])) for i in order]


def predict_files(model_dir: str | Path, paths: list[str | Path], k: int = DEFAULT_TOP_K) -> list[dict]:
    """One result per file, in order: ``{"path", "top": [{"label", "probability"}...], "probabilities"}``
    or ``{"path", "error"}`` for a file that could not be scored."""
    from accent.inference import load_run

    if k < 1:
        raise AccentError(f"--top-k must be at least 1 (got {k})")
    run = load_run(model_dir)
    results = []
    for path in paths:
        try:
            probs = score_file(run, path)
        except AccentError as exc:
            results.append({"path": str(path), "error": str(exc)})
            continue
        results.append({"path": str(path),
                        "top": [{"label": lab, "probability": p} for lab, p in top_k(probs, run.labels, k)],
                        "probabilities": dict(zip(run.labels, map(float, probs)))})
    return results


def format_table(results: list[dict]) -> str:
    lines = []
    for res in results:
        if "error" in res:
            continue
        ranked = "  ".join(f"{t['label']} {t['probability']:.3f}" for t in res["top"])
        lines.append(f"{res['path']}\t{ranked}")
    return "\n".join(lines)


def _run_cli(args) -> int:
    results = predict_files(args.model, args.audio, args.top_k)
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
        "predict", help="top-k accents with probabilities for audio files",
        description="Score audio files (any decodable format and sample rate) with a trained run. "
                    "Exit status 0: all files scored; 1: some files could not be read (reported on stderr, "
                    "the others still scored); 2: bad model directory or arguments.")
    p.add_argument("--model", required=True, help="RUNDIR of any trained run (pretrain or transfer, any mode)")
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files (wav, mp3, flac, ogg, ...)")
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help=f"accents to show per file (default {DEFAULT_TOP_K})")
    p.add_argument("--json", action="store_true", help="JSON list instead of a table (failed files carry 'error')")
    p.set_defaults(func=_run_cli)
