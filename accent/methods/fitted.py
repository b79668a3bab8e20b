"""A trained model of one run, loaded for prediction: what every method's ``fit`` and ``load`` return."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from accent.errors import AccentError


class Fitted:
    """A trained model of one run, loaded for prediction. ``model`` is the network when it has one
    (the report and extract embed with it), else None."""

    model = None
    backbone: str | None = None
    reads_audio = False   # True: it scores audio files, one at a time, not log-mels

    def __init__(self, labels: list[str], feature_config, rundir: Path | None = None):
        self.labels = list(labels)
        self.feature_config = feature_config
        self.rundir = rundir

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        """Probabilities (len(rows), labels) of store rows; a row it cannot score is NaN."""
        raise NotImplementedError

    def predict_logmels(self, logmels: list[np.ndarray]) -> np.ndarray:
        """Probabilities (n, labels) of several recordings' log-mels (frames, n_mels) at once."""
        raise NotImplementedError

    def predict_audio(self, path) -> np.ndarray:
        """Probabilities over the labels of one audio file (models that :attr:`reads_audio`)."""
        raise AccentError(f"run {self.rundir} scores log-mels, not audio files")

    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        raise AccentError(f"run {self.rundir} has no network to embed with")

    def refuse_logmels(self) -> None:
        if self.reads_audio:
            raise AccentError(f"run {self.rundir} uses backbone {self.backbone!r}, which reads audio, not log-mels: "
                              "use predict_audio")

    def save(self, rundir: Path) -> None:
        """Write the model file(s) of the run directory (checkpoint.pt unless the method has its own)."""
        raise NotImplementedError
