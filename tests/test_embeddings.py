"""The embedding router and its cache (accent.embeddings): cache hits, invalidation, NaN rows for
unusable clips, fusions, our network as a backbone, and one audio file against the store path."""
from __future__ import annotations

import shutil
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent.backbones import Backbone
from accent.embeddings import CACHE_DIR, embedding_failures, fused_features, recording_embeddings
from accent.errors import AccentError
from accent.features import mfcc_statistics
from accent.store import FeatureStore
from conftest import resemblyzer_or_skip as _resemblyzer_or_skip, speak as _speak

SR = 16000
SENTENCES = ["Please call Stella.", "Ask her to bring these things.", "Six spoons of fresh snow peas."]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _manifest(root: Path, n: int) -> pd.DataFrame:
    from accent.manifest import finalize

    rows = []
    for k in range(n):
        path = _speak(SENTENCES[k % len(SENTENCES)], root / f"clip{k}.wav", voice=["en", "en-us", "de"][k % 3])
        rows.append({"utt_id": f"clip{k}", "path": str(path), "speaker": f"spk{k}",
                     "label": ["a", "b"][k % 2], "split": "train"})
    return finalize(pd.DataFrame(rows), "synthetic")


@pytest.fixture
def store_dir(tmp_path) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from accent.featurize import featurize

    audio = tmp_path / "audio"
    audio.mkdir()
    featurize(_manifest(audio, 3), tmp_path / "feats", workers=1, progress=False)
    return tmp_path / "feats"


class CountingBackbone(Backbone):
    """Deterministic stand-in that counts how often it is asked to embed."""

    sample_rate = SR
    dim = 3

    def __init__(self, version: str = "v1"):
        self.name = "counting"
        self.fingerprint = f"counting-{version}"
        self.calls = 0

    def embed_waveform(self, wave):
        self.calls += 1
        return np.array([len(wave) / SR, float(np.abs(wave).mean()), float(wave.std())], np.float32)



def test_cache_hit_and_row_selection(store_dir):
    backbone = CountingBackbone()
    ids, X = recording_embeddings(backbone, store_dir, progress=False)
    store = FeatureStore.open(store_dir)
    assert ids == store.index["utt_id"].tolist() and X.shape == (3, 3) and backbone.calls == 3
    assert len(list((store_dir / CACHE_DIR).glob("counting-*.npz"))) == 1

    ids2, X2 = recording_embeddings(backbone, store_dir, rows=[2, 0], progress=False)
    assert backbone.calls == 3  # served from the cache file
    assert ids2 == [ids[2], ids[0]]
    np.testing.assert_array_equal(X2, X[[2, 0]])

    fresh = CountingBackbone()  # another process would start with an empty instance
    _, X3 = recording_embeddings(fresh, store_dir, rows=np.array([False, True, False]), progress=False)
    assert fresh.calls == 0
    np.testing.assert_array_equal(X3, X[[1]])


def test_cache_invalidated_when_backbone_changes(store_dir):
    recording_embeddings(CountingBackbone("v1"), store_dir, progress=False)
    newer = CountingBackbone("v2")
    recording_embeddings(newer, store_dir, progress=False)
    assert newer.calls == 3
    assert len(list((store_dir / CACHE_DIR).glob("counting-*.npz"))) == 1  # the stale file is gone


def test_cache_invalidated_when_store_changes_and_reuses_unchanged_rows(store_dir):
    from accent.featurize import featurize

    recording_embeddings(CountingBackbone(), store_dir, progress=False)
    audio = store_dir.parent / "audio"
    featurize(_manifest(audio, 4), store_dir, workers=1, progress=False)  # one more clip
    backbone = CountingBackbone()
    ids, X = recording_embeddings(backbone, store_dir, progress=False)
    assert len(ids) == 4 and backbone.calls == 1 and np.isfinite(X).all()
    assert len(list((store_dir / CACHE_DIR).glob("counting-*.npz"))) == 1


def test_bad_clip_gets_nan_row_and_is_reported_once(store_dir):
    store = FeatureStore.open(store_dir)
    broken = store.index["path"].iat[1]
    Path(broken).write_bytes(b"RIFF but not really a wav")
    backbone = CountingBackbone()
    with pytest.warns(UserWarning, match="1 recording"):
        _, X = recording_embeddings(backbone, store_dir, progress=False)
    assert np.isnan(X[1]).all() and np.isfinite(X[[0, 2]]).all()
    failures = embedding_failures(backbone, store_dir)
    assert failures["utt_id"].tolist() == [store.index["utt_id"].iat[1]]
    assert "cannot decode" in failures["reason"].iat[0]
    again = CountingBackbone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recording_embeddings(again, store_dir, progress=False)
    assert again.calls == 0  # the failure is cached, not retried


def test_fusion_concatenates_mfcc_and_backbones(store_dir):
    store = FeatureStore.open(store_dir)
    ids, mfcc = recording_embeddings("mfcc", store, progress=False)
    np.testing.assert_array_equal(mfcc[0], mfcc_statistics(np.asarray(store.frames(0), np.float32)))
    backbone = CountingBackbone()
    fused_ids, fused = fused_features(store, ["mfcc", backbone], rows=[1, 2], progress=False)
    assert fused_ids == ids[1:] and fused.shape == (2, mfcc.shape[1] + backbone.dim)
    np.testing.assert_array_equal(fused[:, :mfcc.shape[1]], mfcc[1:])
    with pytest.raises(AccentError):
        recording_embeddings("mfcc+nope", store, progress=False)


def test_fusion_by_name_with_resemblyzer(store_dir):
    _resemblyzer_or_skip()
    ids, X = recording_embeddings("mfcc+resemblyzer", store_dir, progress=False)
    assert len(ids) == 3 and X.shape == (3, 60 + 256) and np.isfinite(X).all()


def test_accent_run_backbone_needs_a_run(store_dir, tmp_path):
    with pytest.raises(AccentError, match="not found"):
        recording_embeddings(f"accent:{tmp_path / 'no-such-run'}", store_dir, progress=False)


def test_cache_survives_resplitting_through_a_store_view(store_dir):
    store = FeatureStore.open(store_dir)
    recording_embeddings(CountingBackbone(), store, progress=False)
    index = store.index.copy()
    index["split"] = ["test", "val", "train"]
    view = types.SimpleNamespace(root=store.root, index=index, config=store.config, frames=store.frames)
    backbone = CountingBackbone()
    ids, X = recording_embeddings(backbone, view, progress=False)
    assert backbone.calls == 0 and len(ids) == 3 and np.isfinite(X).all()


def test_accent_run_backbone_embeds_stored_logmels(tiny_stores, tmp_path):
    from accent.inference import load_run
    from accent.training.pretrain import pretrain

    rundir = tmp_path / "run"
    pretrain(tiny_stores["target"], rundir, crop_s=1.0, max_epochs=1, progress=False)
    store = FeatureStore.open(shutil.copytree(tiny_stores["target"], tmp_path / "target"))  # keep the shared store clean
    ids, X = recording_embeddings(f"accent:{rundir}", store, rows=[0, 5], progress=False)
    run = load_run(rundir)
    # atol: near-zero units differ in the last bits between batched and single-recording passes on some CPUs
    np.testing.assert_allclose(X[1], run.embed_logmel(np.asarray(store.frames(5), np.float32)), rtol=1e-5, atol=1e-7)
    assert len(list((Path(store.root) / CACHE_DIR).glob("accent_run_*.npz"))) == 1
    with pytest.raises(AccentError, match="feature config"):
        recording_embeddings(f"accent:{rundir}", tiny_stores["other_config"], progress=False)


def test_audio_embedding_matches_the_store_path(store_dir):
    _resemblyzer_or_skip()
    from accent.embeddings import audio_embedding

    store = FeatureStore.open(store_dir)
    _, X = recording_embeddings("mfcc+resemblyzer", store, rows=[2], progress=False)
    one = audio_embedding("mfcc+resemblyzer", store.index["path"].iat[2], store.config)
    # mfcc differs only by the store's float16 rounding of the log-mels; resemblyzer is identical
    np.testing.assert_allclose(one[:60], X[0, :60], rtol=0.02, atol=0.02)
    np.testing.assert_array_equal(one[60:], X[0, 60:])
