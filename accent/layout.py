"""What the stages exchange on disk: file names, format tags, the modes, and the readers of the records.

Torch-free and cheap to import: the command line, the learning curve's bookkeeping and the report
read run directories through this module without loading a network. Every other module takes these
names from here, so a file name or a mode is spelled once.
"""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import pandas as pd

from accent.errors import AccentError
from accent.fileio import read_json_or_none

# -- audio and corpora ------------------------------------------------------------------------------
AUDIO_EXTENSIONS = (".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a")   # what a folder corpus and predict accept
SAA_METADATA = "speakers_all.csv"    # Speech Accent Archive (Kaggle layout): metadata ...
SAA_RECORDINGS = "recordings"        # ... and the folder of <filename>.mp3
SAA_AUDIO_SUFFIX = ".mp3"
CV_VALIDATED = "validated.tsv"       # the file that marks a Common Voice release root
CV_CLIPS = "clips"

# -- run directories (RUNDIR) -----------------------------------------------------------------------
RUN_FORMAT = "accent-run/1"          # checkpoint.pt "format"; changes only with a migration
CHECKPOINT = "checkpoint.pt"
TRAIN_STATE = "train_state.pt"       # present while a run is unfinished (resume point)
RUN_JSON = "run.json"                # written last: its presence marks a finished run
PREDICTIONS = "predictions.csv"
JOBLIB_FILE = "classifier.joblib"    # non-linear scikit-learn classifiers (a pickle)
ALIGNED_MODEL = "aligned_model.npz"  # an aligned run's model (plain arrays): it stands in for checkpoint.pt
ALIGNED_SOURCE = "aligned_source.npz"  # beside a pretrained network: references and NAP of a same-passage source
PHONETIC_MODEL = "phonetic_model.npz"    # a phonetic run's model (plain arrays): it stands in for checkpoint.pt
PHONETIC_SOURCE = "phonetic_source.npz"  # beside a network pretrained on a store with text: the source's phonetic classifier
EVALUATION_JSON = "evaluation.json"
PREDICTION_COLUMNS = ("utt_id", "speaker", "split", "label", "pred")   # then p_<label> per label
SPLITS = ("train", "val", "test")

# -- learning curves (CURVEDIR) ---------------------------------------------------------------------
CURVE_CSV = "curve.csv"
CURVE_JSON = "curve.json"
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
CURVE_COLUMNS = ["series", "mode", "backbone", "size", "seed", "n_train_recordings", "n_test_recordings", *METRICS,
                 "best_epoch", "epochs_run", "train_seconds", "run_dir"]


class Mode(str, Enum):
    """The names of what a run did (run.json ``mode``); what each mode does and needs is its class in
    :mod:`accent.methods`, whose registry also orders them."""

    PRETRAIN = "pretrain"
    BASELINE = "baseline"
    SCRATCH = "scratch"
    EXTRACT = "extract"
    FINETUNE = "finetune"
    ALIGNED = "aligned"

    def __str__(self) -> str:
        return self.value


def predictions_table(index: pd.DataFrame, rows, probs, labels: list[str]) -> pd.DataFrame:
    """predictions.csv of store rows: utt_id, speaker, split, label, pred, then p_<label> per label."""
    table = index.iloc[rows][["utt_id", "speaker", "split", "label"]].reset_index(drop=True)
    table["pred"] = [labels[k] for k in probs.argmax(1)] if len(rows) else []
    for k, lab in enumerate(labels):
        table[f"p_{lab}"] = probs[:, k] if len(rows) else []
    return table


# -- readers ------------------------------------------------------------------------------------------
def read_run_json(rundir: str | Path) -> dict | None:
    """A run's run.json, or None: missing or unreadable means "not finished" (train it again)."""
    return read_json_or_none(Path(rundir) / RUN_JSON)


def require_run_json(rundir: str | Path) -> dict:
    """A finished run's run.json; a one-line AccentError when it is missing or damaged."""
    path = Path(rundir) / RUN_JSON
    if not path.is_file():
        raise AccentError(f"{path} not found: {rundir} is not a finished run directory (train it with "
                          "`accent pretrain` or `accent transfer`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AccentError(f"{path} is not valid JSON: the run was damaged; rerun the stage that wrote it") from None


def finished_run(rundir: str | Path) -> dict | None:
    """run.json of a finished run in ``rundir`` (checkpoint.pt or an aligned model present, no
    training state), else None."""
    rundir = Path(rundir)
    has_model = (rundir / CHECKPOINT).is_file() or (rundir / ALIGNED_MODEL).is_file()
    if has_model and not (rundir / TRAIN_STATE).exists():
        return read_run_json(rundir)
    return None


def read_predictions(rundir: str | Path, split: str | None = None) -> pd.DataFrame | None:
    """predictions.csv (optionally one split), or None when the run has none."""
    csv = Path(rundir) / PREDICTIONS
    if not csv.is_file():
        return None
    df = pd.read_csv(csv, dtype={"utt_id": str, "speaker": str, "label": str, "pred": str, "split": str},
                     keep_default_na=False)
    missing = [c for c in ("utt_id", "speaker", "label", "pred") if c not in df.columns]
    if missing:
        raise AccentError(f"{csv} lacks column(s) {', '.join(missing)}: rerun the stage that wrote it")
    if split is not None and "split" in df.columns:
        return df[df["split"] == split]
    return df


def read_curve(curve_dir: str | Path) -> pd.DataFrame:
    """curve.csv of a learning curve; AccentError when it is missing, empty or lacks columns."""
    path = Path(curve_dir) / CURVE_CSV
    if not path.is_file():
        raise AccentError(f"{path} not found: run `accent curve --out {curve_dir} ...` first")
    df = pd.read_csv(path, dtype={"size": str})
    missing = [c for c in CURVE_COLUMNS if c not in df.columns]
    if missing:
        raise AccentError(f"{path} lacks column(s) {', '.join(missing)}: rerun `accent curve` to rewrite it")
    if df.empty:
        raise AccentError(f"{path} has no runs yet: rerun `accent curve` to resume")
    return df
