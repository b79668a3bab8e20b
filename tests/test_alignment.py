"""The alignment engine (banded DTW, its store cache through executors) and the aligned recipe's
"does this clip read the passage?" on real recordings."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from accent import alignment
from accent.aligned import (PASSAGE_MATCH_THRESHOLD, AlignedConfig, AlignedModel, PassageFeaturizer, audio_sequence,
                            load_model, save_model, store_features)
from accent.alignment import AlignSpec, Alignments, align, store_alignments, store_sequences
from accent.errors import AccentError
from accent.executors import ProcessExecutor
from accent.features import FeatureConfig
from accent.store import FeatureStore

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_8K = SHARED / "real-dev" / "saa-8k"
CV = SHARED / "real-dev" / "cv-v1" / "cv-valid-dev"
HAVE_REAL = REAL_8K.is_dir() and CV.is_dir()
SPEC = AlignSpec(n_mfcc=12, align_coeffs=(1, 6))


def warped(rng, n: int = 80, dim: int = 12):
    """A smooth random sequence and a copy read at a varying pace."""
    ref = np.cumsum(rng.normal(size=(n, dim)), axis=0).astype(np.float32)
    pace = np.repeat(np.arange(n), rng.integers(1, 4, size=n))
    return ref, ref[pace]


def test_banded_path_matches_the_full_dtw_and_reports_its_cost():
    import librosa

    rng = np.random.default_rng(0)
    ref, seq = warped(rng)
    found = align(seq, ref, SPEC)
    _, full = librosa.sequence.dtw(X=seq[:, 1:6].T, Y=ref[:, 1:6].T, metric="euclidean", backtrack=True)
    assert np.array_equal(found.path(), full[::-1])
    assert found.cost == pytest.approx(0.0, abs=1e-9)      # the same sounds at another pace cost nothing
    other = align(rng.normal(size=seq.shape).astype(np.float32), ref, SPEC)
    assert other.cost > 0.5


def test_very_different_lengths_still_align_end_to_end():
    rng = np.random.default_rng(1)
    short, long_ = rng.normal(size=(12, 12)).astype(np.float32), rng.normal(size=(700, 12)).astype(np.float32)
    for a, b in ((short, long_), (long_, short)):
        path = align(a, b, AlignSpec(band=0.01)).path()
        assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (len(a) - 1, len(b) - 1)
        assert (np.diff(path, axis=0) >= 0).all() and (np.diff(path, axis=0).sum(1) >= 1).all()
    with pytest.raises(AccentError, match="need 2"):
        align(short[:1], long_, SPEC)


def test_alignments_concat_and_file_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    ref, _ = warped(rng)
    found = [align(warped(rng)[1], ref, SPEC) for _ in range(4)]
    both = Alignments.concat([Alignments.of(found[:1]), Alignments.of(found[1:])])
    assert len(both) == 4 and np.array_equal(both.path(2), found[2].path())
    back = Alignments.load(both.save(tmp_path / "a.npz"))
    assert np.array_equal(back.steps, both.steps) and np.allclose(back.costs, both.costs)


def test_store_alignments_are_cached_per_reference_and_run_on_an_executor(tiny_stores):
    store = FeatureStore.open(tiny_stores["target"])
    seqs = store_sequences(store, spec=SPEC)
    ref = seqs[0]
    folder = alignment.cache_folder(store, SPEC)
    shutil.rmtree(folder, ignore_errors=True)
    here = store_alignments(store, ref, SPEC, n_shards=3)
    files = list(folder.glob("ref-*.npz"))
    assert len(files) == 1 and not list(files[0].parent.glob("*.shards-*"))
    assert [align(s, ref, SPEC).cost for s in seqs] == pytest.approx(here.costs.tolist(), rel=1e-6)
    files[0].unlink()
    executor = ProcessExecutor(1)
    try:
        pooled = store_alignments(store, ref, SPEC, executor=executor, n_shards=2)
        per_row = store_alignments(store, seqs[::-1], SPEC, executor=executor)   # one reference per clip
    finally:
        executor.shutdown()
    assert np.array_equal(pooled.steps, here.steps)
    assert np.array_equal(per_row.path(0), align(seqs[0], seqs[-1], SPEC).path())
    # a warm call reads the file: it does not need the store's frames any more
    assert np.array_equal(store_alignments(store, ref, SPEC).steps, here.steps)
    with pytest.raises(AccentError, match="one per row"):
        store_alignments(store, seqs[:2], SPEC)


def test_store_features_equal_the_uncached_recipe(tiny_stores):
    store = FeatureStore.open(tiny_stores["target"])
    cfg = AlignedConfig(n_mfcc=12, feature_coeffs=6, align_coeffs=(1, 6), reference_quantiles=(0.5,))
    seqs = store_sequences(store, spec=cfg.spec())
    featurizer = PassageFeaturizer(cfg).fit(seqs)
    blocks, stats = store_features(store, featurizer)
    direct, costs = featurizer.align(seqs)
    assert np.allclose(blocks[0], direct[0]) and np.allclose(stats[:, 0], costs[:, 0], rtol=1e-5)


# -- off passage, on real recordings ---------------------------------------------------------------

@pytest.fixture(scope="module")
def passage_model(tmp_path_factory):
    """An aligned model fitted on 6 real saa-8k readings of each of the 9 languages (8 kHz), saved and
    loaded back, and held-out readings."""
    from accent.corpora import build_manifest
    from accent.featurize import featurize

    manifest, _ = build_manifest("folder", REAL_8K)
    manifest = manifest.sort_values("utt_id")
    train = manifest.groupby("label").head(6)
    held = manifest.drop(train.index).groupby("label").nth(-1).head(3)
    root = tmp_path_factory.mktemp("saa8k")
    featurize(train.reset_index(drop=True), root / "train", FeatureConfig(sample_rate=8000), workers=1, progress=False)
    store = FeatureStore.open(root / "train")
    cfg = AlignedConfig()
    model = AlignedModel(cfg).fit(store_sequences(store, spec=cfg.spec()), store.index["label"].to_numpy())
    loaded, _ = load_model(save_model(root / "aligned_model.npz", model, store.config))
    return loaded, list(held["path"])


def clip(tmp_path, name: str, level: float, seconds: float = 20.0) -> Path:
    import soundfile as sf

    path = tmp_path / f"{name}.wav"
    noise = np.random.default_rng(0).normal(0, level, int(seconds * 16000)).astype(np.float32)
    sf.write(path, noise, 16000)
    return path


@pytest.mark.skipif(not HAVE_REAL, reason="shared real development data not available")
def test_clips_that_do_not_read_the_passage_are_flagged(passage_model, tmp_path):
    model, held = passage_model
    cfg8k, cfg = FeatureConfig(sample_rate=8000), model.config
    readings = [audio_sequence(p, cfg8k, cfg) for p in held]
    off = {"white noise": audio_sequence(clip(tmp_path, "noise", 0.1), cfg8k, cfg),
           "near silence": audio_sequence(clip(tmp_path, "quiet", 1e-3), cfg8k, cfg),
           "reversed reading": readings[0][::-1].copy(),
           "CV sentence": audio_sequence(sorted(CV.glob("*.mp3"))[0], cfg8k, cfg)}
    match = model.passage_match(list(off.values()) + readings)
    flagged = dict(zip(off, match[:len(off)]))
    assert all(m < PASSAGE_MATCH_THRESHOLD for m in flagged.values()), flagged
    assert (match[len(off):] > PASSAGE_MATCH_THRESHOLD).all(), match[len(off):]
    probs, again = model.predict_with_match(readings)
    assert np.allclose(again, match[len(off):]) and np.allclose(probs.sum(1), 1)
    with pytest.raises(AccentError, match="silent"):    # digital silence stops before alignment
        audio_sequence(clip(tmp_path, "silence", 0.0), cfg8k, cfg)


def test_a_model_file_without_calibration_still_loads(tmp_path):
    rng = np.random.default_rng(3)
    cfg = AlignedConfig(n_mfcc=12, feature_coeffs=6, align_coeffs=(1, 6), n_nap=1, reference_quantiles=(0.5,))
    seqs = [warped(rng, 40)[1] for _ in range(6)]
    model = AlignedModel(cfg).fit(seqs, ["a", "b"] * 3)
    model.calibration = None                        # as a file written before passage matching
    loaded, _ = load_model(save_model(tmp_path / "old.npz", model))
    assert np.isnan(loaded.passage_match(seqs[:2])).all()
    assert np.allclose(loaded.predict_proba(seqs[:2]), model.predict_proba(seqs[:2]))
