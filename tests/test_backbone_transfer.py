"""Pretrained backbones wired through transfer, curve, predict and report, on a tiny espeak-ng corpus.

Two "accents" are two espeak-ng voice families (American English and German voices reading English
sentences), one clip per speaker, so every split is speaker-disjoint.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from accent.backbones.resemblyzer import ResemblyzerBackbone
from accent.errors import AccentError
from accent.store import FeatureStore

sys.path.insert(0, str(Path(__file__).parent / "golden"))
from produce import SPEECH_VOICES, speech_store as build_speech_store  # noqa: E402  (one builder for both)

N_CLIPS = sum(len(v) for v in SPEECH_VOICES.values())
TINY_WAVEFORM = {"train": {"min_crops_per_epoch": 8, "batch_size": 8}}   # few crops per epoch: fast


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def speech_store(tmp_path_factory) -> Path:
    """A featurized store of 14 espeak-ng clips (2 classes x 3 train, 2 val, 2 test speakers): the
    golden script's own builder."""
    store, missing = build_speech_store(tmp_path_factory.mktemp("speech"))
    if store is None:
        pytest.skip(missing)
    return store


@pytest.fixture
def store(speech_store, tmp_path) -> Path:
    """A private copy of the store: its embedding cache starts empty."""
    return Path(shutil.copytree(speech_store, tmp_path / "feats"))


@pytest.fixture(scope="module")
def embedded_store(speech_store, tmp_path_factory) -> Path:
    """A copy of the store whose cache already holds every clip's frozen Resemblyzer and MFCC vectors,
    for the tests about what comes after embedding (the cold cache is the business of the tests that
    count embeddings)."""
    from accent.embeddings import embed_rows

    store = Path(shutil.copytree(speech_store, tmp_path_factory.mktemp("embedded") / "feats"))
    X = embed_rows("mfcc+resemblyzer", FeatureStore.open(store), np.arange(N_CLIPS))
    assert np.isfinite(X).all()
    return store


@pytest.fixture
def warm_store(embedded_store, tmp_path) -> Path:
    """A private copy of :func:`embedded_store`."""
    return Path(shutil.copytree(embedded_store, tmp_path / "feats"))


@pytest.fixture
def embed_calls(monkeypatch) -> list:
    """Counts Resemblyzer embeddings computed (cache misses)."""
    calls = []
    original = ResemblyzerBackbone.embed_waveform

    def counting(self, wave):
        calls.append(1)
        return original(self, wave)

    monkeypatch.setattr(ResemblyzerBackbone, "embed_waveform", counting)
    return calls


def _test_probabilities(rundir: Path) -> pd.DataFrame:
    table = pd.read_csv(rundir / "predictions.csv")
    return table[table["split"] == "test"].set_index("utt_id")


def test_extract_with_resemblyzer_and_fusion_embed_each_clip_once(store, embed_calls, tmp_path):
    from accent.inference import load_run
    from accent.transfer import run_transfer

    single = run_transfer(store, "extract", tmp_path / "res", backbone="resemblyzer", progress=False)
    assert len(embed_calls) == N_CLIPS
    assert single["backbone"] == "resemblyzer" and single["source"] is None
    assert single["metrics"]["test"]["n"] == 4 and single["n_train_recordings"] == 6
    # a speaker encoder tells an American from a German voice: above the 0.5 chance level
    assert single["metrics"]["test"]["balanced_accuracy"] > 0.5
    fused = run_transfer(store, "extract", tmp_path / "fused", backbone="mfcc+resemblyzer", progress=False)
    again = run_transfer(store, "extract", tmp_path / "again", backbone="resemblyzer", seed=1, per_class=2,
                         progress=False)
    assert len(embed_calls) == N_CLIPS  # the fusion and the second run read the cache
    assert again["n_train_recordings"] == 4
    assert load_run(tmp_path / "fused").ckpt["sklearn"]["scaler_mean"].shape == (60 + 256,)
    assert fused["backbone"] == "mfcc+resemblyzer"


def test_clip_the_backbone_cannot_embed_is_left_out(store, tmp_path):
    from accent.transfer import run_transfer

    index = FeatureStore.open(store).index
    broken = index[index["split"] == "test"].iloc[0]
    audio = Path(broken["path"])  # the copy's index points at the module's shared audio
    original = audio.read_bytes()
    audio.write_bytes(b"RIFF but not really a wav")
    try:
        with pytest.warns(UserWarning, match="left out of train/val/test"):
            result = run_transfer(store, "extract", tmp_path / "run", backbone="resemblyzer", progress=False)
    finally:  # the other tests use the clip
        audio.write_bytes(original)
    assert result["metrics"]["test"]["n"] == 3
    assert broken["utt_id"] not in _test_probabilities(tmp_path / "run").index


@pytest.mark.parametrize("backbone", ["resemblyzer", "mfcc+resemblyzer"])
def test_predict_with_an_extract_run_matches_its_predictions(warm_store, embed_calls, tmp_path, backbone):
    """predict on the raw files must see the same features the run trained on (the store's)."""
    from accent.predict import predict_files
    from accent.transfer import run_transfer

    run_transfer(warm_store, "extract", tmp_path / "run", backbone=backbone, progress=False)
    assert embed_calls == []  # the run read the store's cache
    expected = _test_probabilities(tmp_path / "run")
    index = FeatureStore.open(warm_store).index.set_index("utt_id")
    paths = [index.loc[u, "path"] for u in expected.index]
    results = predict_files(tmp_path / "run", paths, k=2)
    assert len(embed_calls) == len(paths)  # ...and predict embedded the raw files
    for utt, res in zip(expected.index, results):
        assert res["top"][0]["label"] == expected.loc[utt, "pred"]
        for label, p in res["probabilities"].items():
            assert p == pytest.approx(expected.loc[utt, f"p_{label}"], abs=1e-5)


FINETUNE = dict(backbone="resemblyzer", max_epochs=3, seed=2, progress=False,
                recipe={"train": {**TINY_WAVEFORM["train"], "patience": 10}})


@pytest.fixture(scope="module")
def finetuned(embedded_store, tmp_path_factory, one_torch_thread) -> tuple[Path, Path, dict]:
    """(store, run folder, result) of one uninterrupted Resemblyzer fine-tuning (one head-only epoch,
    then two of the whole network; few crops to keep it fast), which two tests examine."""
    from accent.transfer import run_transfer

    base = tmp_path_factory.mktemp("finetuned")
    store = Path(shutil.copytree(embedded_store, base / "feats"))
    return store, base / "full", run_transfer(store, "finetune", base / "full", **FINETUNE)


def test_finetune_resemblyzer_updates_the_encoder_and_predicts(finetuned, warm_store, tmp_path):
    from accent.backbones import get_backbone
    from accent.models import WaveformClassifier
    from accent.predict import predict_files
    from accent.inference import load_run
    from accent.transfer import run_transfer

    store, rundir, result = finetuned
    assert result["epochs_run"] == 3 and 1 <= result["best_epoch"] <= 3
    assert result["metrics"]["test"]["n"] == 4 and result["labels"] == ["de", "us"]
    run = load_run(rundir)  # weights_only load
    assert run.needs_audio and isinstance(run.model, WaveformClassifier)
    pretrained = get_backbone("resemblyzer").torch_module().state_dict()
    tuned = run.model.body.state_dict()
    name = "encoder.lstm.weight_ih_l0"
    changed = not torch.equal(tuned[name], pretrained[name])
    assert changed == (result["best_epoch"] >= 2)  # the body trains only after the frozen warm-up epoch
    expected = _test_probabilities(rundir)
    index = FeatureStore.open(store).index.set_index("utt_id")
    res = predict_files(rundir, [index.loc[expected.index[0], "path"]])[0]
    for label, p in res["probabilities"].items():
        assert p == pytest.approx(expected.iloc[0][f"p_{label}"], abs=1e-4)
    with pytest.raises(AccentError, match="mode extract"):
        run_transfer(warm_store, "finetune", tmp_path / "nope", backbone="mfcc+resemblyzer", progress=False)


def test_resumed_waveform_finetune_matches_an_uninterrupted_one(finetuned, tmp_path, monkeypatch):
    from accent.inference import load_run
    from accent.transfer import run_transfer

    from conftest import interrupt_training_after

    store, full_dir, full = finetuned
    with monkeypatch.context() as patch:
        interrupt_training_after(patch, epochs=2)
        with pytest.raises(KeyboardInterrupt):
            run_transfer(store, "finetune", tmp_path / "resumed", **FINETUNE)
    assert not (tmp_path / "resumed" / "run.json").exists()
    resumed = run_transfer(store, "finetune", tmp_path / "resumed", resume=True, **FINETUNE)
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(full["history"]) and len(full["history"]) == 3
    a, b = load_run(full_dir).model.state_dict(), load_run(tmp_path / "resumed").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "resumed" / "predictions.csv").read_text() == (full_dir / "predictions.csv").read_text()


def test_curve_with_two_backbones_embeds_once_and_reports_every_series(store, embed_calls, tmp_path):
    from accent.curve import plan_points, run_curve
    from accent.report import build_report

    planned = {p.series for p in plan_points(["extract", "finetune"], ["resemblyzer", "mfcc+resemblyzer"], ["all"], [0])}
    assert planned == {"extract-resemblyzer", "extract-mfcc+resemblyzer", "finetune-resemblyzer"}
    table = run_curve(None, store, tmp_path / "curve", sizes=[2, "all"], seeds=[0, 1], modes=["baseline", "extract"],
                      backbones=["resemblyzer", "mfcc+resemblyzer"], jobs=1, progress=False)
    assert set(table["series"]) == {"baseline", "extract-resemblyzer", "extract-mfcc+resemblyzer"}
    assert len(table) == 3 * 2 * 2 and table["balanced_accuracy"].notna().all()
    assert len(embed_calls) == N_CLIPS  # 8 resemblyzer runs, one embedding pass
    runs = [tmp_path / "curve" / d for d in table["run_dir"] if d.endswith("nall/seed0")]
    report = build_report(runs, tmp_path / "report", curve=tmp_path / "curve", n_boot=50, embeddings=False,
                          progress=False).read_text()
    for series in ("extract-resemblyzer", "extract-mfcc+resemblyzer"):
        assert f"| {series} |" in report  # learning-curve table
    assert "| mfcc+resemblyzer |" in report  # comparison table's backbone column
    assert (tmp_path / "report" / "figures" / "learning_curve.png").stat().st_size > 0
    plan = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert plan["backbones"] == ["resemblyzer", "mfcc+resemblyzer"]


def test_resumed_kfold_run_reuses_its_finished_folds(tiny_stores, tmp_path, monkeypatch):
    import accent.transfer as transfer

    first = transfer.run_transfer(tiny_stores["target_big"], "baseline", tmp_path / "cv", folds=3, progress=False)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(transfer, "run_single", must_not_train)
    again = transfer.run_transfer(tiny_stores["target_big"], "baseline", tmp_path / "cv", folds=3, progress=False,
                                  resume=True)
    assert again["metrics"]["test"] == first["metrics"]["test"]
    (tmp_path / "cv" / "fold1" / "run.json").unlink()  # an unfinished fold is trained again
    with pytest.raises(AssertionError, match="trained again"):
        transfer.run_transfer(tiny_stores["target_big"], "baseline", tmp_path / "cv", folds=3, progress=False,
                              resume=True)


def test_pretrain_init_resemblyzer_is_a_source_for_extract_and_finetune(store, tmp_path):
    """The two-stage chain: the Resemblyzer encoder fine-tuned on a store by `accent pretrain --init`,
    then transferred; extract embeds with the FINE-TUNED encoder, finetune continues from it."""
    from accent.backbones import get_backbone
    from accent.embeddings import embed_rows, network_embeddings
    from accent.inference import load_run
    from accent.training.pretrain import pretrain
    from accent.transfer import run_transfer

    tiny = {"train": {**TINY_WAVEFORM["train"], "freeze_epochs": 0, "lr": 0.01, "body_lr_mult": 1.0}}
    src = pretrain(store, tmp_path / "src", init="resemblyzer", max_epochs=1, progress=False, recipe=tiny)
    assert src["init"] == "resemblyzer" and src["recipe"]["train"]["freeze_epochs"] == 0 and src["epochs_run"] == 1
    source = load_run(tmp_path / "src")
    assert source.needs_audio and source.backbone == "resemblyzer"
    name = "encoder.lstm.weight_ih_l0"
    pretrained = get_backbone("resemblyzer").torch_module().state_dict()[name]
    assert not torch.equal(source.model.body.state_dict()[name], pretrained)  # the encoder was fine-tuned
    ext = run_transfer(store, "extract", tmp_path / "ext", source=tmp_path / "src", progress=False)
    assert ext["metrics"]["test"]["n"] == 4
    tuned = embed_rows("accent", FeatureStore.open(store), np.arange(2), source=tmp_path / "src")
    np.testing.assert_allclose(network_embeddings("accent", store, np.arange(2), source=tmp_path / "src"), tuned,
                               rtol=1e-5, atol=1e-6)  # the report's uncached path: the same vectors
    frozen = embed_rows("resemblyzer", FeatureStore.open(store), np.arange(2))
    assert tuned.shape == frozen.shape and not np.allclose(tuned, frozen, atol=1e-3)
    expected = _test_probabilities(tmp_path / "ext")
    from accent.predict import predict_files

    path = FeatureStore.open(store).index.set_index("utt_id").loc[expected.index[0], "path"]
    res = predict_files(tmp_path / "ext", [path])[0]  # the extract run re-embeds audio with the tuned encoder
    for label, p in res["probabilities"].items():
        assert p == pytest.approx(expected.iloc[0][f"p_{label}"], abs=1e-4)
    ft = run_transfer(store, "finetune", tmp_path / "ft", source=tmp_path / "src", max_epochs=1, progress=False,
                      recipe={"train": {**TINY_WAVEFORM["train"], "guard": True}})
    assert ft["source"] == str(tmp_path / "src") and ft["epochs_run"] == 1 and "kept_probe" in ft
    run = load_run(tmp_path / "ft")
    assert run.needs_audio and run.model.config["backbone"] == "resemblyzer"
    if ft["kept_probe"]:  # the guard kept the probe over the source's fine-tuned encoder: body unchanged
        assert torch.equal(run.model.body.state_dict()[name], source.model.body.state_dict()[name])
    with pytest.raises(AccentError, match="--init"):
        pretrain(store, tmp_path / "bad", init="mfcc", progress=False)
