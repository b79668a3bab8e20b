"""Speech Accent Archive, Kaggle layout: ``ROOT/speakers_all.csv`` + ``ROOT/recordings/<filename>.mp3``.

Every speaker reads the same paragraph once, so one row is one speaker is one recording. The label
is ``native_language`` by default, or any other column (``country``, ``birthplace``...) with
``label_column``; ``accent/resources/saa_country_to_cv_bucket.csv`` (``--label-map saa_country_to_cv_bucket.csv``) bins ``country`` into Common Voice's accent
buckets, as the capstone did.

Quirks of the real file handled here: three empty trailing header fields (ignored), rows marked
``file_missing?`` TRUE (dropped: the archive has no audio for them, and their filenames repeat),
fractional ages and misspelt ``sex`` values (kept verbatim: they are descriptive extras, not labels).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from accent.corpora.base import (AUDIO_MISSING, FileIndex, nothing_left, read_table,
                                 require_dir)
from accent.errors import AccentError
from accent.layout import AUDIO_EXTENSIONS, SAA_AUDIO_SUFFIX, SAA_METADATA, SAA_RECORDINGS
from accent.manifest import DropLog, drop_rows

CORPUS = "saa"
DEFAULT_LABEL = "native_language"
MISSING_FLAG = "file_missing?"
EXTRA_COLUMNS = ("native_language", "country", "birthplace", "sex", "age", "age_onset")

STELLA_PARAGRAPH = (
    "Please call Stella. Ask her to bring these things with her from the store: "
    "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob. "
    "We also need a small plastic snake and a big toy frog for the kids. "
    "She can scoop these things into three red bags, and we will go meet her Wednesday at the train station."
)


def load_saa(root: str | Path, *, label_column: str | None = None,
             allow_empty: bool = False) -> tuple[pd.DataFrame, DropLog]:
    """Read the archive's metadata into manifest rows (no audio is decoded)."""
    root = require_dir(root, "Speech Accent Archive root")
    label_column = label_column or DEFAULT_LABEL
    meta_path = root / SAA_METADATA
    if not meta_path.is_file():
        raise AccentError(f"{meta_path} not found: the SAA root must hold {SAA_METADATA} and {SAA_RECORDINGS}/ "
                          "(the Kaggle layout)")
    meta = read_table(meta_path, required=("filename", "speakerid", label_column))
    log = DropLog(rows_read=len(meta))
    labels = meta[label_column].str.strip()
    if len(meta) and (labels == "").all():
        raise AccentError(f"{meta_path}: column {label_column!r} is empty in every row: choose another --label-column")

    if MISSING_FLAG in meta.columns:
        flagged = meta[MISSING_FLAG].str.strip().str.upper() == "TRUE"
        meta = drop_rows(meta, flagged, f"marked {MISSING_FLAG} TRUE", log)
    meta = drop_rows(meta, meta[label_column].str.strip() == "", f"empty {label_column}", log)
    meta = drop_rows(meta, meta["filename"].str.strip() == "", "empty filename", log)
    meta = drop_rows(meta, meta["filename"].str.strip().duplicated(), "duplicate filename", log)

    df = pd.DataFrame({
        "utt_id": meta["filename"].str.strip(),
        "speaker": meta["speakerid"].str.strip(),
        "label": meta[label_column].str.strip(),
        "text": STELLA_PARAGRAPH,
    }, index=meta.index)
    df["speaker"] = df["speaker"].where(df["speaker"] != "", "saa-" + df["utt_id"])
    df["path"] = [str(audio_path(root, name)) for name in df["utt_id"]]
    for col in EXTRA_COLUMNS:
        if col in meta.columns:
            df[col] = meta[col].str.strip()

    files = FileIndex()
    df = drop_rows(df, ~files.exists(df["path"]), AUDIO_MISSING, log)
    nothing_left(df, log, CORPUS, root, allow_empty)
    return df, log


def audio_path(root: Path, filename: str) -> Path:
    """``recordings/<filename>.mp3``; a filename that already has an audio extension is used as is."""
    name = filename if Path(filename).suffix.lower() in AUDIO_EXTENSIONS else filename + SAA_AUDIO_SUFFIX
    return root / SAA_RECORDINGS / name
