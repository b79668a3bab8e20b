"""Smoke test of the real-speech development protocol on a tiny subset of the shared SAA data."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
HAVE_SHARED = (SHARED / "real-dev" / "saa-8k").is_dir() and (SHARED / "real-samples" / "saa").is_dir()


def load_real_dev():
    spec = importlib.util.spec_from_file_location("real_dev", REPO / "benchmarks" / "real_dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_section_is_replaced_not_repeated(tmp_path):
    real_dev = load_real_dev()
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\ntext\n")
    real_dev.write_docs("## Real speech\n\nfirst\n", doc)
    real_dev.write_docs("## Real speech\n\nsecond\n", doc)
    text = doc.read_text()
    assert text.count(real_dev.DOC_START) == 1 and "second" in text and "first" not in text
    assert text.startswith("# Benchmarks\n\n## Other\n\ntext\n")


def test_methods_not_rerun_keep_their_earlier_rows(tmp_path):
    """A run of a few --methods extends the tables: earlier rows stay (at the sizes asked for) unless rerun now."""
    import argparse

    real_dev = load_real_dev()
    cell = {"scores": [0.5], "boot": [0.1], "seconds": [1.0]}
    earlier = {"within": {"a": {"scores": [0.1], "seconds": 1}, "b": {"scores": [0.2], "seconds": 1}},
               "transfer": {"old": {"5": cell, "10": cell}, "short": {"5": cell, "40": cell}, "other": {"40": cell},
                            "new": {"5": cell, "10": cell}}}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(earlier))
    now = {"new": {5: {**cell, "scores": [0.9]}, 10: cell}}
    within, trans = real_dev.with_earlier_rows(path, {"b": {"scores": [0.3], "seconds": 2}}, now,
                                               argparse.Namespace(sizes=(5, 10), limit=None))
    assert list(within) == ["a", "b"] and within["b"]["scores"] == [0.3]
    assert list(trans) == ["old", "short", "new"] and trans["new"][5]["scores"] == [0.9] and 10 in trans["old"]
    assert list(trans["short"]) == [5]  # a size not asked for is left out; one not measured shows as a dash
    table = real_dev.transfer_table(trans, (5, 10), (0,), 98, 6)
    assert "| short | 0.500 ± 0.000 [0.100] | – |" in table


@pytest.mark.skipif(not HAVE_SHARED, reason="shared real data not available")
def test_protocol_runs_on_a_tiny_subset(tmp_path, capsys):
    real_dev = load_real_dev()
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n")
    rc = real_dev.main(["--limit", "5", "--work", str(tmp_path / "work"), "--methods", "aligned,baseline",
                        "--sizes", "1,2", "--seeds", "0", "--folds", "2", "--references", "1", "--write-docs", "--docs", str(docs),
                        "--figure", str(tmp_path / "real_dev.png")])
    assert rc == 0
    results = json.loads((tmp_path / "work" / "results.json").read_text())
    within, transfer = results["within"], results["transfer"]
    assert any(name.startswith("aligned") for name in within) and any(name.startswith("baseline") for name in within)
    for row in within.values():
        assert len(row["scores"]) == 2 and all(0 <= s <= 1 for s in row["scores"])
    assert set(next(iter(transfer.values()))) == {"1", "2"}
    assert (tmp_path / "real_dev.png").stat().st_size > 0
    text = docs.read_text()
    assert "Within-corpus" in text and "| aligned (source references + source NAP) |" in text
    assert "Within-corpus" in capsys.readouterr().out


@pytest.mark.skipif(not HAVE_SHARED, reason="shared real data not available")
def test_source_recordings_that_are_target_ones_are_found(tmp_path):
    """real-samples/saa's arabic11 is saa-8k's arabic_011 (other rate, codec and pauses); arabic2 and
    arabic22 are nobody in saa-8k, and arabic_001 is nobody in real-samples."""
    from accent.corpora import build_manifest
    from accent.featurize import featurize
    from accent.store import FeatureStore

    real_dev = load_real_dev()
    samples, _ = build_manifest("saa", SHARED / "real-samples" / "saa")
    dev, _ = build_manifest("folder", SHARED / "real-dev" / "saa-8k")
    stores = []
    for name, manifest, keep in (("samples", samples, {"arabic11", "arabic2", "arabic22"}),
                                 ("dev", dev, {"arabic-arabic_011", "arabic-arabic_001"})):
        featurize(manifest[manifest["utt_id"].isin(keep)].reset_index(drop=True), tmp_path / name,
                  real_dev.FEATURES, workers=1, progress=False)
        stores.append(FeatureStore.open(tmp_path / name))
    assert real_dev.sample_duplicates(tmp_path, *stores) == ["arabic11"]


def test_late_fusion_and_the_done_when_line():
    """Fusion averages log-probabilities row by row (matched by utt_id, whatever the order); the
    done-when line compares the best row with Resemblyzer + LR and the sum of their fold stds."""
    import pandas as pd

    real_dev = load_real_dev()
    a = pd.DataFrame({"utt_id": ["x", "y"], "label": ["us", "indian"], "pred": ["us", "us"],
                      "p_indian": [0.1, 0.45], "p_us": [0.9, 0.55]})
    b = pd.DataFrame({"utt_id": ["y", "x"], "label": ["indian", "us"], "pred": ["indian", "indian"],
                      "p_indian": [0.9, 0.6], "p_us": [0.1, 0.4]})
    fused = real_dev.fused_folds([a], [b])[0]
    assert fused["pred"].tolist() == ["us", "indian"]
    assert real_dev.fold_scores([fused]) == {"bacc": [1.0], "acc": [1.0]}
    results = {"extract, Resemblyzer + LR": {"bacc": [0.30, 0.32]}, "phonetic": {"bacc": [0.50, 0.52]},
               "_store": {}}
    line = real_dev.done_when(results)
    assert "Best: phonetic, 0.510 (bar 0.45: reached)" in line and "+0.200" in line and ": reached." in line
    results["phonetic"] = {"bacc": [0.30, 0.50]}
    assert "+0.090" in real_dev.done_when(results) and real_dev.done_when(results).endswith("not reached.")
