"""The aligned mode end to end: same-passage detection, `accent pretrain` writing the aligned source,
`accent transfer --mode aligned` with and without --source (and k-fold), reloading, evaluate, predict,
export, and the learning curve including it only for same-passage targets."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from accent.aligned import load_model, load_source
from accent.executors import ProcessExecutor
from accent.manifest import same_passage
from conftest import TINY_SERVE_MODEL, make_passage_store, write_clip

SOURCE_LABELS = ["english", "french", "german", "korean"]


@pytest.fixture(scope="module")
def passage(tmp_path_factory):
    """Same-passage stores (a 4-language source with English readers, a 3-class target) and a
    1-epoch network pretrained on the source, which leaves aligned_source.npz beside it."""
    from accent.training.pretrain import pretrain

    base = tmp_path_factory.mktemp("passage")
    source = make_passage_store(base / "source", 4, {"train": 6, "val": 2, "test": 2}, seed=11, labels=SOURCE_LABELS)
    target = make_passage_store(base / "target", 3, {"train": 6, "val": 2, "test": 4}, seed=12)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    pretrain(source, base / "pretrain", crop_s=1.0, max_epochs=1, progress=False, model_overrides=TINY_SERVE_MODEL)
    torch.set_num_threads(previous)
    return {"source": source, "target": target, "pretrain": base / "pretrain", "base": base}


def test_same_passage_detection(tmp_path):
    from accent.corpora import build_manifest
    from test_corpora import write_wav

    n = 20
    saa = pd.DataFrame({"corpus": ["saa"] * n, "text": [""] * n})
    one_text = pd.DataFrame({"corpus": ["folder"] * n, "text": ["Please call Stella."] * (n - 1) + ["other"]})
    cv_like = pd.DataFrame({"corpus": ["commonvoice"] * n, "text": [f"sentence {i % 7}" for i in range(n)]})
    empty = pd.DataFrame({"corpus": ["folder"] * n, "text": [""] * n})
    half = pd.DataFrame({"corpus": ["folder"] * n, "text": ["Please call Stella."] * (n // 2) + [""] * (n // 2)})
    assert same_passage(saa) and same_passage(one_text)
    assert not same_passage(cv_like) and not same_passage(empty) and not same_passage(half)
    assert not same_passage(empty.iloc[:0])
    for label in ("north", "south"):               # a folder corpus says it reads one passage with --passage
        for spk in range(3):
            write_wav(tmp_path / "f" / label / f"spk{spk}" / "take.wav")
    plain, _ = build_manifest("folder", tmp_path / "f")
    marked, _ = build_manifest("folder", tmp_path / "f", passage="Please call Stella.")
    assert not same_passage(plain) and same_passage(marked)


def test_pretrain_writes_the_aligned_source_only_for_same_passage_stores(passage, tiny_runs):
    featurizer, naps, meta = load_source(passage["pretrain"] / "aligned_source.npz")
    assert meta["labels"] == sorted(SOURCE_LABELS) and len(featurizer.references) == len(naps) == 3
    assert not (tiny_runs["network"] / "aligned_source.npz").exists()     # different texts: no aligned source


def test_aligned_transfer_predict_evaluate_export(passage, tmp_path):
    from accent.evaluate import evaluate_run
    from accent.inference import load_run, predict_store_rows
    from accent.inference import load_run as load_any
    from accent.modelfile import export_model
    from accent.predict import predict_files
    from accent.store import FeatureStore
    from accent.transfer import run_transfer

    out = tmp_path / "aligned"
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # a same-passage target: no warning
        result = run_transfer(passage["target"], "aligned", out, per_class=4, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["aligned_model.npz", "predictions.csv", "run.json"]
    assert result["mode"] == "aligned" and result["source"] is None and result["n_train_recordings"] == 12
    assert result["metrics"]["test"]["balanced_accuracy"] > 0.8             # chance 1/3
    run = load_run(out)
    store = FeatureStore.open(passage["target"])
    saved = pd.read_csv(out / "predictions.csv")
    rows = np.array([int(np.flatnonzero(store.index["utt_id"] == u)[0]) for u in saved["utt_id"]])
    probs = predict_store_rows(run, store, rows)
    np.testing.assert_allclose(probs, saved[[f"p_accent{k}" for k in range(3)]].to_numpy(float), atol=1e-6)
    np.testing.assert_allclose(run.predict_logmel(np.asarray(store.frames(int(rows[0])), np.float32)), probs[0],
                               atol=1e-6)
    evaluation = evaluate_run(out, passage["target"])
    assert evaluation["metrics"]["balanced_accuracy"] == pytest.approx(result["metrics"]["test"]["balanced_accuracy"])

    clip = write_clip(tmp_path / "clip.wav", seconds=2.0)                   # a file goes through featurize
    (entry,) = predict_files(out, [clip], k=2)
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0) and len(entry["top"]) == 2
    exported = load_any(export_model(out, tmp_path / "aligned.accent"))
    np.testing.assert_allclose(predict_store_rows(exported, store, rows), probs, atol=1e-9)
    (again,) = predict_files(tmp_path / "aligned.accent", [clip], k=2)
    assert again["probabilities"] == pytest.approx(entry["probabilities"])


def test_aligned_with_the_source_uses_its_references_and_nap(passage, tmp_path, tiny_runs):
    from accent.cli import main

    out = tmp_path / "with-source"
    assert main(["transfer", "--mode", "aligned", "--features", passage["target"], "--source",
                 str(passage["pretrain"]), "--out", str(out), "--per-class", "4", "--quiet"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["source"] == str(passage["pretrain"])
    model, _ = load_model(out / "aligned_model.npz")
    featurizer, naps, _ = load_source(passage["pretrain"] / "aligned_source.npz")
    for mine, theirs in zip(model.featurizer.references, featurizer.references):
        assert np.array_equal(mine, theirs)
    for mine, theirs in zip(model.naps, naps):
        assert np.allclose(mine.directions_, theirs.directions_)
    status = main(["transfer", "--mode", "aligned", "--features", passage["target"], "--source",
                   str(tiny_runs["network"]), "--out", str(tmp_path / "bad")])
    assert status == 2 and not (tmp_path / "bad" / "run.json").exists()   # no aligned_source.npz there


def test_aligned_k_fold_and_a_warning_on_other_corpora(passage, tiny_stores, tmp_path):
    from accent.transfer import run_transfer

    result = run_transfer(passage["target"], "aligned", tmp_path / "kfold", folds=3, progress=False)
    assert [f["fold"] for f in result["fold_runs"]] == [0, 1, 2]
    assert all((tmp_path / "kfold" / f"fold{k}" / "aligned_model.npz").is_file() for k in range(3))
    assert result["metrics"]["test"]["n"] == len(pd.read_csv(f"{passage['target']}/index.csv"))
    recall = result["metrics"]["test"]["per_class_recall"]
    assert sorted(recall) == result["labels"] and np.mean(list(recall.values())) == pytest.approx(
        result["metrics"]["test"]["balanced_accuracy"])
    cache = Path(passage["target"]) / "alignments"
    assert cache.is_dir()                                   # every fold's alignments, beside the store
    shutil.rmtree(cache)
    executor = ProcessExecutor(1)                           # cold again, aligned in shards on the executor
    try:
        again = run_transfer(passage["target"], "aligned", tmp_path / "kfold2", folds=3, progress=False,
                             executor=executor)
    finally:
        executor.shutdown()
    assert cache.is_dir() and [f["test"] for f in again["fold_runs"]] == [f["test"] for f in result["fold_runs"]]
    with pytest.warns(UserWarning, match="not a same-passage corpus"):
        run_transfer(tiny_stores["target"], "aligned", tmp_path / "cv-like", progress=False)


def test_curve_includes_aligned_only_for_same_passage_targets(passage, tiny_stores, tmp_path):
    from accent.curve import default_modes, run_curve
    from accent.report import build_report

    assert "aligned" in default_modes(passage["target"])
    assert "aligned" not in default_modes(tiny_stores["target"])
    table = run_curve(passage["pretrain"], passage["target"], tmp_path / "curve", sizes=[3], seeds=[0],
                      modes=["baseline", "aligned"], jobs=1, progress=False)
    assert sorted(table["series"]) == ["aligned", "aligned-source", "baseline"]
    with_source = json.loads((tmp_path / "curve" / "aligned-source" / "n3" / "seed0" / "run.json").read_text())
    without = json.loads((tmp_path / "curve" / "aligned" / "n3" / "seed0" / "run.json").read_text())
    assert with_source["source"] == str(passage["pretrain"]) and without["source"] is None
    run_dir = tmp_path / "curve" / "aligned" / "n3" / "seed0"
    markdown = build_report([run_dir], tmp_path / "report", tmp_path / "curve", n_boot=10, embeddings=False,
                            progress=False).read_text()
    assert "Did pretraining on the same-passage source help?" in markdown and "Which mode to use: " in markdown
    assert "| 3 recordings per class | aligned-source | " in markdown   # the paired comparison behind the verdict
    assert "mode **aligned**" in markdown                       # the aligned run has its own section

