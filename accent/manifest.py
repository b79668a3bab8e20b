"""The manifest: one CSV row per recording, the only thing downstream stages see of a corpus.

Columns (extra columns are allowed and kept):
    utt_id, path, speaker, label, split, duration_s, text, corpus

``path`` is stored absolute so a manifest works from any working directory. ``split`` is one of
``train``, ``val``, ``test`` (or empty before splitting). ``duration_s`` may be empty when the
loader cannot know it without decoding; featurize fills it in.
"""
from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from accent.errors import AccentError
from accent.fileio import write_csv_atomic

COLUMNS = ["utt_id", "path", "speaker", "label", "split", "duration_s", "text", "corpus"]
REQUIRED = ["utt_id", "path", "speaker", "label"]
SPLITS = ("train", "val", "test")
# A recording whose corpus names no speaker becomes its own speaker, "utt-<utt_id>": splits stay
# valid, and reports can still tell that speaker-disjointness is not guaranteed for it.
NO_SPEAKER_PREFIX = "utt-"
# Set where speakers were inferred by clustering voices (accent.speakers): approximate, not named by the corpus.
SPEAKER_INFERRED = "speaker_inferred"
SAME_PASSAGE_SHARE = 0.9   # a corpus reads one passage when at least this share of its recordings share one text
SAME_PASSAGE_CORPORA = ("saa",)   # corpora that are one passage by construction (the Speech Accent Archive)


def own_speaker(utt_ids: pd.Series) -> pd.Series:
    """Speaker ids for recordings whose corpus names no speaker."""
    return NO_SPEAKER_PREFIX + utt_ids.astype(str)


def recordings_without_speaker_id(df: pd.DataFrame) -> int:
    """How many recordings carry a made-up speaker id (see :data:`NO_SPEAKER_PREFIX`)."""
    return int((df["speaker"].astype(str) == own_speaker(df["utt_id"])).sum())


def recordings_with_inferred_speaker(df: pd.DataFrame) -> int:
    """How many recordings have a speaker inferred from their voice (:data:`SPEAKER_INFERRED`)."""
    if SPEAKER_INFERRED not in df:
        return 0
    return int(df[SPEAKER_INFERRED].astype(str).str.lower().isin(["true", "1"]).sum())


def same_passage(index: pd.DataFrame) -> bool:
    """True when a manifest's (or a store index's) recordings all read one passage, which is what the
    passage-aligned recipe (:mod:`accent.aligned`) needs: most rows come from a same-passage corpus
    (``saa``), or most rows carry one and the same non-empty ``text``. A folder corpus of one passage,
    whose text column is empty, says so with ``accent manifest --passage TEXT``.
    Common Voice (each speaker reads other sentences) is never same-passage."""
    if len(index) == 0:
        return False
    if "corpus" in index and index["corpus"].astype(str).isin(SAME_PASSAGE_CORPORA).mean() >= SAME_PASSAGE_SHARE:
        return True
    if "text" not in index:
        return False
    text = index["text"].fillna("").astype(str).str.strip()
    top = text[text != ""].value_counts()
    return bool(len(top)) and top.iloc[0] / len(index) >= SAME_PASSAGE_SHARE


@dataclass
class DropLog:
    """Counts rows read, kept and dropped (by reason) while a loader builds a manifest."""

    rows_read: int = 0
    dropped: collections.Counter = field(default_factory=collections.Counter)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.dropped[reason] += int(n)

    def note(self, text: str) -> None:
        """A plain-language remark for the summary (for example: no speaker ids in this corpus)."""
        if text not in self.notes:
            self.notes.append(text)


def drop_rows(df: pd.DataFrame, mask, reason: str, log: DropLog) -> pd.DataFrame:
    """Remove the rows where ``mask`` is true and count them under ``reason``."""
    mask = pd.Series(mask, index=df.index).fillna(False).astype(bool)
    log.drop(reason, int(mask.sum()))
    return df.loc[~mask]


def finalize(df: pd.DataFrame, corpus: str) -> pd.DataFrame:
    """Give a loader's frame the schema's columns in order, typed as strings where they are names."""
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = "" if col != "duration_s" else float("nan")
    df["corpus"] = df["corpus"].replace("", corpus).fillna(corpus)
    for col in ("utt_id", "path", "speaker", "label", "split", "text", "corpus"):
        df[col] = df[col].fillna("").astype(str)
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    extras = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + extras].reset_index(drop=True)
    dup = df["utt_id"].duplicated()
    if dup.any():
        raise AccentError(f"duplicate utt_id {df.loc[dup, 'utt_id'].iloc[0]!r} in corpus {corpus!r}: "
                          "each recording needs a unique id")
    return df


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write atomically (temporary file then rename) so a crash never leaves half a manifest."""
    path = Path(path)
    write_csv_atomic(df, path)
    return path


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read and validate a manifest written by :func:`write_manifest` (or by hand)."""
    path = Path(path)
    if not path.is_file():
        raise AccentError(f"manifest {path} not found: create one with `accent manifest --corpus NAME --root DIR --out {path}`")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise AccentError(f"manifest {path} is not a readable CSV ({type(exc).__name__}): regenerate it with `accent manifest`") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise AccentError(f"manifest {path} lacks column(s) {', '.join(missing)}: expected at least {', '.join(REQUIRED)}")
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    if df.empty:
        raise AccentError(f"manifest {path} has no rows")
    if (df["label"] == "").any():
        raise AccentError(f"manifest {path}: column 'label' is empty in {int((df['label'] == '').sum())} row(s): every recording needs a label")
    base = path.resolve().parent
    df["path"] = [p if Path(p).is_absolute() else str((base / p).resolve()) for p in df["path"]]
    return df


def summarize(df: pd.DataFrame, log: DropLog | None = None, title: str = "manifest") -> str:
    """A one-screen summary: rows read/kept/dropped by reason, classes with counts, split sizes."""
    lines = [f"== {title} =="]
    if log is not None:
        lines.append(f"rows read: {log.rows_read}   kept: {len(df)}   dropped: {sum(log.dropped.values())}")
        for reason, n in log.dropped.most_common():
            lines.append(f"  dropped {n:>6}  {reason}")
    n_spk = df["speaker"].nunique() if len(df) else 0
    lines.append(f"recordings: {len(df)}   speakers: {n_spk}   classes: {df['label'].nunique() if len(df) else 0}")
    if len(df):
        by = df.groupby("label").agg(recordings=("utt_id", "size"), speakers=("speaker", "nunique"))
        by = by.sort_values("recordings", ascending=False)
        shown = by.head(25)
        lines.append(f"  {'class':<28}{'recordings':>11}{'speakers':>10}")
        for label, row in shown.iterrows():
            lines.append(f"  {str(label)[:27]:<28}{row.recordings:>11}{row.speakers:>10}")
        if len(by) > len(shown):
            lines.append(f"  ... {len(by) - len(shown)} more classes")
        if (df["split"] != "").any():
            sizes = df["split"].value_counts()
            parts = [f"{s}={int(sizes.get(s, 0))} ({df.loc[df.split == s, 'speaker'].nunique()} speakers)" for s in SPLITS]
            lines.append("splits: " + "  ".join(parts))
            n_unknown = recordings_without_speaker_id(df)
            if n_unknown:
                verdict = f"cannot be guaranteed ({n_unknown} of {len(df)} recordings have no speaker id)"
            else:
                verdict = "yes" if splits_are_speaker_disjoint(df) else "NO"
                n_inferred = recordings_with_inferred_speaker(df)
                if n_inferred and verdict == "yes":
                    verdict = f"inferred ({n_inferred} of {len(df)} recordings' speakers inferred from their voices)"
            lines.append("speaker-disjoint splits: " + verdict)
    for note in (log.notes if log else []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def splits_are_speaker_disjoint(df: pd.DataFrame) -> bool:
    """True when no speaker has recordings in two different splits."""
    per_speaker = df[df["split"] != ""].groupby("speaker")["split"].nunique()
    return bool((per_speaker <= 1).all())


def load_label_map(path: str | Path) -> dict[str, str]:
    """A label-mapping file: CSV/TSV with two columns (from, to), or a JSON object.

    Keys are matched case-insensitively after stripping. A target of ``""`` or ``drop`` drops the row.
    """
    path = Path(path)
    if not path.is_file():
        raise AccentError(f"label map {path} not found: give a CSV (from,to) or JSON object file")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise AccentError(f"label map {path} must be a JSON object mapping source labels to target labels")
            pairs = raw.items()
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, comment="#")
            if table.shape[1] < 2:
                raise AccentError(f"label map {path} needs two columns (from,to); found {list(table.columns)}")
            pairs = zip(table.iloc[:, 0], table.iloc[:, 1])
    except UnicodeDecodeError:
        raise AccentError(f"label map {path} is not UTF-8 text: re-save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise AccentError(f"label map {path} is not valid JSON (line {exc.lineno}): fix the syntax") from None
    mapping = {str(k).strip().lower(): str(v).strip() for k, v in pairs}
    if not mapping:
        raise AccentError(f"label map {path} is empty: expected rows of 'from,to'")
    return mapping


def apply_label_map(df: pd.DataFrame, mapping: dict[str, str], log: DropLog, source: str = "label map") -> pd.DataFrame:
    """Map labels through ``mapping``; unmapped labels and ``drop`` targets are dropped and counted."""
    keys = df["label"].str.strip().str.lower()
    mapped = keys.map(mapping)
    if mapped.notna().sum() == 0:
        raise AccentError(f"{source} maps none of the {df['label'].nunique()} labels in this corpus "
                          f"(for example {df['label'].iloc[0]!r} if any): check its first column")
    df = drop_rows(df, mapped.isna(), "label not in label map", log)
    mapped = mapped.loc[df.index]
    df = drop_rows(df, mapped.str.lower().isin(["", "drop"]), "label mapped to drop", log)
    df = df.copy()
    df["label"] = mapped.loc[df.index]
    return df


def filter_classes(df: pd.DataFrame, log: DropLog, classes: list[str] | None = None,
                   min_speakers: int = 1) -> pd.DataFrame:
    """Keep an explicit class list and/or classes with at least ``min_speakers`` distinct speakers."""
    if classes:
        wanted = {c.strip() for c in classes if c.strip()}
        unknown = wanted - set(df["label"])
        if unknown == wanted:
            raise AccentError(f"none of the requested classes {sorted(wanted)} occur in this corpus; "
                              f"available: {', '.join(sorted(df['label'].unique())[:20])}")
        if unknown:
            log.note(f"requested classes not found: {', '.join(sorted(unknown))}")
        df = drop_rows(df, ~df["label"].isin(wanted), "class not in --classes", log)
    if min_speakers > 1:
        n_spk = df.groupby("label")["speaker"].nunique()
        small = n_spk[n_spk < min_speakers].index
        df = drop_rows(df, df["label"].isin(small), f"class with fewer than {min_speakers} speakers", log)
    if df.empty:
        raise AccentError("no recordings left after filtering classes: lower --min-speakers or check --classes")
    return df
