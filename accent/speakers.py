"""Speakers where the corpus names none: cluster voices within each label.

Common Voice v1 (and a folder without speaker subfolders) names no speaker, so every clip counts as
its own speaker and one person's clips can land in both training and test data. Here each such
clip is embedded with Resemblyzer (a speaker encoder; its weights ship with the package, so this
runs offline), and the clips of one label are grouped by agglomerative clustering, average linkage
on cosine distance, cut at ``threshold``: two groups merge while their mean distance is below it.
Clustering within a label is enough for splits and folds, which never separate a label's clips by
anything but speaker; a person who has clips under two labels stays two speakers.

Each group becomes the speaker ``inferred-<label>-<n>`` and the manifest's ``speaker_inferred``
column says which rows were inferred, so summaries and reports say "inferred" rather than "yes"
about speaker-disjointness. Known speakers are left as they are. A clip that cannot be embedded
keeps its own speaker. The default threshold was chosen on real clips with known speakers
(``benchmarks/speaker_inference.py``, table in docs/benchmarks.md).
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from accent.audio import load_audio
from accent.backbones.resemblyzer import ResemblyzerBackbone
from accent.errors import AccentError, AudioError
from accent.manifest import NO_SPEAKER_PREFIX, SPEAKER_INFERRED
from accent.progress import Progress

INFERRED_PREFIX = "inferred-"
DEFAULT_THRESHOLD = 0.35   # cosine distance; docs/benchmarks.md, "Speaker inference"
MAX_CLIPS_PER_LABEL = 15000  # the pairwise distances of one label: 15,000 clips take 0.9 GB


def speaker_embeddings(paths: Sequence[str], progress: bool = True) -> np.ndarray:
    """Resemblyzer vectors (n, 256), L2-normalised, of audio files; NaN rows for unusable files."""
    backbone = ResemblyzerBackbone()
    X = np.full((len(paths), backbone.dim), np.nan, np.float32)
    for i, path in enumerate(Progress(paths, desc="embed voices", unit="clip", file=sys.stderr,
                                      disable=not progress or not len(paths))):
        try:
            X[i] = backbone.embed_waveform(load_audio(path, backbone.sample_rate))
        except AudioError:
            pass
    return X


def cluster_voices(X: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Cluster numbers (0..k-1, in order of first appearance) of the rows of ``X``: average
    linkage on cosine distance, groups merged while their mean distance is below ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(X) < 2:
        return np.zeros(len(X), np.int64)
    found = fcluster(linkage(np.asarray(X, np.float64), method="average", metric="cosine"),
                     t=threshold, criterion="distance")
    _, first, numbers = np.unique(found, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))   # renumber clusters by their first row
    return order[numbers]


def unknown_speaker(df: pd.DataFrame) -> pd.Series:
    """Rows whose speaker the corpus did not name: empty, or the clip's own id (``utt-<utt_id>``)."""
    speaker = df["speaker"].fillna("").astype(str)
    return (speaker == "") | (speaker == NO_SPEAKER_PREFIX + df["utt_id"].astype(str))


def infer_speakers(df: pd.DataFrame, threshold: float = DEFAULT_THRESHOLD,
                   embed: Callable[[Sequence[str]], np.ndarray] | None = None) -> pd.DataFrame:
    """``df`` with unknown speakers replaced by voice clusters within each label (module docstring)
    and the ``speaker_inferred`` column set; ``embed`` maps paths to vectors (default: Resemblyzer's,
    :func:`speaker_embeddings`)."""
    if not 0 < threshold < 2:
        raise AccentError(f"--speaker-threshold {threshold} is not a cosine distance in (0, 2): "
                          f"the default is {DEFAULT_THRESHOLD}")
    df = df.copy()
    inferred = pd.Series(False, index=df.index)
    todo = df.index[unknown_speaker(df)]
    sizes = df.loc[todo, "label"].value_counts()
    if len(sizes) and sizes.iloc[0] > MAX_CLIPS_PER_LABEL:
        raise AccentError(f"--infer-speakers: label {sizes.index[0]!r} has {sizes.iloc[0]} clips without a speaker, "
                          f"more than the {MAX_CLIPS_PER_LABEL} the clustering holds in memory: use a corpus "
                          "release that names speakers (Common Voice's client_id), or fewer clips")
    if len(todo):
        X = (embed or speaker_embeddings)(df.loc[todo, "path"].astype(str).tolist())
        usable = ~np.isnan(X).any(axis=1)
        if not usable.all():
            warnings.warn(f"{int((~usable).sum())} clip(s) could not be embedded; each stays its own speaker",
                          stacklevel=2)
        rows = pd.DataFrame({"label": df.loc[todo, "label"].astype(str).to_numpy(), "i": np.arange(len(todo))},
                            index=todo)[usable]
        for label, group in rows.groupby("label", sort=False):
            numbers = cluster_voices(X[group["i"].to_numpy()], threshold)
            df.loc[group.index, "speaker"] = [f"{INFERRED_PREFIX}{label}-{n}" for n in numbers]
            inferred[group.index] = True
    df[SPEAKER_INFERRED] = inferred
    return df


def pairwise_scores(truth: Sequence, found: Sequence) -> dict:
    """Pairwise precision and recall of same-speaker decisions: of the pairs put together, the share
    that are one speaker; of the pairs that are one speaker, the share put together."""
    truth, found = np.asarray(truth), np.asarray(found)
    same_true = truth[:, None] == truth[None, :]
    same_found = found[:, None] == found[None, :]
    upper = np.triu(np.ones_like(same_true), k=1)
    both = int((same_true & same_found & upper).sum())
    n_found, n_true = int((same_found & upper).sum()), int((same_true & upper).sum())
    return {"precision": both / n_found if n_found else 1.0, "recall": both / n_true if n_true else 1.0,
            "pairs_same": n_true, "pairs_joined": n_found, "pairs_correct": both}
