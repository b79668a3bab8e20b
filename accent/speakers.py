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

Embedding is the slow part (Resemblyzer on every clip), and a user tunes the rest (the threshold,
classes, splits) by running the manifest again; so the vectors are kept in :data:`VOICES_FILE` beside
the manifest or feature store (:func:`speaker_embeddings`' ``cache``), keyed by each file's resolved
path, size and modification time and by the encoder's weights: a rerun embeds only new or changed files.
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from accent.audio import load_audio
from accent.backbones.resemblyzer import ResemblyzerBackbone
from accent.errors import AccentError, AudioError
from accent.fileio import read_meta_npz, write_meta_npz
from accent.manifest import NO_SPEAKER_PREFIX, SPEAKER_INFERRED
from accent.progress import Progress

INFERRED_PREFIX = "inferred-"
VOICES_FILE = "voices.npz"   # the embedding cache, beside the manifest (accent manifest) or in FEATDIR (featurize --corpus)
VOICES_FORMAT = "accent-voices/1"
DEFAULT_THRESHOLD = 0.35   # cosine distance; docs/benchmarks.md, "Speaker inference"
MAX_CLIPS_PER_LABEL = 15000  # the pairwise distances of one label: 15,000 clips take 0.9 GB


def speaker_embeddings(paths: Sequence[str], progress: bool = True, cache: str | Path | None = None) -> np.ndarray:
    """Resemblyzer vectors (n, 256), L2-normalised, of audio files; NaN rows for unusable files.
    ``cache``: a :data:`VOICES_FILE` to read the vectors of unchanged files from and to add the new
    ones to (unusable files are not kept, so they are tried again)."""
    backbone = ResemblyzerBackbone()
    keys = [file_key(p) for p in paths]
    known = read_voices(cache, backbone.fingerprint) if cache is not None else {}
    X = np.full((len(paths), backbone.dim), np.nan, np.float32)
    todo = []
    for i, key in enumerate(keys):
        if key in known:
            X[i] = known[key]
        else:
            todo.append(i)
    for i in Progress(todo, desc="embed voices", unit="clip", file=sys.stderr, disable=not progress or not todo):
        try:
            X[i] = backbone.embed_waveform(load_audio(paths[i], backbone.sample_rate))
        except AudioError:
            continue
        if keys[i] is not None:
            known[keys[i]] = X[i]
    if cache is not None and todo:
        write_voices(cache, backbone.fingerprint, known)
    return X


def file_key(path: str | Path) -> str | None:
    """What identifies a file's content for the cache: resolved path, size and modification time
    (None for a file that cannot be read: it is never cached)."""
    try:
        resolved = Path(path).resolve()
        stat = resolved.stat()
    except OSError:
        return None
    return f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"


def read_voices(path: str | Path, encoder: str) -> dict[str, np.ndarray]:
    """{file key: vector} of a :data:`VOICES_FILE` made with ``encoder``'s weights; empty when the file
    is missing, unreadable or from other weights (it is then rewritten)."""
    try:
        meta, arrays = read_meta_npz(path, "voice cache", "")
    except AccentError:
        return {}
    if meta.get("format") != VOICES_FORMAT or meta.get("encoder") != encoder:
        return {}
    return dict(zip(arrays["keys"].tolist(), arrays["vectors"]))


def write_voices(path: str | Path, encoder: str, vectors: dict[str, np.ndarray]) -> None:
    """Save the cache atomically; a folder the user cannot write to keeps it in memory only."""
    keys = sorted(vectors)
    try:
        write_meta_npz(path, {"format": VOICES_FORMAT, "encoder": encoder},
                       {"keys": np.array(keys, dtype=str),
                        "vectors": np.stack([vectors[k] for k in keys]).astype(np.float32) if keys
                        else np.zeros((0, 0), np.float32)})
    except PermissionError:
        pass


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
                   embed: Callable[[Sequence[str]], np.ndarray] | None = None,
                   cache: str | Path | None = None) -> pd.DataFrame:
    """``df`` with unknown speakers replaced by voice clusters within each label (module docstring)
    and the ``speaker_inferred`` column set; ``embed`` maps paths to vectors (default: Resemblyzer's,
    :func:`speaker_embeddings`, through the ``cache`` file when one is given)."""
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
        paths = df.loc[todo, "path"].astype(str).tolist()
        X = embed(paths) if embed is not None else speaker_embeddings(paths, cache=cache)
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
