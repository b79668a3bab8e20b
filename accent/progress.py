"""Progress bars that suit where they are shown.

On a terminal, :class:`Progress` is tqdm as usual. When stderr is a file or a pipe (a log, CI, a
batch job), thousands of carriage-return updates would make the log unreadable, so the bar prints
a plain line when it starts, then at most one line every ``LOG_INTERVAL_S`` seconds, and a final
line when it ends.
"""
from __future__ import annotations

import os
import re
import sys

from tqdm import tqdm

LOG_INTERVAL_S = float(os.environ.get("ACCENT_PROGRESS_INTERVAL", 30))
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # cursor moves tqdm uses for nested bars


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class LineWriter:
    """A file for tqdm that turns each redraw (``\\r`` + status) into one plain line."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        for part in re.split(r"[\r\n]", _CONTROL.sub("", text)):
            if part.strip():
                self.stream.write(part.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class Progress(tqdm):
    """tqdm on a terminal; occasional plain lines (start, every LOG_INTERVAL_S s, end) elsewhere."""

    def __init__(self, *args, file=None, interval_s: float | None = None, **kwargs):
        file = sys.stderr if file is None else file
        if not is_terminal(file):
            file = LineWriter(file)
            kwargs.update(mininterval=LOG_INTERVAL_S if interval_s is None else interval_s, leave=True,
                          dynamic_ncols=False, ascii=True)
            kwargs.setdefault("ncols", 100)
        super().__init__(*args, file=file, **kwargs)
