"""A trained model as one self-contained file (``NAME.accent``) and its model card.

``accent export --model RUNDIR --out NAME.accent`` writes a zip archive (or, for any other ``--out``,
a folder) holding:

* ``weights.safetensors``: every tensor of the run's checkpoint (network weights, normalisation,
  the scikit-learn arrays of extract/baseline runs), under its path in the checkpoint
  (``state_dict/body.0.weight``, ``sklearn/coef``, ``norm_mean``);
* ``model.json``: ``{"format": "accent-model/1", "checkpoint": ..., "card": ...}``: the rest of
  the checkpoint (labels, feature config, model config, ...) as JSON, each tensor replaced by
  ``{"$tensor": NAME}``, and the model card;
* ``run.json``: the training summary exactly as the run wrote it;
* ``README.md``: the model card for people.

Loading reads those members by name from the archive (nothing is extracted, so no member can name a
path) and parses them with safetensors and json only: a model file never unpickles. Runs whose
scikit-learn classifier exists only as a joblib pickle cannot be exported.

:func:`accent.inference.load_run` accepts a run directory or a model file (the reader is in
:mod:`accent.checkpoint`) and returns the same ``Run`` object, so every consumer takes either.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from accent.checkpoint import (CARD_README, MODEL_FORMAT, MODEL_JSON, MODEL_SUFFIX, TENSOR_REF, WEIGHTS,
                               is_model_file, read_model_json)
from accent.errors import AccentError
from accent.fileio import atomic_path
from accent.inference import Run, load_run
from accent.layout import PREDICTIONS, RUN_JSON
from accent.metrics import bootstrap_intervals

DROPPED_KEYS = ("optimizer",)  # training state that inference never needs


# ---------------------------------------------------------------------------------------- export
def _encode(ckpt: dict, rundir: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(JSON skeleton, tensors by name): every tensor or array leaf moves to the tensors."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(node, name: str):
        if isinstance(node, np.ndarray):
            node = torch.from_numpy(node)
        if isinstance(node, torch.Tensor):
            tensors[name] = node.detach().cpu().contiguous().clone()  # clone: safetensors refuses shared storage
            return {TENSOR_REF: name}
        if isinstance(node, dict):
            return {str(k): walk(v, f"{name}/{k}" if name else str(k)) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [walk(v, f"{name}/{i}") for i, v in enumerate(node)]
        if isinstance(node, (np.floating, np.integer, np.bool_)):
            return node.item()
        if node is None or isinstance(node, (str, int, float, bool)):
            return node
        raise AccentError(f"run {rundir}: checkpoint value {name} has type {type(node).__name__}, which a model "
                          "file cannot hold")

    skeleton = walk({k: v for k, v in ckpt.items() if k not in DROPPED_KEYS}, "")
    return skeleton, tensors


def export_model(rundir: str | Path, out: str | Path) -> Path:
    """Write the model file for a run: a zip when ``out`` ends in .accent, else a folder."""
    from safetensors.torch import save as save_safetensors

    rundir, out = Path(rundir), Path(out)
    if is_model_file(rundir):
        raise AccentError(f"{rundir} is already a model file; give the run directory it came from")
    run = load_run(rundir)
    sklearn = run.ckpt.get("sklearn") or {}
    if "joblib" in sklearn:
        raise AccentError(f"run {rundir} keeps its {sklearn.get('classifier')} classifier as a joblib pickle, which a "
                          "model file never holds: retrain it with --classifier logreg to export it")
    skeleton, tensors = _encode(run.ckpt, rundir)
    card = {**model_card(run), "name": out.name}
    files = {MODEL_JSON: json.dumps({"format": MODEL_FORMAT, "checkpoint": skeleton, "card": card},
                                    indent=1, default=float).encode("utf-8"),
             WEIGHTS: save_safetensors(tensors, metadata={"format": MODEL_FORMAT}),
             RUN_JSON: json.dumps(run.run_json, indent=2, default=float).encode("utf-8"),
             CARD_README: card_markdown(card, out.name).encode("utf-8")}
    if out.suffix == MODEL_SUFFIX:
        with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        if out.exists() and any(out.iterdir()) and not (out / MODEL_JSON).is_file():
            raise AccentError(f"--out {out} is a folder with other files in it: choose a new folder or NAME.accent")
        for name, data in files.items():  # model.json last: its presence marks a complete folder
            if name != MODEL_JSON:
                with atomic_path(out / name) as tmp:
                    tmp.write_bytes(data)
        with atomic_path(out / MODEL_JSON) as tmp:
            tmp.write_bytes(files[MODEL_JSON])
    return out


# ---------------------------------------------------------------------------------------- model card
def model_card(run: Run) -> dict:
    """What a person needs to judge the model: classes, training data, and the test balanced accuracy
    with its 95 % interval resampled over speakers (from the run's predictions.csv); and what a clip
    must be (:func:`reading_card`)."""
    if is_model_file(run.rundir):
        return {**(read_model_json(Path(run.rundir)).get("card") or {}), **reading_card(run)}
    rj = run.run_json or {}
    test = (rj.get("metrics") or {}).get("test") or {}
    card = {"name": Path(run.rundir).name, "mode": run.mode, "backbone": run.backbone, **reading_card(run),
            "classes": list(run.labels), "sample_rate": run.feature_config.sample_rate,
            "min_duration_s": run.feature_config.min_duration_s,
            "training": {k: rj.get(k) for k in ("features", "source", "seed", "per_class", "train_fraction",
                                                "n_train_recordings", "n_train_speakers", "train_seconds",
                                                "best_epoch", "epochs_run", "dataset")},
            "test": None}
    if test:
        card["test"] = {"balanced_accuracy": test.get("balanced_accuracy"), "accuracy": test.get("accuracy"),
                        "macro_f1": test.get("macro_f1"), "n": test.get("n"),
                        "interval": _test_interval(Path(run.rundir), run.labels), "confidence": 0.95,
                        "resampled": "speakers"}
    return card


def reading_card(run: Run) -> dict:
    """What the model expects a clip to say, from its fitted model (also for model files exported
    before the card held it): ``prompt`` (a passage to read aloud, or None), ``needs_text`` (each clip
    needs its transcript), and the answer (``off_words``) for a clip whose passage_match is below
    ``match_threshold``."""
    fitted = run.fitted
    return {"prompt": fitted.prompt, "needs_text": fitted.needs_text, "match_threshold": fitted.match_threshold,
            "off_words": fitted.off_words}


def _test_interval(rundir: Path, labels: list[str]) -> list[float] | None:

    path = rundir / PREDICTIONS
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, dtype={"speaker": str, "label": str, "pred": str})
    test = table[table["split"] == "test"] if "split" in table.columns else table
    if test.empty:
        return None
    lo, hi = bootstrap_intervals(test, labels)["balanced_accuracy"]
    return [lo, hi]


def read_card(path: str | Path) -> dict:
    """The card of a run directory (computed) or model file (stored)."""
    return model_card(load_run(path))


def card_markdown(card: dict, name: str) -> str:
    """The model card as the README.md inside a model file."""
    tr = card.get("training") or {}
    ds = tr.get("dataset") or {}
    test = card.get("test")
    if test and test.get("interval"):
        lo, hi = test["interval"]
        result = (f"balanced accuracy **{test['balanced_accuracy']:.3f}** (95 % interval {lo:.3f}-{hi:.3f}, "
                  f"resampled over speakers) on {test['n']} test recordings of speakers unseen in training; "
                  f"accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}")
    elif test:
        result = f"balanced accuracy {test['balanced_accuracy']:.3f} on {test['n']} test recordings (no interval)"
    else:
        result = "no test split was scored for this run"
    chance = 1 / max(1, len(card.get("classes") or []))
    backbone = f", backbone `{card['backbone']}`" if card.get("backbone") else ""
    return "\n".join([
        f"# {name}: an `accent` accent classifier", "",
        f"Mode `{card.get('mode')}`{backbone}. Reads any decodable audio file, resampled "
        f"to {card.get('sample_rate')} Hz; clips with less than {card.get('min_duration_s')} s of sound after "
        "trimming silence are refused.", "", *_reading_lines(card),
        "## Classes", "", ", ".join(f"`{c}`" for c in card.get("classes") or []), "",
        "## Training data", "",
        f"- feature store: `{tr.get('features')}`" + (f", pretrained source `{tr['source']}`" if tr.get("source") else ""),
        f"- {tr.get('n_train_recordings')} training recordings from {tr.get('n_train_speakers')} speakers",
        f"- the whole store: {ds.get('n_recordings')} recordings, {ds.get('n_speakers')} speakers, "
        f"{ds.get('n_classes')} classes; splits {ds.get('splits')}; speaker-disjoint: {ds.get('speaker_disjoint')}",
        "",
        "## Test result", "", f"{result}. Chance level is {chance:.3f}.", "",
        "## Use", "", "```bash", f"accent predict --model {name} clip.wav --top-k 3",
        f"accent predict --model {name} --out predictions.csv folder_of_clips/",
        f"accent serve --model {name}          # http://127.0.0.1:8000", "```", "",
        "## Files", "",
        f"- `{WEIGHTS}`: all tensors (safetensors); `{MODEL_JSON}`: labels, feature and model config, this card",
        f"- `{RUN_JSON}`: the training summary; loading never unpickles anything", ""])


def _reading_lines(card: dict) -> list[str]:
    """The card's paragraph on what to say, when the model expects a passage or a transcript."""
    if card.get("prompt"):
        return ["## What to read", "", f"Every clip should read this passage (a clip that does not is answered "
                f"\"{card.get('off_words')}\" instead of an accent):", "", f"> {card['prompt']}", ""]
    if card.get("needs_text"):
        return ["## What to read", "", "Any sentence, with its transcript: `accent predict --text TEXT` (or a text "
                "column in a manifest).", ""]
    return []


def _run_cli(args) -> int:
    out = export_model(args.model, args.out)
    size = sum(f.stat().st_size for f in out.rglob("*")) if out.is_dir() else out.stat().st_size
    print(f"exported {args.model} -> {out} ({size / 1e6:.1f} MB)")
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a run as one self-contained model file (NAME.accent)",
                              description="Weights in safetensors, labels, feature config, training summary and a "
                                          "model-card README in one zip (NAME.accent) or folder (any other --out). "
                                          "predict, evaluate and serve accept it; loading never unpickles.")
    p.add_argument("--model", required=True, help="RUNDIR of a trained run")
    p.add_argument("--out", required=True, help="NAME.accent (a zip) or a new folder")
    p.set_defaults(func=_run_cli)
