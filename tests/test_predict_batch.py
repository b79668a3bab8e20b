"""`accent predict --out predictions.csv`: files, folders and manifests in one call, one row per file."""
import numpy as np
import pandas as pd
import pytest

import accent.inference as inference
from accent.cli import main
from accent.errors import AccentError
from accent.predict import collect_inputs, predict_files, predict_to_csv
from conftest import write_clip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A folder with nested clips and a broken file, a manifest with a relative path, a loose clip."""
    base = tmp_path_factory.mktemp("batch")
    folder = base / "folder"
    (folder / "sub").mkdir(parents=True)
    clips = [write_clip(folder / "a.wav", 1.2, seed=1), write_clip(folder / "sub" / "b.flac", 2.5, seed=2)]
    (folder / "notes.txt").write_text("not audio, not picked up")
    broken = folder / "broken.mp3"
    broken.write_bytes(b"not audio" * 50)
    short = write_clip(base / "short.wav", 0.2, seed=3)
    (base / "lists").mkdir()
    manifest = base / "lists" / "m.csv"
    write_clip(base / "lists" / "c.wav", 3.0, seed=4)
    pd.DataFrame({"path": ["c.wav", str(clips[0])], "label": ["x", "y"]}).to_csv(manifest, index=False)
    return {"folder": folder, "manifest": manifest, "short": short, "broken": broken, "clips": clips,
            "expected_paths": [str(folder / "a.wav"), str(broken), str(folder / "sub" / "b.flac"),
                               str(base / "lists" / "c.wav"), str(clips[0]), str(short)]}


def test_collect_inputs_expands_folders_and_manifests(inputs):
    assert collect_inputs([inputs["folder"], inputs["manifest"], inputs["short"]]) == inputs["expected_paths"]
    with pytest.raises(AccentError, match="no 'path' column"):
        bad = inputs["manifest"].with_name("bad.csv")
        bad.write_text("file,label\na.wav,x\n")
        collect_inputs([bad])


@pytest.mark.parametrize("kind", ["network", "sklearn"])
def test_batch_rows_match_single_file_prediction(kind, inputs, tiny_runs, tmp_path, monkeypatch):
    loads = []
    real_load = inference.load_run
    monkeypatch.setattr(inference, "load_run", lambda path: loads.append(path) or real_load(path))
    out = tmp_path / "predictions.csv"
    table = predict_to_csv(tiny_runs[kind], [inputs["folder"], inputs["manifest"], inputs["short"]], out, k=2,
                           progress=False)
    assert len(loads) == 1                                       # one model load for the whole batch
    written = pd.read_csv(out).fillna({"error": ""})
    assert list(written.columns) == ["path", "label_1", "probability_1", "label_2", "probability_2", "error"]
    assert written["path"].tolist() == inputs["expected_paths"]
    errors = dict(zip(written["path"], written["error"]))
    assert "cannot decode" in errors[str(inputs["broken"])] and "too short" in errors[str(inputs["short"])]
    ok = written[written["error"] == ""]
    assert len(ok) == 4 and (ok["probability_1"] >= ok["probability_2"]).all()
    for _, row in ok.iterrows():                                 # the same answer as one file at a time
        (single,) = real_predict(tiny_runs[kind], row["path"])
        assert [row["label_1"], row["label_2"]] == [t["label"] for t in single["top"]]
        np.testing.assert_allclose([row["probability_1"], row["probability_2"]],
                                   [t["probability"] for t in single["top"]], atol=1e-5)
    assert table["path"].tolist() == written["path"].tolist() and table["error"].tolist() == written["error"].tolist()


def real_predict(model, path):
    return predict_files(model, [path], k=2)


def test_workers_and_small_batches_give_the_same_rows(inputs, tiny_runs, tmp_path, monkeypatch):
    import accent.predict as predict_mod

    paths = [inputs["folder"], inputs["manifest"]]
    one = predict_to_csv(tiny_runs["network"], paths, tmp_path / "one.csv", progress=False)
    monkeypatch.setattr(predict_mod, "BATCH_FILES", 2)
    two = predict_to_csv(tiny_runs["network"], paths, tmp_path / "two.csv", workers=2, progress=False)
    assert one["path"].tolist() == two["path"].tolist() and one["error"].tolist() == two["error"].tolist()
    np.testing.assert_allclose(one["probability_1"].to_numpy(float), two["probability_1"].to_numpy(float),
                               atol=1e-5, equal_nan=True)


def test_cli_writes_the_csv_and_exits_1_when_a_file_failed(inputs, tiny_runs, tmp_path, capsys):
    out = tmp_path / "p.csv"
    status = main(["predict", "--model", str(tiny_runs["network"]), "--out", str(out), "--quiet",
                   str(inputs["folder"])])
    captured = capsys.readouterr()
    assert status == 1 and "broken.mp3" in captured.err and "2 of 3 file(s) scored" in captured.out
    assert len(pd.read_csv(out)) == 3
    assert main(["predict", "--model", str(tiny_runs["network"]), "--out", str(out), "--quiet",
                 *map(str, inputs["clips"])]) == 0
    assert main(["predict", "--model", str(tiny_runs["network"]), "--out", str(out),
                 str(tmp_path / "empty_dir_missing" / "x.wav"), "--workers", "0"]) == 2
