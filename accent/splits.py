"""Speaker-disjoint, label-stratified splits and k-fold assignments.

A speaker's recordings always land in one split (and one fold), so a model is never scored on a
voice it trained on. Stratification is by the speaker's majority label. When a corpus has no
speaker ids each recording is its own speaker; the loader says so in its summary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from accent.errors import AccentError


def speaker_labels(df: pd.DataFrame) -> pd.Series:
    """Each speaker's label (the most frequent one; ties go to the first label alphabetically), sorted by speaker.

    Vectorised: a per-speaker Python lambda takes minutes on full Common Voice (~90k speakers)."""
    counts = df.groupby(["speaker", "label"]).size().reset_index(name="n")
    counts = counts.sort_values(["speaker", "n", "label"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("speaker").set_index("speaker")["label"].sort_index()


def _split_counts(n: int, val_frac: float, test_frac: float) -> tuple[int, int]:
    """How many of ``n`` speakers go to val and test: rounded, but each non-empty split gets one
    speaker when the class has at least three, so every class is seen in training and evaluation."""
    n_val = int(round(n * val_frac))
    n_test = int(round(n * test_frac))
    if n >= 3:
        n_val = max(n_val, 1 if val_frac > 0 else 0)
        n_test = max(n_test, 1 if test_frac > 0 else 0)
    elif n == 2 and test_frac > 0:
        n_val, n_test = 0, 1
    else:
        n_val, n_test = 0, 0
    while n - n_val - n_test < 1 and (n_val or n_test):
        if n_val >= n_test and n_val:
            n_val -= 1
        else:
            n_test -= 1
    return n_val, n_test


def speaker_disjoint_split(df: pd.DataFrame, val_frac: float = 0.15, test_frac: float = 0.15,
                           seed: int = 0) -> pd.Series:
    """Assign ``train``/``val``/``test`` to every row, speaker-disjoint and stratified by label."""
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise AccentError(f"split fractions val={val_frac} test={test_frac} must be in [0, 1) and sum below 1")
    rng = np.random.default_rng(seed)
    spk_label = speaker_labels(df)
    assignment: dict[str, str] = {}
    for label in sorted(spk_label.unique()):
        speakers = spk_label.index[spk_label == label].to_numpy()
        speakers = speakers[rng.permutation(len(speakers))]
        n_val, n_test = _split_counts(len(speakers), val_frac, test_frac)
        for i, spk in enumerate(speakers):
            assignment[spk] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return df["speaker"].map(assignment).rename("split")


def speaker_kfold(df: pd.DataFrame, k: int = 5, seed: int = 0) -> pd.Series:
    """Assign a fold number 0..k-1 to every row; folds are speaker-disjoint and label-stratified.

    Speakers of each class are dealt round-robin into folds after a seeded shuffle, starting at the
    currently smallest fold, so fold sizes stay balanced across classes.
    """
    if k < 2:
        raise AccentError(f"k-fold needs k >= 2 (got {k})")
    rng = np.random.default_rng(seed)
    spk_label = speaker_labels(df)
    if len(spk_label) < k:
        raise AccentError(f"{k}-fold cross-validation needs at least {k} speakers; the data has {len(spk_label)}")
    speakers_per_class = spk_label.value_counts()
    lone = sorted(map(str, speakers_per_class.index[speakers_per_class < 2]))
    if lone:
        raise AccentError(f"k-fold: class(es) {', '.join(lone)} have a single speaker, so the fold that tests it has "
                          "no one to learn it from: drop such classes with --min-speakers 2 (accent manifest, or "
                          "accent featurize --corpus) or add speakers")
    fold_of: dict[str, int] = {}
    load = np.zeros(k, dtype=int)
    for label in sorted(spk_label.unique()):
        speakers = spk_label.index[spk_label == label].to_numpy()
        speakers = speakers[rng.permutation(len(speakers))]
        order = np.argsort(load, kind="stable")
        for i, spk in enumerate(speakers):
            fold = int(order[i % k])
            fold_of[spk] = fold
            load[fold] += 1
    return df["speaker"].map(fold_of).astype(int).rename("fold")


def subsample_train_speakers(df: pd.DataFrame, per_class: int | None = None,
                             fraction: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Keep a subset of the training rows chosen by speaker: ``per_class`` recordings per class
    (whole speakers are added until the count is reached) or a ``fraction`` of each class's speakers.
    Validation and test rows are untouched."""
    if per_class is None and fraction is None:
        return df
    rng = np.random.default_rng(seed)
    train = df[df["split"] == "train"]
    keep_speakers: list[str] = []
    spk_label = speaker_labels(train)
    for label in sorted(spk_label.unique()):
        speakers = spk_label.index[spk_label == label].to_numpy()
        speakers = speakers[rng.permutation(len(speakers))]
        if fraction is not None:
            keep_speakers.extend(speakers[: max(1, int(round(fraction * len(speakers))))])
            continue
        counts = train[train["label"] == label].groupby("speaker").size()
        total = 0
        for spk in speakers:
            if total >= per_class:
                break
            keep_speakers.append(spk)
            total += int(counts.get(spk, 0))
    kept_train = train[train["speaker"].isin(keep_speakers)]
    if per_class is not None:
        # a speaker with many clips could overshoot: trim to per_class recordings per class
        order = kept_train.sample(frac=1.0, random_state=seed)
        kept_train = order[order.groupby("label").cumcount() < per_class]
    return pd.concat([kept_train, df[df["split"] != "train"]]).sort_index()


# -- the splits one run trains and scores on --------------------------------------------------------
UNUSED = "unused"  # split value of training rows left out by --per-class / --train-fraction


@dataclass
class SplitData:
    """Store rows and label codes of the train/val/test splits used by one run."""

    labels: list[str]
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def codes(self, index: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        lookup = {lab: k for k, lab in enumerate(self.labels)}
        return np.array([lookup[lab] for lab in index["label"].iloc[rows]], dtype=np.int64)

    def without(self, bad: np.ndarray) -> "SplitData":
        keep = lambda rows: rows[~np.isin(rows, bad)]  # noqa: E731
        return SplitData(self.labels, keep(self.train), keep(self.val), keep(self.test))


def splits_from_index(index: pd.DataFrame, where: str) -> SplitData:
    """Rows of each split; refuses empty splits and classes missing from training."""
    rows = {s: np.flatnonzero((index["split"] == s).to_numpy()) for s in ("train", "val", "test")}
    for s in ("train", "val"):
        if len(rows[s]) == 0:
            raise AccentError(f"{where} has no {s} recordings: too few speakers for a {s} split "
                              "(re-split the manifest with more speakers per class)")
    train_labels = set(index["label"].iloc[rows["train"]])
    other = set(index["label"].iloc[np.concatenate([rows["val"], rows["test"]])])
    unseen = sorted(other - train_labels)
    if unseen:
        raise AccentError(f"{where}: class(es) {', '.join(unseen)} occur in val/test but not in train: "
                          "give each class at least 3 speakers or drop it (accent manifest --min-speakers 3)")
    return SplitData(sorted(train_labels), rows["train"], rows["val"], rows["test"])


def target_index(index: pd.DataFrame, per_class: int | None, train_fraction: float | None, seed: int) -> pd.DataFrame:
    """The index with training rows outside the seeded subsample marked ``unused``."""
    if per_class is not None and per_class < 1:
        raise AccentError(f"--per-class must be at least 1 (got {per_class})")
    if train_fraction is not None and not 0 < train_fraction <= 1:
        raise AccentError(f"--train-fraction must be in (0, 1] (got {train_fraction})")
    index = index.copy()
    if (index["split"] == "").all():  # a store made from an unsplit manifest: split it here, seeded
        index["split"] = speaker_disjoint_split(index, seed=0).to_numpy()
    kept = subsample_train_speakers(index, per_class=per_class, fraction=train_fraction, seed=seed)
    dropped = (index["split"] == "train") & ~index.index.isin(kept.index)
    index.loc[dropped, "split"] = UNUSED
    return index


def check_classes(index: pd.DataFrame, where: str) -> None:
    """Refuse a class that occurs only in the test split (nothing to learn it from)."""
    counts = index[index["split"] == "train"].groupby("label").size()
    empty = sorted(set(index["label"]) - set(counts.index) - set(index.loc[index["split"] == UNUSED, "label"]))
    only_test = [lab for lab in empty if set(index.loc[index["label"] == lab, "split"]) <= {"test"}]
    if only_test:
        raise AccentError(f"{where}: class(es) {', '.join(only_test)} occur only in the test split: give each "
                          "class at least 3 speakers or drop it (accent manifest --min-speakers 3)")
