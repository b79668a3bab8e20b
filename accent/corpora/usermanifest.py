"""Any other corpus, through a table the user writes: a CSV (or ``.tsv``) with at least ``path`` and
``label`` columns (``--label-column`` picks another label column).

Optional columns are used when present: ``speaker`` (absent or blank: each recording is its own
speaker, and the summary says so), ``utt_id`` (else derived from the path), ``text``,
``duration_s``, ``split`` (used only with ``release_splits``: ``train``, ``val``/``dev``,
``test``). Relative paths are resolved against the table's own folder; other columns are kept.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from accent.corpora.base import AUDIO_MISSING, FileIndex, nothing_left, read_table, utt_ids_from_relative
from accent.errors import AccentError
from accent.manifest import SPLITS, DropLog, drop_rows, own_speaker

CORPUS = "manifest"
TAB_SUFFIXES = (".tsv", ".tab")
SPLIT_ALIASES = {"train": "train", "val": "val", "dev": "val", "validation": "val", "test": "test"}
NO_SPEAKERS = ("{n} recording(s) have no speaker: each is treated as its own speaker, so splits "
               "cannot keep one person's recordings together")


def load_user_manifest(root: str | Path, *, label_column: str | None = None, release_splits: bool = False,
                       allow_empty: bool = False) -> tuple[pd.DataFrame, DropLog]:
    """Read the user's table; ``root`` is the table file itself."""
    table_path = Path(root).expanduser().resolve()
    if not table_path.is_file():
        raise AccentError(f"manifest table {table_path} not found: --corpus manifest takes --root FILE.csv "
                          "with at least path,label columns")
    label_column = label_column or "label"
    is_tab = table_path.suffix.lower() in TAB_SUFFIXES
    table = read_table(table_path, sep="\t" if is_tab else ",",
                       quoting=csv.QUOTE_NONE if is_tab else csv.QUOTE_MINIMAL,
                       required=("path", label_column) + (("split",) if release_splits else ()))
    log = DropLog(rows_read=len(table))
    if len(table) and (table[label_column].str.strip() == "").all():
        raise AccentError(f"{table_path}: column {label_column!r} is empty in every row: every recording needs a label")

    base = table_path.parent
    df = table.assign(label=table[label_column].str.strip(), path=table["path"].str.strip())
    df = drop_rows(df, df["path"] == "", "empty path", log)
    df = drop_rows(df, df["label"] == "", f"empty {label_column}", log)
    absolute = [Path(p) if Path(p).is_absolute() else (base / p).resolve() for p in df["path"]]
    df = df.assign(path=[str(p) for p in absolute])
    df = drop_rows(df, df["path"].duplicated(), "duplicate path", log)
    df = df.assign(utt_id=utt_ids(df, base))
    df = assign_speakers(df, log)
    if release_splits:
        df = df.assign(split=own_splits(df["split"], table_path))
        log.note(f"splits are the table's own 'split' column ({table_path.name})")
    elif "split" in df:
        df = df.drop(columns=["split"])

    files = FileIndex()
    df = drop_rows(df, ~files.exists(df["path"]), AUDIO_MISSING, log)
    nothing_left(df, log, CORPUS, table_path, allow_empty)
    return df, log


def utt_ids(df: pd.DataFrame, base: Path) -> pd.Series:
    """The table's ``utt_id`` where given, else the path below the table's folder (or the stem)."""
    given = df["utt_id"].str.strip() if "utt_id" in df else pd.Series("", index=df.index)
    below = [os.path.relpath(p, base) if p.startswith(str(base) + os.sep) else os.path.basename(p)
             for p in df["path"]]
    derived = utt_ids_from_relative(pd.Series(below, index=df.index))
    return given.where(given != "", derived)


def assign_speakers(df: pd.DataFrame, log: DropLog) -> pd.DataFrame:
    speaker = df["speaker"].str.strip() if "speaker" in df else pd.Series("", index=df.index)
    n_missing = int((speaker == "").sum())
    if n_missing:
        log.note(NO_SPEAKERS.format(n=n_missing))
    return df.assign(speaker=speaker.where(speaker != "", own_speaker(df["utt_id"])))


def own_splits(split: pd.Series, table_path: Path) -> pd.Series:
    """The table's split names normalised to train/val/test; AccentError on anything else."""
    normalised = split.str.strip().str.lower().map(SPLIT_ALIASES)
    bad = split[normalised.isna()]
    if len(bad):
        raise AccentError(f"{table_path}: column 'split' holds {bad.iloc[0]!r}; expected one of "
                          f"{', '.join(SPLITS)} (or dev/validation) in every row")
    return normalised
