"""What every corpus loader needs: reading metadata tables safely, finding audio without decoding
it, and refusing to hand back an empty manifest without saying why.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from accent.errors import AccentError
from accent.layout import AUDIO_EXTENSIONS
from accent.manifest import DropLog, load_label_map
from accent.resources import packaged_label_map

AUDIO_MISSING = "audio file missing"


def require_dir(root: str | Path, what: str) -> Path:
    """``root`` as an absolute path, or AccentError when it is not an existing folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise AccentError(f"{what} {root} is not a folder: give --root the corpus folder")
    return root.resolve()


def read_table(path: Path, *, sep: str = ",", quoting: int = csv.QUOTE_MINIMAL,
               required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A metadata table read by header name, every cell a string ("" when blank).

    Columns with an empty header (SAA's three trailing commas) are left out. ``quoting`` is
    ``csv.QUOTE_NONE`` for Common Voice TSVs, whose sentences carry unbalanced quotes.
    """
    if not path.is_file():
        raise AccentError(f"metadata file {path} not found")
    try:
        df = pd.read_csv(path, sep=sep, quoting=quoting, dtype=str, keep_default_na=False,
                         encoding="utf-8")
    except UnicodeDecodeError:
        raise AccentError(f"{path} is not UTF-8 text: re-save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise AccentError(f"{path} is empty: expected a header row naming its columns") from None
    except pd.errors.ParserError as exc:
        raise AccentError(f"{path} is not a readable table ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df[[c for c in df.columns if c and not c.startswith("Unnamed:")]]
    require_columns(df, path, required)
    return df


def require_columns(df: pd.DataFrame, path: Path, columns) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AccentError(f"{path} lacks column(s) {', '.join(repr(c) for c in missing)}; "
                          f"its header is: {', '.join(df.columns)}")


def resolve_label_map(label_map) -> tuple[dict[str, str] | None, str]:
    """A label map given as a file path or a dict, with a name for error messages."""
    if label_map is None:
        return None, ""
    if isinstance(label_map, dict):
        return {str(k).strip().lower(): str(v).strip() for k, v in label_map.items()}, "label map"
    packaged = packaged_label_map(label_map)
    if packaged is not None:
        return load_label_map(packaged), f"label map {packaged.name}"
    return load_label_map(label_map), f"label map {label_map}"


class FileIndex:
    """Answers "do these files exist?" by listing each folder once.

    A Common Voice release lists a million clips in one folder: one directory listing and a set
    lookup per path are far cheaper than a stat call per row. Nothing is decoded.
    """

    def __init__(self) -> None:
        self._listed: set[str] = set()
        self._paths: set[str] = set()

    def exists(self, paths: pd.Series) -> pd.Series:
        """A boolean Series: which of ``paths`` (absolute path strings) name existing entries."""
        if len(paths):
            for folder in paths.str.rpartition(os.sep)[0].unique():
                self._list(folder)
        return paths.isin(self._paths)

    def _list(self, folder: str) -> None:
        if folder in self._listed:
            return
        self._listed.add(folder)
        try:
            self._paths.update(os.path.join(folder, name) for name in os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            pass


def nothing_left(df: pd.DataFrame, log: DropLog, corpus: str, root: Path, allow_empty: bool,
                 detail: str = "") -> None:
    """AccentError naming every drop reason when no recording survived (unless ``allow_empty``);
    ``detail`` adds a fact the reasons do not show (how many clips have audio at all)."""
    if len(df) or allow_empty:
        return
    reasons = "; ".join(f"{reason}: {n}" for reason, n in log.dropped.most_common()) or "no reasons recorded"
    detail = f"; {detail}" if detail else ""
    raise AccentError(f"{corpus} corpus at {root}: no usable recordings among {log.rows_read} rows "
                      f"({reasons}{detail}); check the label options and that the audio is present")


def utt_ids_from_relative(rel: pd.Series) -> pd.Series:
    """Readable utt_ids from relative audio paths: audio extension dropped, folders joined by '-'."""
    audio_suffix = "(" + "|".join(e.replace(".", r"\.") for e in AUDIO_EXTENSIONS) + ")$"
    stem = rel.str.replace(audio_suffix, "", case=False, regex=True)
    return stem.str.replace("\\", "/", regex=False).str.strip("/").str.replace("/", "-", regex=False)
