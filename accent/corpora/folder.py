"""A folder per label: ``ROOT/<label>/**/*.{wav,mp3,flac,ogg}``.

The speaker of a file is, in order of preference:

* ``speaker_regex`` searched in the file's path relative to its label folder (``/`` separators):
  the first group if the pattern has one, else the whole match; files it does not match are
  dropped and counted;
* the immediate subfolder below the label (``ROOT/english/alice/01.wav`` -> ``alice``), kept as
  written so one person filed under two labels still stays in one split;
* else the recording itself (its utt_id): each recording its own speaker, which the summary notes plainly because
  splits can then no longer keep one person's recordings together.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from accent.corpora.base import nothing_left, require_dir
from accent.errors import AccentError
from accent.layout import AUDIO_EXTENSIONS
from accent.manifest import DropLog, drop_rows, own_speaker

CORPUS = "folder"
NOT_IN_LABEL_FOLDER = "audio file not inside a label folder"
REGEX_MISS = "speaker regex did not match"
NO_SPEAKER_FOLDERS = ("{n} recording(s) sit directly in their label folder with no speaker subfolder: "
                      "each is treated as its own speaker (use --speaker-regex or ROOT/<label>/<speaker>/)")


def load_folder(root: str | Path, *, speaker_regex: str | None = None,
                allow_empty: bool = False) -> tuple[pd.DataFrame, DropLog]:
    """One row per audio file under a label folder; the label is the folder's name."""
    root = require_dir(root, "audio folder root")
    pattern = compile_speaker_regex(speaker_regex)
    files = sorted(p for p in walk_files(root) if is_audio(p, root))
    if not files:
        raise AccentError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {root}: "
                          "expected ROOT/<label>/[<speaker>/]<file>")
    rel = [p.relative_to(root) for p in files]
    df = pd.DataFrame({
        "path": [str(p) for p in files],
        "label": [r.parts[0] if len(r.parts) > 1 else "" for r in rel],
        "within": ["/".join(r.parts[1:]) for r in rel],
        "utt_id": [r.with_suffix("").as_posix().replace("/", "-") for r in rel],
    })
    log = DropLog(rows_read=len(df))
    df = drop_rows(df, df["label"] == "", NOT_IN_LABEL_FOLDER, log)
    if pattern is not None:
        df = df.assign(speaker=[regex_speaker(pattern, w) for w in df["within"]])
        df = drop_rows(df, df["speaker"] == "", REGEX_MISS, log)
    else:
        speaker = pd.Series([speaker_folder(w) for w in df["within"]], index=df.index)
        n_flat = int((speaker == "").sum())
        if n_flat:
            log.note(NO_SPEAKER_FOLDERS.format(n=n_flat))
        df = df.assign(speaker=speaker.where(speaker != "", own_speaker(df["utt_id"])))
    nothing_left(df, log, CORPUS, root, allow_empty)
    return df.drop(columns=["within"]), log


def walk_files(root: Path) -> list[Path]:
    """Every file under ``root``, following links to directories (a corpus is often assembled from
    several places by linking label or speaker folders). Paths keep the link names, so a linked
    folder's label is the link's name. A link back to a folder on the current path is a loop and is
    skipped; the same folder linked under two labels is read under both."""
    files: list[Path] = []

    def visit(folder: Path, ancestors: frozenset[str]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # unreadable folder or dangling link: nothing to list
            return
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir():  # follows links
                real = os.path.realpath(entry.path)
                if real not in ancestors:
                    visit(path, ancestors | {real})
            elif entry.is_file():
                files.append(path)

    visit(root, frozenset({os.path.realpath(root)}))
    return files


def is_audio(path: Path, root: Path) -> bool:
    """An audio file by extension (any case), not hidden and not inside a hidden folder."""
    rel_parts = path.relative_to(root).parts
    return (path.suffix.lower() in AUDIO_EXTENSIONS and not any(p.startswith(".") for p in rel_parts)
            and path.is_file())


def compile_speaker_regex(speaker_regex: str | None) -> re.Pattern | None:
    if not speaker_regex:
        return None
    try:
        return re.compile(speaker_regex)
    except re.error as exc:
        raise AccentError(f"--speaker-regex {speaker_regex!r} is not a valid regular expression ({exc})") from None


def regex_speaker(pattern: re.Pattern, within: str) -> str:
    match = pattern.search(within)
    if match is None:
        return ""
    return match.group(1) if pattern.groups else match.group(0)


def speaker_folder(within: str) -> str:
    """The subfolder directly below the label, or "" for a file sitting in the label folder itself."""
    first, _, rest = within.partition("/")
    return first if rest else ""
