"""Mozilla Common Voice, every release layout, into manifest rows.

Layouts (``ROOT`` is the folder holding the metadata):

* v1 on Kaggle: ``cv-{valid,other,invalid}-{train,dev,test}.csv``; ``filename`` is relative to
  ROOT; no speaker ids, so each recording is its own speaker (the summary says so).
* releases 1 to 16.x: ``validated.tsv``, ``train.tsv``, ``dev.tsv``, ``test.tsv``... with
  ``client_id`` (the speaker), ``path`` (with or without ``.mp3``) and ``accent`` (a fixed id).
* releases 17+: the same TSVs with ``accents`` (free text, several values joined by ``|`` or ``,``)
  and ``variant``; ``clip_durations.tsv`` gives durations.

Clips are looked for in ``ROOT/clips/`` and then beside the TSV (some redistributions flatten the
folder). By default the validated clips are read (``validated.tsv``, or ``cv-valid-*.csv``), else
``train/dev/test``; ``release_splits`` reads ``train/dev/test`` and keeps them as train/val/test.

Labels: the accent text, or ``variant`` when the accent is empty (a variant is chosen from a fixed
list, so it is a clean label when present), mapped to buckets by ``accent/resources/cv_accent_buckets.csv`` or
by ``label_map``. A value with several parts takes the bucket its known parts agree on; rows whose
parts map to different buckets are dropped. ``label_column`` picks another column (``gender``,
``age``...), used verbatim unless a ``label_map`` is given. Clips with more down-votes than up-votes
are dropped unless ``keep_downvoted``. Nothing is decoded; only file existence is checked.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pandas as pd

from accent.corpora.base import (AUDIO_MISSING, FileIndex, nothing_left, read_table, require_dir,
                                 resolve_label_map, utt_ids_from_relative)
from accent.errors import AccentError
from accent.layout import CV_CLIPS, CV_VALIDATED
from accent.manifest import DropLog, drop_rows, load_label_map, own_speaker
from accent.resources import resource_path

CORPUS = "commonvoice"
DEFAULT_BUCKETS = "cv_accent_buckets.csv"  # packaged: accent/resources/
RELEASE_SPLITS = {"train": "train", "dev": "val", "test": "test"}  # file name -> manifest split
V1_FILE = "cv-valid-{}.csv"
CLIP_DURATIONS = "clip_durations.tsv"
CLIP_SUFFIX = ".mp3"
ACCENT_COLUMNS = ("accents", "accent")  # 17+ free text first, then the id of releases up to 16.x
VARIANT = "variant"
EXTRA_COLUMNS = ("age", "gender", "locale", "variant", "up_votes", "down_votes")
MULTI_VALUE_SEPARATOR = re.compile(r"\||,(?![^()]*\))")  # '|' anywhere, ',' outside parentheses
DROP_TARGETS = ("", "drop")

INTERNAL_COLUMNS = ("rel", "layout", "utt_id", "speaker", "text", "split")
V1, RELEASE = "v1", "release"

UNMAPPED = "unmapped"
DOWNVOTED = "more down-votes than up-votes"
DUPLICATE = "duplicate clip"
CONFLICT = "several accents in different buckets"
MAPPED_TO_DROP = "label mapped to drop"
NO_SPEAKER_IDS = ("Common Voice v1 (Kaggle CSV) has no speaker ids: each recording is treated as its own "
                  "speaker, so splits cannot keep one person's clips together and scores may be optimistic")


def load_commonvoice(root: str | Path, *, label_column: str | None = None, label_map=None,
                     release_splits: bool = False, keep_downvoted: bool = False,
                     allow_empty: bool = False) -> tuple[pd.DataFrame, DropLog]:
    """Read a Common Voice folder into manifest rows; ``label_map`` is a path or a dict."""
    root = require_dir(root, "Common Voice root")
    log = DropLog()
    sources = metadata_files(root, release_splits, log)
    df = pd.concat([read_metadata(path, split) for path, split in sources], ignore_index=True)
    df = listed = df.fillna("")
    log.rows_read = len(df)

    df = drop_rows(df, df["rel"].duplicated(), DUPLICATE, log)
    if not keep_downvoted and {"up_votes", "down_votes"} <= set(df.columns):
        up, down = (pd.to_numeric(df[c], errors="coerce").fillna(0) for c in ("up_votes", "down_votes"))
        df = drop_rows(df, down > up, DOWNVOTED, log)
    df = assign_labels(df, label_column, label_map, log, sources[0][0])

    files = FileIndex()
    df = df.assign(path=locate_clips(df, root, files))
    df = drop_rows(df, df["path"] == "", AUDIO_MISSING, log)
    if (df["speaker"] == "").any():
        log.note(NO_SPEAKER_IDS if (df["layout"] == V1).any() else
                 "some clips have no client_id: each of those is treated as its own speaker")
        df = df.assign(speaker=df["speaker"].where(df["speaker"] != "", own_speaker(df["utt_id"])))
    df = df.assign(duration_s=clip_durations(df, root))
    if df.empty and not allow_empty:
        n_audio = int((locate_clips(listed, root, files) != "").sum())
        nothing_left(df, log, CORPUS, root, allow_empty,
                     detail=f"{n_audio} of the {len(listed)} clips listed have their audio file present")
    keep = ["utt_id", "path", "speaker", "label", "split", "duration_s", "text", "label_raw"]
    return df[keep + [c for c in EXTRA_COLUMNS if c in df.columns]], log


def clip_durations(df: pd.DataFrame, root: Path) -> pd.Series:
    """Seconds from the metadata: v1's ``duration`` column (empty in reality) or a release's
    ``clip_durations.tsv``; NaN where unknown (featurize measures them)."""
    seconds = pd.Series(float("nan"), index=df.index)
    if "duration" in df:
        seconds = pd.to_numeric(df["duration"], errors="coerce")
    table_path = root / CLIP_DURATIONS
    if table_path.is_file() and seconds.isna().any():
        table = read_table(table_path, sep="\t", quoting=csv.QUOTE_NONE, required=("clip", "duration[ms]"))
        ms = pd.to_numeric(table["duration[ms]"], errors="coerce")
        by_clip = pd.Series(ms.to_numpy() / 1000.0, index=table["clip"].str.strip())
        by_clip = by_clip[~by_clip.index.duplicated()]
        names = [os.path.basename(p) for p in df["path"]]
        seconds = seconds.fillna(pd.Series(by_clip.reindex(names).to_numpy(), index=df.index))
    return seconds


def metadata_files(root: Path, release_splits: bool, log: DropLog) -> list[tuple[Path, str]]:
    """Which metadata files to read, each with the split it fixes ("" when we split ourselves)."""
    v1 = {name: root / V1_FILE.format(name) for name in RELEASE_SPLITS}
    tsv = {name: root / f"{name}.tsv" for name in RELEASE_SPLITS}
    if any(p.is_file() for p in v1.values()):
        candidates = v1
    elif (root / CV_VALIDATED).is_file() and not release_splits:
        return [(root / CV_VALIDATED, "")]
    else:
        candidates = tsv
    present = {name: p for name, p in candidates.items() if p.is_file()}
    if not present:
        raise AccentError(f"no Common Voice metadata in {root}: expected {CV_VALIDATED} or train/dev/test.tsv "
                          f"(a release) or cv-valid-*.csv (v1 on Kaggle){subfolder_hint(root)}")
    if release_splits:
        absent = [p.name for name, p in candidates.items() if name not in present]
        if absent:
            log.note(f"release split file(s) {', '.join(absent)} absent: those splits are empty")
        log.note("splits are the release's own train/dev/test files (--release-splits)")
    return [(p, RELEASE_SPLITS[name] if release_splits else "") for name, p in present.items()]


def subfolder_hint(root: Path) -> str:
    """Point at the language folder when the user gave its parent (``cv-corpus-17.0/`` vs ``.../en``)."""
    for pattern in (f"*/{CV_VALIDATED}", "*/train.tsv", "*/cv-valid-*.csv"):
        found = sorted(root.glob(pattern))
        if found:
            return f"; found {found[0]}: pass --root {found[0].parent}"
    return ""


def read_metadata(path: Path, split: str) -> pd.DataFrame:
    """One metadata file as its own columns plus ``rel`` (the clip path as written), ``layout``,
    ``utt_id``, ``speaker``, ``text`` and ``split``."""
    if path.suffix == ".csv":  # v1 on Kaggle: a quoted CSV, paths relative to the root
        meta = read_table(path, required=("filename",))
        rel, speaker, layout = meta["filename"].str.strip(), "", V1
        text = meta["text"] if "text" in meta else ""
    else:
        meta = read_table(path, sep="\t", quoting=csv.QUOTE_NONE, required=("client_id", "path"))
        rel, speaker, layout = meta["path"].str.strip(), meta["client_id"].str.strip(), RELEASE
        text = meta["sentence"] if "sentence" in meta else ""
    meta = meta.drop(columns=[c for c in ("path", "text", "split") if c in meta])
    return meta.assign(rel=rel, layout=layout, speaker=speaker, text=text, split=split,
                       utt_id=utt_ids_from_relative(rel))


def locate_clips(df: pd.DataFrame, root: Path, files: FileIndex) -> pd.Series:
    """Each row's clip as an absolute path, or "" when absent. v1 paths are relative to the root;
    release clips are looked for in ``clips/`` then beside the TSV, with ``.mp3`` added first when
    the path has no extension (release 1)."""
    base = str(root) + os.sep
    clips = os.path.join(str(root), CV_CLIPS) + os.sep
    rel = df["rel"]
    has_suffix = rel.str.contains(r"\.[A-Za-z0-9]+$", regex=True)
    with_suffix = rel.where(has_suffix, rel + CLIP_SUFFIX)
    is_v1 = df["layout"] == V1
    candidates = [(base + rel).where(is_v1, clips + with_suffix)] + [
        (folder + name).where(~is_v1, "") for folder, name in ((clips, rel), (base, with_suffix), (base, rel))]
    found = pd.Series("", index=df.index)
    for candidate in candidates:
        hit = (found == "") & files.exists(candidate)
        found = found.where(~hit, candidate)
    return found


def assign_labels(df: pd.DataFrame, label_column: str | None, label_map, log: DropLog,
                  source: Path) -> pd.DataFrame:
    """Set ``label`` (and ``label_raw``, the value before mapping) from the accent or ``label_column``."""
    mapping, map_name = resolve_label_map(label_map)
    if label_column in (None, *ACCENT_COLUMNS):
        column = label_column or next((c for c in ACCENT_COLUMNS if c in df.columns), ACCENT_COLUMNS[0])
        what = "accent"
        if mapping is None:
            mapping, map_name = load_label_map(resource_path(DEFAULT_BUCKETS)), f"the accent table ({DEFAULT_BUCKETS})"
    else:
        column, what = label_column, label_column
    if column not in df.columns:
        raise AccentError(f"{source} has no column {column!r} to take labels from: give --label-column "
                          f"one of {', '.join(c for c in df.columns if c not in INTERNAL_COLUMNS)}")
    raw = df[column].str.strip()
    if label_column is None and VARIANT in df.columns:
        raw = raw.where(raw != "", df[VARIANT].str.strip())
    if label_column is not None and (raw == "").all():
        raise AccentError(f"{source}: column {column!r} is empty in every row: choose another --label-column")
    df = drop_rows(df.assign(label_raw=raw), raw == "", f"no {what}", log)
    if mapping is None:
        return df.assign(label=df["label_raw"])

    resolved = {value: bucket_of(value, mapping) for value in df["label_raw"].unique()}
    if label_map is not None and resolved and all(reason == UNMAPPED for _, reason in resolved.values()):
        example = next(iter(resolved), "")
        raise AccentError(f"{map_name} maps none of the {len(resolved)} {what} values in {source.parent} "
                          f"(for example {example!r}): check its first column")
    reasons = df["label_raw"].map(lambda v: resolved[v][1])
    shown = {UNMAPPED: f"{what} not in {map_name}", CONFLICT: CONFLICT, MAPPED_TO_DROP: MAPPED_TO_DROP}
    for reason, text in shown.items():
        df = drop_rows(df, reasons.loc[df.index] == reason, text, log)
    return df.assign(label=df["label_raw"].map(lambda v: resolved[v][0]))


def bucket_of(value: str, mapping: dict[str, str]) -> tuple[str, str]:
    """``(bucket, "")`` for a label value, or ``("", reason)`` when its row must be dropped.

    The whole value is looked up first (long names contain commas), then its parts; parts the
    mapping does not know (free-text qualifiers like "Midwestern") are ignored.
    """
    key = value.strip().lower()
    if key in mapping:
        buckets = {mapping[key]}
    else:
        parts = (p.strip().lower() for p in MULTI_VALUE_SEPARATOR.split(value))
        buckets = {mapping[p] for p in parts if p in mapping}
    if not buckets:
        return "", UNMAPPED
    if len(buckets) > 1:
        return "", CONFLICT
    bucket = buckets.pop()
    if bucket.lower() in DROP_TARGETS:
        return "", MAPPED_TO_DROP
    return bucket, ""
