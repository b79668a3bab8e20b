"""Speakers where the corpus names none: voice clustering on real Common Voice clips with known speakers."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from accent.corpora import build_manifest
from accent.errors import AccentError
from accent.manifest import SPEAKER_INFERRED, recordings_with_inferred_speaker, summarize
from accent.speakers import cluster_voices, infer_speakers, pairwise_scores
from accent.training.rundir import dataset_summary

REPO = Path(__file__).resolve().parents[1]
KO = REPO.parent / "shared" / "real-samples" / "commonvoice-ko-newest"
# docs/benchmarks.md, "Speaker inference": at the default threshold these 29 clips of 18 speakers give
# pairwise precision 0.48 and recall 0.55; the floors leave room for decoder rounding, not for a regression
MIN_PRECISION, MIN_RECALL = 0.40, 0.50


def _ko_clips_with_client_id() -> pd.DataFrame:
    with open(KO / "validated.tsv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
                if (KO / "clips" / r["path"]).is_file()]
    return pd.DataFrame({"utt_id": [r["path"] for r in rows], "path": [str(KO / "clips" / r["path"]) for r in rows],
                         "true_speaker": [r["client_id"] for r in rows], "label": "ko",
                         "speaker": ["utt-" + r["path"] for r in rows]})


@pytest.mark.skipif(not (KO / "clips").is_dir(), reason="../shared/real-samples (real Common Voice clips) not available")
def test_inference_recovers_the_speakers_of_real_common_voice_clips():
    pytest.importorskip("resemblyzer", reason="the resemblyzer package (its weights) is not installed")
    clips = _ko_clips_with_client_id()
    assert len(clips) >= 20 and clips["true_speaker"].nunique() < len(clips)   # some speakers have several clips
    found = infer_speakers(clips)
    scores = pairwise_scores(found["true_speaker"], found["speaker"])
    assert scores["precision"] >= MIN_PRECISION and scores["recall"] >= MIN_RECALL, scores
    assert found[SPEAKER_INFERRED].all() and found["speaker"].str.startswith("inferred-ko-").all()


def _fake_voices(paths):
    """Each path's voice: files named v<k>_... share voice k (a unit vector per voice, a little noise)."""
    rng = np.random.default_rng(0)
    voices = np.eye(8)
    X = np.stack([voices[int(Path(p).name[1])] + rng.normal(0, 0.02, 8) for p in paths])
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_inferred_speakers_replace_only_unknown_ones_within_each_label(monkeypatch):
    df = pd.DataFrame({"utt_id": ["a", "b", "c", "d", "e"],
                       "path": ["v1_a.wav", "v1_b.wav", "v2_c.wav", "v1_d.wav", "v3_e.wav"],
                       "label": ["x", "x", "x", "y", "x"],
                       "speaker": ["utt-a", "utt-b", "utt-c", "utt-d", "named"]})
    out = infer_speakers(df, embed=_fake_voices)
    assert out["speaker"].tolist() == ["inferred-x-0", "inferred-x-0", "inferred-x-1", "inferred-y-0", "named"]
    assert out[SPEAKER_INFERRED].tolist() == [True, True, True, True, False]
    assert recordings_with_inferred_speaker(out) == 4
    with pytest.raises(AccentError, match="speaker-threshold"):
        infer_speakers(df, threshold=0, embed=_fake_voices)
    monkeypatch.setattr("accent.speakers.MAX_CLIPS_PER_LABEL", 2)
    with pytest.raises(AccentError, match="label 'x' has 3 clips without a speaker"):
        infer_speakers(df, embed=_fake_voices)


def test_summaries_and_reports_say_inferred(tmp_path):
    from accent.report.document import Document
    from accent.report.runs import RunRecord
    from accent.report.sections import dataset_section

    df = pd.DataFrame({"utt_id": [f"u{i}" for i in range(12)], "path": [f"v{i % 4}_{i}.wav" for i in range(12)],
                       "label": ["x", "y"] * 6, "speaker": [f"utt-u{i}" for i in range(12)], "split": ""})
    df = infer_speakers(df, embed=_fake_voices)
    df["split"] = np.where(df["speaker"].str.endswith("-0"), "train", "test")
    assert "speaker-disjoint splits: inferred (12 of 12" in summarize(df)
    summary = dataset_summary(df)
    assert summary["speaker_disjoint"] and summary["recordings_with_inferred_speaker"] == 12
    doc = Document("report")
    dataset_section(doc, [RunRecord("run", tmp_path, {"features": "F", "dataset": summary}, None)])
    assert "| inferred |" in doc.to_markdown()


def test_clusters_are_numbered_in_order_of_first_appearance():
    X = np.array([[0, 1.0], [1.0, 0], [0, 1.0], [1.0, 0.01]])
    assert cluster_voices(X, 0.1).tolist() == [0, 1, 0, 1]
    assert cluster_voices(X[:1]).tolist() == [0]


@pytest.mark.skipif(not (KO / "clips").is_dir(), reason="../shared/real-samples (real Common Voice clips) not available")
def test_manifest_infers_the_speakers_of_a_flat_folder(tmp_path):
    """`accent manifest --corpus folder --infer-speakers` on real clips linked into ROOT/<label>/."""
    pytest.importorskip("resemblyzer", reason="the resemblyzer package (its weights) is not installed")
    clips = _ko_clips_with_client_id()
    (tmp_path / "ko").mkdir()
    for path in clips["path"][:10]:
        (tmp_path / "ko" / Path(path).name).symlink_to(path)
    df, log = build_manifest("folder", tmp_path, infer_speakers=True)
    assert df[SPEAKER_INFERRED].all() and df["speaker"].str.startswith("inferred-ko-").all()
    assert df["speaker"].nunique() < len(df)
    assert any("--infer-speakers" in note for note in log.notes)
    assert not any("own speaker" in note for note in log.notes)   # the folder loader's remark no longer holds


@pytest.mark.skipif(not (KO / "clips").is_dir(), reason="../shared/real-samples (real Common Voice clips) not available")
def test_a_second_manifest_run_embeds_only_new_or_changed_clips(tmp_path, monkeypatch):
    """`accent manifest --infer-speakers` keeps the voice vectors in voices.npz beside the manifest:
    rerun (another threshold, as a user tuning it would) it embeds nothing, the speakers are the same
    at the same threshold, and a clip whose file changed is embedded again."""
    import os
    import shutil

    pytest.importorskip("resemblyzer", reason="the resemblyzer package (its weights) is not installed")
    from accent.backbones.resemblyzer import ResemblyzerBackbone
    from accent.cli import main
    from accent.manifest import read_manifest
    from accent.speakers import VOICES_FILE

    (tmp_path / "corpus" / "ko").mkdir(parents=True)
    for path in _ko_clips_with_client_id()["path"][:8]:
        shutil.copy(path, tmp_path / "corpus" / "ko" / Path(path).name)
    embedded = []
    original = ResemblyzerBackbone.embed_waveform
    monkeypatch.setattr(ResemblyzerBackbone, "embed_waveform",
                        lambda self, wave: embedded.append(len(wave)) or original(self, wave))
    out = tmp_path / "manifests" / "ko.csv"
    args = ["manifest", "--corpus", "folder", "--root", str(tmp_path / "corpus"), "--out", str(out), "--infer-speakers"]
    assert main(args) == 0 and len(embedded) == 8 and (out.parent / VOICES_FILE).is_file()
    first = read_manifest(out)
    assert main(args + ["--speaker-threshold", "0.2"]) == 0 and len(embedded) == 8    # nothing embedded again
    assert main(args) == 0 and len(embedded) == 8
    pd.testing.assert_series_equal(read_manifest(out)["speaker"], first["speaker"])
    changed = next((tmp_path / "corpus" / "ko").iterdir())
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert main(args) == 0 and len(embedded) == 9                                     # only the changed clip
