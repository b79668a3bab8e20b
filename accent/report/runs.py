"""Run directories as the report sees them: run.json, test predictions, speaker-bootstrap intervals."""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from accent.layout import read_predictions, require_run_json
from accent.methods import find_method, mode_rank


@dataclass
class RunRecord:
    """A run directory as the report sees it: its name in the report, run.json and test predictions."""

    name: str
    path: Path
    run: dict
    test_predictions: pd.DataFrame | None

    @property
    def mode(self) -> str:
        return str(self.run.get("mode", "?"))

    @property
    def is_source(self) -> bool:
        """A pretrained source run (``accent pretrain``), not a transfer run."""
        method = find_method(self.mode)
        return method is not None and not method.transfer

    @property
    def test_metrics(self) -> dict:
        return (self.run.get("metrics") or {}).get("test") or {}

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name).strip("_") or "run"


def run_names(paths: list[Path]) -> list[str]:
    """Names relative to the runs' common parent (``pretrain``, ``curve/finetune/nall/seed0``)."""
    resolved = [p.resolve() for p in paths]
    if len(resolved) == 1:
        return [resolved[0].name]
    parts = [p.parts for p in resolved]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    common = Path(*parts[0][:depth])
    return [str(p.relative_to(common)) for p in resolved]


def load_runs(paths: list[str | Path]) -> list[RunRecord]:
    unique = list(dict.fromkeys(Path(p) for p in paths))
    records = [RunRecord(name, p, require_run_json(p), read_predictions(p, split="test"))
               for name, p in zip(run_names(unique), unique)]
    order = lambda r: (not r.is_source, mode_rank(r.mode), r.name)  # noqa: E731
    return sorted(records, key=order)


def speaker_intervals(record: RunRecord, n_boot: int) -> dict | None:
    """95 % intervals resampling speakers of the test predictions, or None without predictions."""
    if record.test_predictions is None or record.test_predictions.empty:
        return None
    from accent.metrics import bootstrap_intervals  # scikit-learn: kept out of start-up

    with warnings.catch_warnings():   # a resample that misses a class is expected, not news
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return bootstrap_intervals(record.test_predictions, list(record.run.get("labels") or []),
                                   n_boot=n_boot, seed=0)


def confusion_of(record: RunRecord) -> tuple[np.ndarray, list[str]] | None:
    """The test confusion matrix from run.json, or recomputed from the predictions if absent."""
    labels = list(record.run.get("labels") or [])
    confusion = record.test_metrics.get("confusion")
    if confusion is None and record.test_predictions is not None and len(record.test_predictions):
        from accent.metrics import recording_metrics  # scikit-learn: kept out of start-up

        preds = record.test_predictions
        confusion = recording_metrics(preds["label"].tolist(), preds["pred"].tolist(), labels)["confusion"]
    if confusion is None or not labels:
        return None
    return np.asarray(confusion, dtype=float), labels
