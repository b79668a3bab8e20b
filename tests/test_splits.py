"""Speaker-disjoint splits, k-fold and subsampling on small but irregular corpora."""
import numpy as np
import pandas as pd
import pytest

from accent.errors import AccentError
from accent.manifest import DropLog, apply_label_map, filter_classes, splits_are_speaker_disjoint
from accent.splits import speaker_disjoint_split, speaker_kfold, subsample_train_speakers


def make_corpus(seed=0):
    """Imbalanced classes, 1-6 recordings per speaker, one class with only two speakers."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, n_speakers in [("us", 30), ("england", 12), ("scotland", 5), ("indian", 2)]:
        for s in range(n_speakers):
            for r in range(int(rng.integers(1, 7))):
                rows.append({"utt_id": f"{label}{s}_{r}", "speaker": f"{label}-spk{s}", "label": label})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_is_speaker_disjoint_and_stratified(seed):
    df = make_corpus(seed)
    df["split"] = speaker_disjoint_split(df, 0.15, 0.15, seed=seed)
    assert set(df["split"]) == {"train", "val", "test"}
    assert splits_are_speaker_disjoint(df)
    # every class with at least three speakers reaches train, val and test
    for label in ["us", "england", "scotland"]:
        assert set(df.loc[df.label == label, "split"]) == {"train", "val", "test"}
    # a two-speaker class still trains and is tested
    assert set(df.loc[df.label == "indian", "split"]) == {"train", "test"}
    spk_train = df[df.split == "train"].speaker.nunique()
    assert spk_train / df.speaker.nunique() > 0.6


def test_split_is_seeded():
    df = make_corpus()
    a = speaker_disjoint_split(df, seed=3)
    b = speaker_disjoint_split(df, seed=3)
    c = speaker_disjoint_split(df, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_bad_fractions_are_refused():
    with pytest.raises(AccentError, match="fractions"):
        speaker_disjoint_split(make_corpus(), 0.6, 0.5)


def test_kfold_covers_every_recording_once_and_keeps_speakers_together():
    df = make_corpus()
    folds = speaker_kfold(df, k=5, seed=0)
    assert folds.between(0, 4).all()
    assert (df.assign(fold=folds).groupby("speaker")["fold"].nunique() == 1).all()
    per_fold = df.assign(fold=folds).drop_duplicates("speaker").groupby("fold").size()
    assert per_fold.max() - per_fold.min() <= 2


def test_kfold_needs_enough_speakers():
    df = make_corpus().head(3)
    with pytest.raises(AccentError, match="at least"):
        speaker_kfold(df, k=5)


def test_subsample_by_speaker_per_class():
    df = make_corpus()
    df["split"] = speaker_disjoint_split(df, seed=0)
    sub = subsample_train_speakers(df, per_class=5, seed=1)
    train = sub[sub.split == "train"]
    assert (train.groupby("label").size() <= 5).all()
    assert train.groupby("label").size()["us"] == 5
    # val and test untouched
    pd.testing.assert_frame_equal(sub[sub.split != "train"], df[df.split != "train"])


def test_label_map_and_class_filter_count_drops():
    df = make_corpus()
    log = DropLog(rows_read=len(df))
    mapped = apply_label_map(df, {"us": "american", "england": "british", "scotland": "drop"}, log)
    assert set(mapped["label"]) == {"american", "british"}
    assert log.dropped["label not in label map"] == (df.label == "indian").sum()
    assert log.dropped["label mapped to drop"] == (df.label == "scotland").sum()
    kept = filter_classes(mapped, log, min_speakers=20)
    assert set(kept["label"]) == {"american"}
    with pytest.raises(AccentError, match="maps none"):
        apply_label_map(df, {"klingon": "x"}, DropLog())


def test_recordings_without_speaker_id_are_counted():
    from accent.manifest import own_speaker, recordings_without_speaker_id

    df = make_corpus()
    assert recordings_without_speaker_id(df) == 0
    df.loc[:4, "speaker"] = own_speaker(df.loc[:4, "utt_id"])
    assert recordings_without_speaker_id(df) == 5
