"""Data files the code reads at run time, shipped inside the package (pyproject's package-data)
and found with importlib.resources, so an installed wheel works from any directory.

* ``cv_accent_buckets.csv``: Common Voice accent text -> accent bucket (the commonvoice default)
* ``saa_country_to_cv_bucket.csv``: SAA birth country -> the same buckets (``--label-map`` by name)
* ``sentences.txt``: the sentences the synthetic Common Voice-like corpus reads
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from accent.errors import AccentError

NAMES = ("cv_accent_buckets.csv", "saa_country_to_cv_bucket.csv", "sentences.txt")


def resource_path(name: str) -> Path:
    """The packaged file ``name`` as a filesystem path (pip and wheels install packages as files)."""
    if name not in NAMES:
        raise AccentError(f"no packaged data file {name!r}: choose from {', '.join(NAMES)}")
    path = Path(str(files(__name__) / name))
    if not path.is_file():
        raise AccentError(f"packaged data file {name} is missing from {path.parent}: reinstall accent "
                          "(`pip install --force-reinstall accent`)")
    return path


def packaged_label_map(label_map: str | Path) -> Path | None:
    """The packaged table a ``--label-map`` names when no such file exists where it points
    (``saa_country_to_cv_bucket.csv``, or an old ``data/...`` path from before the tables moved)."""
    given = Path(label_map)
    if given.is_file() or given.name not in NAMES or given.suffix != ".csv":
        return None
    return resource_path(given.name)
