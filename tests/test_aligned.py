"""The passage-aligned recipe: sequences, alignment features, reference choice, NAP, saved sources."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from accent.aligned import (NAP, AlignedClassifier, AlignedConfig, AlignedModel, aligned_features, audio_sequence,
                            fit_source, load_model, load_source, recording_sequence, save_model, save_source,
                            select_references, store_sequences)
from accent.errors import AccentError
from accent.features import FeatureConfig
from accent.store import FeatureStore

REAL_8K = Path(__file__).resolve().parents[2] / "shared" / "real-dev" / "saa-8k"
SMALL = AlignedConfig(n_mfcc=12, feature_coeffs=6, align_coeffs=(1, 6), n_nap=2)


def test_sequence_is_blocked_and_normalised():
    rng = np.random.default_rng(0)
    logmel = rng.normal(size=(103, 16)).astype(np.float32) * 3 + 5
    seq = recording_sequence(logmel, hop_ms=10.0, cfg=SMALL)
    assert seq.shape == (25, 12)                      # 40 ms blocks of 10 ms frames, the tail dropped
    assert np.allclose(seq.mean(0), 0, atol=1e-5) and np.allclose(seq.std(0), 1, atol=1e-4)
    with pytest.raises(AccentError, match="too short"):
        recording_sequence(logmel[:7], hop_ms=10.0, cfg=SMALL)


def test_alignment_to_itself_and_to_a_slow_reading():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(60, 12)).astype(np.float32)
    cfg = SMALL
    step = 5                                          # 0.2 s segments of 40 ms blocks
    own = aligned_features(ref, ref, cfg).reshape(12, cfg.feature_coeffs + 1)
    assert np.allclose(own[:, :-1], ref[:, :6].reshape(12, step, 6).mean(1), atol=1e-5)
    assert np.allclose(own[:, -1], np.log1p(step))
    slow = np.repeat(ref, 2, axis=0)                  # the same reading at half the speed
    feats = aligned_features(slow, ref, cfg).reshape(12, cfg.feature_coeffs + 1)
    assert np.allclose(feats[:, -1], np.log1p(2 * step))
    assert np.allclose(feats[:, :-1], own[:, :-1], atol=1e-5)


def test_references_are_english_readings_at_length_quantiles():
    lengths = [100, 500, 200, 300, 400, 900, 50]
    labels = ["english", "english", "english", "english", "english", "spanish", "english"]
    assert select_references(lengths, labels, (0.5, 0.2, 0.8)) == [2, 0, 4]
    assert select_references([10, 30, 20], None, (0.5,)) == [2]   # no labels: every row is eligible
    with pytest.raises(AccentError, match="needs 3 reference"):
        select_references([1, 2], ["english", "french"], (0.5, 0.2, 0.8))


def test_nap_removes_within_class_directions_and_round_trips():
    rng = np.random.default_rng(2)
    y = np.repeat(["a", "b"], 50)
    axis = np.array([1.0, 0, 1.0, 0, 0, 0]) / np.sqrt(2)            # a within-class spread shared by axes 0 and 2
    nuisance = rng.normal(size=(100, 1)) * 10 * axis
    signal = np.where(y == "a", 1.0, -1.0)[:, None] * np.eye(6)[1]   # class difference on axis 1
    X = nuisance + signal + rng.normal(scale=0.1, size=(100, 6))
    nap = NAP(1).fit(X, y)
    Z = nap.transform(X)
    assert abs(nap.directions_[:, 0] @ axis) > 0.99                 # the nuisance direction was found...
    assert np.abs(np.corrcoef(Z[:, 0], nuisance[:, 0])[0, 1]) < 0.2   # ...and projected out
    assert Z[y == "a", 1].mean() - Z[y == "b", 1].mean() > 1.5      # the class difference kept
    again = NAP.from_arrays(nap.to_arrays(prefix="p_"), prefix="p_")
    assert np.allclose(again.transform(X), Z)


def passage_readings(n_per_class: int, seed: int, n_classes: int = 3) -> tuple[list[np.ndarray], np.ndarray]:
    """Synthetic readings of one passage: a fixed phone sequence, where each class pronounces four
    phones (at its own positions) differently; every reader has a speaking rate per phone, a voice
    colouring and noise. The accent cue sits at fixed places in the text, which alignment exploits."""
    world = np.random.default_rng(99)
    templates = world.normal(0, 1.0, (12, 16))
    passage = world.integers(0, 12, 40)
    variants = world.normal(0, 1.0, (n_classes, 4, 16))
    places = np.stack([world.choice(40, 4, replace=False) for _ in range(n_classes)])
    rng = np.random.default_rng(seed)
    readings, labels = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            phones = templates[passage].copy()
            phones[places[c]] = variants[c]
            durations = rng.integers(6, 18, len(phones))
            x = np.repeat(phones, durations, axis=0) + rng.normal(0, 1.0, 16) + rng.normal(0, 0.5, (durations.sum(), 16))
            readings.append(recording_sequence(x.astype(np.float32), hop_ms=10.0, cfg=SMALL))
            labels.append(f"accent{c}")
    return readings, np.array(labels)


def test_classifier_learns_same_passage_accents_and_round_trips(tmp_path):
    train, y_train = passage_readings(12, seed=1)
    test, y_test = passage_readings(8, seed=2)
    model = AlignedModel(SMALL).fit(train, y_train)
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 3) and np.allclose(proba.sum(1), 1)
    assert (model.classes_[proba.argmax(1)] == y_test).mean() > 0.8          # chance is 1/3
    path = save_model(tmp_path / "run" / "aligned_model.npz", model, FeatureConfig(n_mels=16))
    again, meta = load_model(path)
    assert np.allclose(again.predict_proba(test), proba) and list(again.classes_) == list(model.classes_)
    assert meta["labels"] == ["accent0", "accent1", "accent2"]
    with pytest.raises(AccentError, match="not an aligned-recipe source"):
        load_source(path)                                                     # a model is not a source


def test_two_class_heads_match_sklearn():
    train, y_train = passage_readings(10, seed=3, n_classes=2)
    model = AlignedModel(SMALL).fit(train, y_train)
    blocks = model.featurizer.transform(train)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Z = model.classifier_.naps[0].transform(blocks[0])
    ref = make_pipeline(StandardScaler(), LogisticRegression(C=SMALL.C, class_weight="balanced", max_iter=3000)).fit(Z, y_train)
    assert np.allclose(model.classifier_.heads_[0].log_proba(Z), ref.predict_log_proba(Z), atol=1e-6)


def test_source_file_round_trip_and_errors(tmp_path, tiny_stores):
    source = FeatureStore.open(tiny_stores["source"])
    seqs = store_sequences(source, cfg=SMALL)
    y = source.index["label"].to_numpy()
    featurizer, naps = fit_source(seqs, y, SMALL)
    path = save_source(tmp_path / "run" / "aligned_source.npz", featurizer, naps, source.config, sorted(set(y)))
    again, naps2, meta = load_source(path)
    assert meta["feature_config"] == source.config.to_dict() and again.config == SMALL
    blocks, blocks2 = featurizer.transform(seqs[:5]), again.transform(seqs[:5])
    for a, b, n1, n2 in zip(blocks, blocks2, naps, naps2):
        assert np.array_equal(a, b) and np.allclose(n1.transform(a), n2.transform(b))
    clf = AlignedClassifier(SMALL, naps2).fit(again.transform(seqs), y)   # a fixed source NAP is used as given
    assert clf.naps is naps2
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(AccentError, match="not a readable"):
        load_source(tmp_path / "bad.npz")
    with pytest.raises(AccentError, match="not found"):
        load_source(tmp_path / "missing.npz")


@pytest.mark.skipif(not REAL_8K.is_dir(), reason="shared real development data not available")
def test_real_readings_align_along_the_diagonal():
    """Two real SAA readings of the same paragraph: the DTW path tracks the text, so the reference
    segments receive blocks in proportion to the recordings' lengths, and audio_sequence equals the store route."""
    import librosa

    cfg8k = FeatureConfig(sample_rate=8000)
    a, b = sorted((REAL_8K / "english").glob("*.mp3"))[:2]
    seq_a, seq_b = audio_sequence(a, cfg8k), audio_sequence(b, cfg8k)
    _, path = librosa.sequence.dtw(X=seq_a[:, 1:10].T, Y=seq_b[:, 1:10].T, metric="euclidean", backtrack=True)
    progress_a, progress_b = path[:, 0] / len(seq_a), path[:, 1] / len(seq_b)
    assert np.corrcoef(progress_a, progress_b)[0, 1] > 0.95
    counts = np.expm1(aligned_features(seq_a, seq_b).reshape(-1, 11)[:, -1])
    assert counts.min() >= 1 and counts.sum() >= len(seq_a)


def test_nap_keeps_half_the_within_class_span_of_few_rows():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 50)), np.repeat(["a", "b", "c"], 4)
    nap = NAP(30).fit(X, y)
    assert nap.directions_.shape == (50, 4)            # span 12 - 3 = 9: at most half of it removed
    assert np.abs(nap.transform(X)).sum() > 0


def test_cross_validate_from_the_cache_gives_scores_and_per_class_recall(tiny_stores):
    from accent.aligned import cross_validate

    store = FeatureStore.open(tiny_stores["target_big"])
    cfg = AlignedConfig(n_mfcc=12, feature_coeffs=6, align_coeffs=(1, 6), n_nap=2, reference_quantiles=(0.5,))
    rows = np.arange(len(store.index))
    folds = [(rows[rows % 2 == k], rows[rows % 2 != k]) for k in (0, 1)]
    result = cross_validate(store, folds, cfg)
    assert len(result["scores"]) == 2 and all(0 <= s <= 1 for s in result["scores"])
    recalls = result["per_class_recall"]
    assert sorted(recalls) == sorted(store.index["label"].unique())
    y, pred = store.index["label"].to_numpy(), result["predictions"]
    assert all(recalls[lab] == pytest.approx(np.mean(pred[y == lab] == lab)) for lab in recalls)
    assert (result["passage_match"] >= 0).all() and (result["passage_match"] <= 1).all()
