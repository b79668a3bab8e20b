"""Edges a new user meets on a small corpus: 1 or 2 recordings per class, a class of one speaker in
k-fold, and a k-fold run directory given to predict."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import make_passage_store, make_tiny_store
from accent import cli
from accent.curve import run_curve
from accent.errors import AccentError
from accent.inference import load_run
from accent.splits import speaker_kfold
from accent.transfer import run_transfer


def test_curve_sizes_of_one_and_two_per_class_run(tiny_stores, tmp_path, one_torch_thread):
    curve = run_curve(None, tiny_stores["target_big"], tmp_path / "curve", sizes=[1, 2], seeds=[0],
                      modes=["baseline", "scratch"], max_epochs=1, progress=False, jobs=1)
    assert sorted(zip(curve["mode"], curve["size"].astype(int), curve["n_train_recordings"].astype(int))) == [
        ("baseline", 1, 3), ("baseline", 2, 6), ("scratch", 1, 3), ("scratch", 2, 6)]


def test_aligned_curve_sizes_of_one_and_two_per_class_run(tmp_path):
    store = make_passage_store(tmp_path / "passage", 3, {"train": 6, "val": 2, "test": 3}, seed=5)
    curve = run_curve(None, store, tmp_path / "curve", sizes=[1, 2], seeds=[0], modes=["aligned"],
                      progress=False, jobs=1)
    assert sorted(curve["size"].astype(int)) == [1, 2] and curve["balanced_accuracy"].notna().all()


def _index(speakers_per_class: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label}{s}_{u}", f"{label}{s}", label) for label, n in speakers_per_class.items()
            for s in range(n) for u in range(2)]
    return pd.DataFrame(rows, columns=["utt_id", "speaker", "label"])


def test_a_class_of_one_speaker_in_kfold_names_the_class_and_the_option_that_drops_it():
    with pytest.raises(AccentError, match=r"class\(es\) b have a single speaker.*--min-speakers 2"):
        speaker_kfold(_index({"a": 6, "b": 1, "c": 5}), k=3)
    folds = speaker_kfold(_index({"a": 6, "b": 2, "c": 5}), k=3)
    assert folds.nunique() == 3


def test_kfold_with_two_speakers_in_a_class_trains_every_fold(tmp_path):
    store = make_tiny_store(tmp_path / "t", [0, 1, 2], {"train": 3, "val": 1, "test": 1}, seed=3, frames=(150, 300))
    index = pd.read_csv(tmp_path / "t" / "index.csv", keep_default_na=False)
    small = index["label"] == "accent2"   # its five recordings become two speakers' (3 + 2)
    index.loc[small, "speaker"] = ["pair0", "pair0", "pair0", "pair1", "pair1"]
    index.to_csv(tmp_path / "t" / "index.csv", index=False)
    result = run_transfer(store, "baseline", tmp_path / "cv", folds=3, progress=False)
    assert result["metrics"]["test"]["n"] == len(index)


def test_predict_on_a_kfold_run_says_it_keeps_no_model(tiny_stores, tmp_path, capsys):
    run_transfer(tiny_stores["target_big"], "baseline", tmp_path / "cv", folds=3, progress=False)
    with pytest.raises(AccentError, match="k-fold runs keep no model.*without --folds: `accent transfer "
                                          "--features .* --mode baseline --out RUNDIR`"):
        load_run(tmp_path / "cv")
    assert cli.main(["predict", "--model", str(tmp_path / "cv"), str(tmp_path / "any.wav")]) == 2
    assert "checkpoint.pt" not in capsys.readouterr().err


def test_curve_parts_beside_pretraining_give_the_runs_of_the_whole_curve(tiny_stores, tmp_path, one_torch_thread):
    """scripts/reproduce.sh trains the source-free modes while pretraining runs (``--part before-source``,
    no source read, the source's preset), the others after it; the whole curve then retrains nothing, and
    its scratch run is the one a curve with the source trains (same architecture, crop and seed)."""
    import json

    from accent.curve import BEFORE_SOURCE, NEEDS_SOURCE
    from accent.training.pretrain import pretrain
    from accent.transfer import run_transfer

    source, out = tmp_path / "pretrain", tmp_path / "curve"
    pretrain(tiny_stores["target"], source, max_epochs=1, progress=False)  # a small source: the test is the plumbing
    kwargs = {"sizes": [1], "seeds": [0], "modes": ["baseline", "scratch", "extract"], "max_epochs": 1,
              "jobs": 1, "progress": False}
    before = run_curve(None, tiny_stores["target_big"], out, part=BEFORE_SOURCE, preset="tdnn", **kwargs)
    assert sorted(before["series"]) == ["baseline", "scratch"]
    after = run_curve(source, tiny_stores["target_big"], out, part=NEEDS_SOURCE, **kwargs)
    assert list(after["series"]) == ["extract"]
    assert not (out / "curve.csv").exists() and (out / "curve-before-source.csv").is_file()  # parts run at once
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/run.json")}
    whole = run_curve(source, tiny_stores["target_big"], out, **kwargs)
    assert sorted(whole["series"]) == ["baseline", "extract", "scratch"]
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*/*/run.json")} == stamps  # nothing retrained
    reference = run_transfer(tiny_stores["target_big"], "scratch", tmp_path / "with_source", source=source,
                             per_class=1, seed=0, max_epochs=1, progress=False)
    scratch = json.loads((out / "scratch" / "n1" / "seed0" / "run.json").read_text())
    assert scratch["metrics"] == reference["metrics"] and scratch["source"] is None
    assert [h["train_loss"] for h in scratch["history"]] == [h["train_loss"] for h in reference["history"]]
