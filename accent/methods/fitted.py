"""A trained model of one run, loaded for prediction: what every method's ``fit`` and ``load`` return.

Besides probabilities, a fitted model may say whether a clip is what it was trained to hear (the
contract of /work/notes/contract.md): ``match*`` give a ``passage_match`` in 0..1 per clip (None: the
model has no notion of it), and below :attr:`Fitted.match_threshold` the answer is
:attr:`Fitted.off_words` instead of an accent. ``needs_text``: every prediction needs the clip's
transcript (``texts``); ``prompt``: a text to read aloud (aligned: the passage it was trained on).
The ``score*`` methods return both at once; a model that can share the work (aligned: one alignment
per clip) overrides them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from accent.errors import AccentError

MATCH_THRESHOLD = 0.5


class Fitted:
    """A trained model of one run, loaded for prediction. ``model`` is the network when it has one
    (the report and extract embed with it), else None."""

    model = None
    backbone: str | None = None
    reads_audio = False   # True: it scores audio files, one at a time, not log-mels
    needs_text = False    # True: every prediction needs the clip's transcript
    match_threshold: float = MATCH_THRESHOLD   # passage_match below this: off_words, not an accent
    prompt: str | None = None   # a text to read aloud (aligned: the passage it was trained on)
    off_words = "does not read the passage"    # the answer for a clip below match_threshold

    def __init__(self, labels: list[str], feature_config, rundir: Path | None = None):
        self.labels = list(labels)
        self.feature_config = feature_config
        self.rundir = rundir

    def predict_proba(self, store, rows: np.ndarray, progress: bool = False) -> np.ndarray:
        """Probabilities (len(rows), labels) of store rows; a row it cannot score is NaN.
        A model that :attr:`needs_text` reads the texts from ``store.index["text"]``."""
        raise NotImplementedError

    def predict_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray:
        """Probabilities (n, labels) of several recordings' log-mels (frames, n_mels) at once."""
        raise NotImplementedError

    def predict_audio(self, path, text: str | None = None) -> np.ndarray:
        """Probabilities over the labels of one audio file (models that :attr:`reads_audio`)."""
        raise AccentError(f"run {self.rundir} scores log-mels, not audio files")

    # -- does the clip read what the model knows? ----------------------------------------------------
    def match(self, store, rows: np.ndarray) -> np.ndarray | None:
        """passage_match in 0..1 per store row; None: the model has no notion of it."""
        return None

    def match_logmels(self, logmels: list[np.ndarray], texts: list[str] | None = None) -> np.ndarray | None:
        return None

    def match_audio(self, path, text: str | None = None) -> float | None:
        return None

    def score(self, store, rows: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(:meth:`predict_proba`, :meth:`match`) of store rows."""
        return self.predict_proba(store, rows, progress), self.match(store, rows)

    def score_logmels(self, logmels: list[np.ndarray],
                      texts: list[str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(:meth:`predict_logmels`, :meth:`match_logmels`)."""
        return self.predict_logmels(logmels, texts), self.match_logmels(logmels, texts)

    def score_audio(self, path, text: str | None = None) -> tuple[np.ndarray, float | None]:
        """(:meth:`predict_audio`, :meth:`match_audio`)."""
        return self.predict_audio(path, text), self.match_audio(path, text)

    def off_passage(self, match) -> bool:
        """Whether a clip's passage_match (None or NaN: unknown) puts it off the passage."""
        return match is not None and bool(np.isfinite(match)) and float(match) < self.match_threshold

    def require_texts(self, texts, names: list, hint: str) -> None:
        """One-line AccentError when the model :attr:`needs_text` and a clip has none;
        ``hint`` says where the caller takes texts from (``--text TEXT``, a text column, ...)."""
        if not self.needs_text:
            return
        for i, name in enumerate(names):
            if texts is None or i >= len(texts) or not str(texts[i] or "").strip():
                raise AccentError(f"{name}: this model needs the transcript: give {hint}")

    # -- embeddings and files ----------------------------------------------------------------------
    def embed_logmel(self, logmel: np.ndarray) -> np.ndarray:
        raise AccentError(f"run {self.rundir} has no network to embed with")

    def refuse_logmels(self) -> None:
        if self.reads_audio:
            raise AccentError(f"run {self.rundir} uses backbone {self.backbone!r}, which reads audio, not log-mels: "
                              "use predict_audio")

    def save(self, rundir: Path) -> None:
        """Write the model file(s) of the run directory (checkpoint.pt unless the method has its own)."""
        raise NotImplementedError
