"""End to end on tiny generated stores: pretrain, the four transfer modes, resume, safe checkpoints."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import interrupt_training_after
from accent.errors import AccentError
from accent.evaluate import bootstrap_intervals, evaluate_run, recording_metrics
from accent.store import FeatureStore
from accent.inference import load_run
from accent.splits import check_classes, splits_from_index
from accent.training.pretrain import pretrain
from accent.methods import method_names
from accent.transfer import run_transfer

TINY_MODEL = {"channels": [32, 32], "kernels": [5, 3], "dilations": [1, 2], "pool_channels": 64, "embed_dim": 32}
TINY_TRAIN = {"min_crops_per_epoch": 256, "patience": 6}


@pytest.fixture(scope="module")
def source_run(tiny_stores, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "source"
    torch.set_num_threads(1)
    pretrain(tiny_stores["source"], out, crop_s=1.0, max_epochs=20, seed=0, progress=False,
             model_overrides=TINY_MODEL, train_overrides=TINY_TRAIN)
    return out


def test_pretrain_writes_a_loadable_run(source_run, tiny_stores):
    run_json = json.loads((source_run / "run.json").read_text())
    assert run_json["labels"] == [f"accent{k}" for k in range(6)]
    assert 1 <= run_json["best_epoch"] <= run_json["epochs_run"] <= 20
    # one clip per speaker cannot be told apart from a corpus without speaker ids
    # the tiny store names its speakers (one recording each, like SAA): ids are known, splits disjoint
    assert run_json["dataset"]["speaker_disjoint"] and run_json["dataset"]["speaker_ids"]
    assert run_json["dataset"]["recordings_without_speaker_id"] == 0
    # learned something: well above the 1/6 chance level on unseen speakers
    assert run_json["metrics"]["test"]["balanced_accuracy"] > 0.4
    preds = pd.read_csv(source_run / "predictions.csv")
    assert set(preds["split"]) == {"val", "test"}
    assert np.allclose(preds[[f"p_accent{k}" for k in range(6)]].sum(axis=1), 1, atol=1e-4)
    run = load_run(source_run)
    store = FeatureStore.open(tiny_stores["source"])
    np.testing.assert_allclose(run.norm_mean, store.mean, rtol=1e-6)
    probs = run.predict_logmel(np.asarray(store.frames(0), np.float32))
    assert probs.shape == (6,) and abs(probs.sum() - 1) < 1e-4
    assert run.embed_logmel(np.asarray(store.frames(0), np.float32)).shape == (32,)


@pytest.mark.parametrize("mode", [m for m in method_names() if m not in ("aligned", "phonetic")])
# aligned: tests/test_aligned_mode.py; phonetic (needs each clip's text and audio): tests/test_phonetic_method.py
def test_every_transfer_mode_trains_and_reloads(mode, source_run, tiny_stores, tmp_path):
    result = run_transfer(tiny_stores["target_big"], mode, tmp_path / mode, source=source_run, seed=0,
                          per_class=4, max_epochs=4, progress=False)
    assert result["mode"] == mode and result["labels"] == ["accent0", "accent1", "accent2"]
    assert result["n_train_recordings"] == 12 and result["per_class"] == 4
    assert result["metrics"]["test"]["n"] == 12
    assert (result["epochs_run"] is None) == (mode in ("baseline", "extract"))
    run = load_run(tmp_path / mode)
    store = FeatureStore.open(tiny_stores["target_big"])
    probs = run.predict_logmel(np.asarray(store.frames(0), np.float32))
    assert probs.shape == (3,) and abs(probs.sum() - 1) < 1e-6
    # the reloaded run reproduces the saved predictions
    saved = pd.read_csv(tmp_path / mode / "predictions.csv").iloc[0]
    row = int(np.flatnonzero(store.index["utt_id"] == saved["utt_id"])[0])
    again = run.predict_logmel(np.asarray(store.frames(row), np.float32))
    np.testing.assert_allclose(again, saved[["p_accent0", "p_accent1", "p_accent2"]].to_numpy(float), atol=1e-4)


def test_finetune_from_an_informative_source_beats_scratch(source_run, tiny_stores, tmp_path):
    """Three training speakers per class: too few to learn voice invariance, enough to adapt a source model."""
    scores = {"finetune": [], "scratch": []}
    for seed in (0, 1):
        for mode in scores:
            r = run_transfer(tiny_stores["target"], mode, tmp_path / f"{mode}{seed}", source=source_run, seed=seed,
                             max_epochs=12, progress=False)
            scores[mode].append(r["metrics"]["test"]["balanced_accuracy"])
    assert np.mean(scores["finetune"]) > np.mean(scores["scratch"]) + 0.1, scores


def _tiny_pretrain(store, out, **kw):
    return pretrain(store, out, crop_s=1.0, max_epochs=4, seed=3, progress=False,
                    model_overrides=TINY_MODEL, train_overrides={"patience": 10}, **kw)


def test_resumed_run_matches_an_uninterrupted_one(tiny_stores, tmp_path, monkeypatch):
    full = _tiny_pretrain(tiny_stores["target_big"], tmp_path / "full")
    with monkeypatch.context() as patch:
        interrupt_training_after(patch, epochs=2)
        with pytest.raises(KeyboardInterrupt):
            _tiny_pretrain(tiny_stores["target_big"], tmp_path / "resumed")
    assert (tmp_path / "resumed" / "train_state.pt").is_file() and not (tmp_path / "resumed" / "run.json").exists()
    resumed = _tiny_pretrain(tiny_stores["target_big"], tmp_path / "resumed", resume=True)
    strip = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert strip(resumed["history"]) == strip(full["history"]) and len(full["history"]) == 4
    a = load_run(tmp_path / "full").model.state_dict()
    b = load_run(tmp_path / "resumed").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    full_preds = (tmp_path / "full" / "predictions.csv").read_text()
    assert (tmp_path / "resumed" / "predictions.csv").read_text() == full_preds


def test_seeded_cpu_runs_repeat(tiny_stores, tmp_path):
    r1 = pretrain(tiny_stores["target_big"], tmp_path / "a", crop_s=1.0, max_epochs=2, seed=5, progress=False,
                  model_overrides=TINY_MODEL)
    r2 = pretrain(tiny_stores["target_big"], tmp_path / "b", crop_s=1.0, max_epochs=2, seed=5, progress=False,
                  model_overrides=TINY_MODEL)
    assert [h["train_loss"] for h in r1["history"]] == [h["train_loss"] for h in r2["history"]]


def test_incompatible_feature_config_is_refused(source_run, tiny_stores, tmp_path):
    with pytest.raises(AccentError, match="another feature config.*n_mels=20"):
        run_transfer(tiny_stores["other_config"], "finetune", tmp_path / "x", source=source_run, progress=False)


def test_extract_and_finetune_need_a_source(tiny_stores, tmp_path):
    with pytest.raises(AccentError, match="needs --source"):
        run_transfer(tiny_stores["target"], "extract", tmp_path / "x", progress=False)


def _index(rows):
    return pd.DataFrame(rows, columns=["utt_id", "speaker", "label", "split"])


def test_bad_class_layouts_give_one_line_errors():
    only_test = _index([("a", "s1", "x", "train"), ("b", "s2", "x", "val"), ("c", "s3", "y", "test")])
    with pytest.raises(AccentError, match="only in the test split"):
        check_classes(only_test, "store")
    with pytest.raises(AccentError, match="not in train"):
        splits_from_index(only_test, "store")
    no_val = _index([("a", "s1", "x", "train"), ("c", "s3", "x", "test")])
    with pytest.raises(AccentError, match="too few speakers"):
        splits_from_index(no_val, "store")


def test_kfold_tests_every_recording_once(tiny_stores, tmp_path, monkeypatch):
    import accent.transfer as transfer_mod

    seen = []  # the split assignment each fold's learner actually receives

    def spy(index, where):
        seen.append({s: set(index.loc[index["split"] == s, "speaker"]) for s in ("train", "val", "test")})
        return splits_from_index(index, where)

    monkeypatch.setattr(transfer_mod, "splits_from_index", spy)
    result = run_transfer(tiny_stores["target_big"], "baseline", tmp_path / "cv", folds=3, seed=0, progress=False)
    store = FeatureStore.open(tiny_stores["target_big"])
    preds = pd.read_csv(tmp_path / "cv" / "predictions.csv")
    assert sorted(preds["utt_id"]) == sorted(store.index["utt_id"])
    assert result["metrics"]["test"]["n"] == len(store.index) and result["folds"] == 3
    assert len(seen) == 3
    for fold in seen:
        assert fold["train"] and fold["test"]
        assert fold["train"].isdisjoint(fold["test"]) and fold["val"].isdisjoint(fold["test"])
        assert fold["train"].isdisjoint(fold["val"])
    tested = [fold["test"] for fold in seen]
    assert set().union(*tested) == set(store.index["speaker"]) and sum(map(len, tested)) == store.index["speaker"].nunique()


def test_recording_metrics_and_speaker_bootstrap():
    m = recording_metrics(["a", "a", "a", "b"], ["a", "a", "b", "b"], ["a", "b"])
    assert m["accuracy"] == 0.75 and abs(m["balanced_accuracy"] - (2 / 3 + 1) / 2) < 1e-9
    assert m["confusion"] == [[2, 1], [0, 1]] and m["per_class"]["b"]["support"] == 1
    rng = np.random.default_rng(0)
    labels = rng.choice(["a", "b", "c"], 300)
    preds = np.where(rng.random(300) < 0.7, labels, rng.choice(["a", "b", "c"], 300))
    table = pd.DataFrame({"utt_id": range(300), "speaker": np.arange(300) // 3, "label": labels, "pred": preds})
    ci = bootstrap_intervals(table, ["a", "b", "c"], n_boot=200)
    point = recording_metrics(labels, preds, ["a", "b", "c"])
    for metric, (low, high) in ci.items():
        assert low < point[metric] < high and high - low < 0.2


def test_evaluate_scores_a_run_on_another_store(source_run, tiny_stores, tmp_path):
    result = evaluate_run(source_run, tiny_stores["target_big"], split="test", out=tmp_path / "ev", progress=False)
    assert result["metrics"]["n"] == 12 and result["excluded_labels"] == []
    assert (tmp_path / "ev" / "predictions.csv").is_file()


def test_accent_and_accent_rundir_are_one_backbone(source_run, tiny_stores, tmp_path):
    """The two spellings of our network take the same path: same embeddings, same fine-tuned run."""
    from accent.backbones.names import can_finetune
    from accent.embeddings import embed_rows, recording_embeddings

    store = FeatureStore.open(tiny_stores["target_big"])
    rows = np.arange(len(store.index))
    _, spelled = recording_embeddings(f"accent:{source_run}", store, progress=False)
    np.testing.assert_array_equal(embed_rows("accent", store, rows, source=source_run), spelled)
    assert can_finetune("accent") and can_finetune(f"accent:{source_run}")
    kw = dict(per_class=2, max_epochs=1, seed=0, progress=False)
    a = run_transfer(tiny_stores["target_big"], "finetune", tmp_path / "a", source=source_run, **kw)
    b = run_transfer(tiny_stores["target_big"], "finetune", tmp_path / "b", backbone=f"accent:{source_run}", **kw)
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"] and b["backbone"] == "accent"
    assert (tmp_path / "a" / "predictions.csv").read_text() == (tmp_path / "b" / "predictions.csv").read_text()


def test_guard_keeps_the_linear_probe_when_fine_tuning_only_hurts(source_run, tiny_stores, tmp_path):
    """A learning rate that wrecks the network: no epoch beats the probe's validation loss, so the
    probe (source body, new head) is what the run keeps, and run.json says so."""
    wreck = {"train": {"lr": 50.0, "body_lr_mult": 1.0, "freeze_epochs": 0, "guard": True, "patience": 2}}
    r = run_transfer(tiny_stores["target_big"], "finetune", tmp_path / "ft", source=source_run, per_class=4,
                     max_epochs=2, progress=False, recipe=wreck)
    assert r["kept_probe"] is True and r["best_epoch"] == 0 and r["epochs_run"] == 2
    body = {k: v for k, v in load_run(source_run).model.state_dict().items() if not k.startswith("head.")}
    kept = load_run(tmp_path / "ft").model.state_dict()
    assert all(torch.equal(kept[k], v) for k, v in body.items())
    # from random weights (scratch) any trained epoch beats the start: the guard lets training through
    s = run_transfer(tiny_stores["target_big"], "scratch", tmp_path / "sc", source=source_run, per_class=4,
                     max_epochs=2, progress=False, recipe={"train": {"guard": True}})
    assert s["kept_probe"] is False and s["best_epoch"] >= 1
    assert "kept_probe" not in run_transfer(tiny_stores["target_big"], "scratch", tmp_path / "plain",
                                            source=source_run, per_class=4, max_epochs=1, progress=False)


def test_select_val_loss_keeps_the_epoch_of_lowest_validation_loss(tiny_stores, tmp_path):
    kw = dict(crop_s=1.0, max_epochs=4, seed=3, progress=False, model_overrides=TINY_MODEL)
    r = pretrain(tiny_stores["target_big"], tmp_path / "loss", train_overrides={"select": "val_loss", "patience": 10}, **kw)
    losses = [h["val_loss"] for h in r["history"]]
    assert r["best_epoch"] == int(np.argmin(losses)) + 1 and r["recipe"]["train"]["select"] == "val_loss"
    with pytest.raises(AccentError, match="train.select"):
        pretrain(tiny_stores["target_big"], tmp_path / "bad", train_overrides={"select": "val_acc"}, **kw)


def test_ema_of_the_weights_is_the_per_epoch_moving_average():
    from accent.training.loop import _update_ema

    model = torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = _update_ema(None, model, 0.75)
    with torch.no_grad():
        model.weight.fill_(5.0)
    model.num_batches_tracked.fill_(7)
    ema = _update_ema(ema, model, 0.75)
    assert torch.allclose(ema["weight"], torch.full((2,), 0.75 * 1.0 + 0.25 * 5.0))
    assert int(ema["num_batches_tracked"]) == 7  # integer buffers follow the model
