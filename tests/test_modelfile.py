"""`accent export` and model files: the round trip predicts exactly what the run does, and loading never unpickles."""
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from accent.cli import main
from accent.errors import AccentError
from accent.evaluate import evaluate_run
from accent.inference import load_run
from accent.modelfile import export_model, read_card
from accent.predict import predict_files
from accent.store import FeatureStore
from conftest import write_clip

MEMBERS = {"model.json", "weights.safetensors", "run.json", "README.md"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return [write_clip(folder / f"clip{k}.wav", seconds=1.0 + k, seed=k) for k in range(3)]


@pytest.mark.parametrize("kind,store", [("network", "source"), ("sklearn", "target"), ("extract", "target")])
def test_export_round_trip_gives_identical_predictions_without_pickle(kind, store, tiny_runs, tiny_stores, clips,
                                                                      tmp_path, monkeypatch):
    rundir = tiny_runs[kind]
    assert main(["export", "--model", str(rundir), "--out", str(tmp_path / "m.accent")]) == 0
    folder = export_model(rundir, tmp_path / "m_folder")
    with zipfile.ZipFile(tmp_path / "m.accent") as zf:
        assert set(zf.namelist()) == MEMBERS
        card = json.loads(zf.read("model.json"))["card"]
        readme = zf.read("README.md").decode()
    assert {p.name for p in folder.iterdir()} == MEMBERS
    run_json = json.loads((rundir / "run.json").read_text())
    assert card["classes"] == run_json["labels"]
    assert card["test"]["balanced_accuracy"] == run_json["metrics"]["test"]["balanced_accuracy"]
    lo, hi = card["test"]["interval"]
    assert 0 <= lo <= card["test"]["balanced_accuracy"] <= hi <= 1
    assert f"{card['test']['balanced_accuracy']:.3f}" in readme and all(c in readme for c in card["classes"])

    expected = predict_files(rundir, clips, k=2)
    assert all(len(r["top"]) == 2 for r in expected)
    frames = np.asarray(FeatureStore.open(tiny_stores[store]).frames(0), np.float32)
    reference = load_run(rundir).predict_logmel(frames)

    def refuse(*args, **kwargs):
        raise AssertionError("a model file must load without unpickling")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    for model in (tmp_path / "m.accent", folder):
        got = predict_files(model, clips, k=2)
        assert [[t["label"] for t in r["top"]] for r in got] == [[t["label"] for t in r["top"]] for r in expected]
        for r, e in zip(got, expected):  # float64 arrays come back C-contiguous: last-bit rounding at most
            assert r["probabilities"] == pytest.approx(e["probabilities"], rel=1e-12, abs=1e-15)
        run = load_run(model)
        assert run.labels == run_json["labels"] and run.mode == run_json["mode"]
        np.testing.assert_allclose(run.predict_logmel(frames), reference, rtol=1e-12, atol=1e-15)
        assert read_card(model) == {**card, "name": model.name}


@pytest.mark.parametrize("kind", ["sklearn", "extract"])
def test_evaluate_accepts_a_model_file(kind, tiny_runs, tiny_stores, tmp_path):
    model = export_model(tiny_runs[kind], tmp_path / f"{kind}.accent")
    from_file = evaluate_run(model, tiny_stores["target"], progress=False)
    from_run = evaluate_run(tiny_runs[kind], tiny_stores["target"], progress=False)
    assert from_file["metrics"] == from_run["metrics"] and from_file["intervals"] == from_run["intervals"]


def test_batched_logmels_match_one_recording_at_a_time(tiny_runs, tiny_stores):
    for kind, store in (("network", "source"), ("sklearn", "target"), ("extract", "target")):
        run = load_run(tiny_runs[kind])
        st = FeatureStore.open(tiny_stores[store])
        logmels = [np.asarray(st.frames(i), np.float32) for i in range(5)]
        single = np.stack([run.predict_logmel(x) for x in logmels])
        np.testing.assert_allclose(run.predict_logmels(logmels), single, atol=1e-5)


def test_damaged_or_foreign_model_files_are_refused_in_one_line(tiny_runs, tmp_path):
    good = export_model(tiny_runs["network"], tmp_path / "good.accent")
    truncated = tmp_path / "truncated.accent"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    not_zip = tmp_path / "text.accent"
    not_zip.write_text("hello")
    foreign = tmp_path / "foreign.accent"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("model.json", json.dumps({"format": "something-else"}))
    missing_tensor = tmp_path / "missing.accent"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(missing_tensor, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name) if name != "weights.safetensors" else b"\0" * 16)
    for bad in (truncated, not_zip, foreign, missing_tensor, tmp_path / "absent.accent"):
        with pytest.raises(AccentError) as exc:
            load_run(bad)
        assert str(bad) in str(exc.value) and "\n" not in str(exc.value)


def test_export_refuses_a_model_file_and_a_busy_folder(tiny_runs, tmp_path):
    model = export_model(tiny_runs["sklearn"], tmp_path / "m.accent")
    with pytest.raises(AccentError, match="already a model file"):
        export_model(model, tmp_path / "again.accent")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(AccentError, match="other files"):
        export_model(tiny_runs["sklearn"], busy)
    assert (busy / "notes.txt").read_text() == "mine"
