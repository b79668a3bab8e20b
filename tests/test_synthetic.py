"""The synthetic corpus: real layouts, decodable audio, determinism, distinct voices, resumability."""
from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent.audio import load_audio
from accent import sysdeps
from accent.corpora import synthetic
from accent.errors import AccentError
from accent.resources import resource_path

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                reason="espeak-ng and sox are needed (scripts/setup.sh)")

SAA_SUBSET = ["english", "hindi", "french"]
CV_SUBSET = ["us", "indian", "scotland"]


def _saa(root, **kw):
    return synthetic.generate_corpus("saa", root, speakers_per_accent=kw.pop("n", 1), accents=SAA_SUBSET,
                                     workers=kw.pop("workers", 2), **kw)


def _cv(root, **kw):
    return synthetic.generate_corpus("cv", root, speakers_per_accent=kw.pop("n", 2), accents=CV_SUBSET,
                                     workers=kw.pop("workers", 2), **kw)


@pytest.fixture(scope="module")
def saa_root(tmp_path_factory):
    return _saa(tmp_path_factory.mktemp("saa"))


@pytest.fixture(scope="module")
def cv_root(tmp_path_factory):
    return _cv(tmp_path_factory.mktemp("cv"))


def test_saa_layout_matches_the_real_archive(saa_root):
    with open(saa_root / "speakers_all.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["age", "age_onset", "birthplace", "filename", "native_language", "sex", "speakerid",
                      "country", "file_missing?", "", "", ""]
    meta = pd.read_csv(saa_root / "speakers_all.csv", dtype=str, keep_default_na=False)
    assert sorted(meta["native_language"]) == sorted(SAA_SUBSET)
    assert (meta["file_missing?"] == "FALSE").all()
    assert set(meta["filename"]) == {f"{lang}1" for lang in SAA_SUBSET}
    for name in meta["filename"]:
        wave = load_audio(saa_root / "recordings" / f"{name}.mp3", 16000)
        assert 15 < len(wave) / 16000 < 40, "the Stella passage takes about 20-30 s"
        assert np.abs(wave).max() > 0.01


def test_cv_layout_matches_the_newest_common_voice(cv_root):
    with open(cv_root / "validated.tsv", newline="") as fh:
        header = fh.readline().rstrip("\n").split("\t")
    assert header == ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes",
                      "down_votes", "age", "gender", "accents", "variant", "locale", "segment"]
    meta = pd.read_csv(cv_root / "validated.tsv", sep="\t", quoting=csv.QUOTE_NONE, dtype=str,
                       keep_default_na=False)
    assert meta["client_id"].nunique() == 2 * len(CV_SUBSET)
    assert meta.groupby("client_id").size().between(*synthetic.CV_CLIPS_PER_SPEAKER).all()
    assert (meta["up_votes"].astype(int) >= meta["down_votes"].astype(int)).all()
    assert meta["path"].str.fullmatch(r"common_voice_en_\d+\.mp3").all() and meta["path"].is_unique
    assert set(meta["accents"]) == {synthetic.CV_ACCENTS[a].cv_accent for a in CV_SUBSET}
    assert set(meta["sentence"]) <= set(synthetic.read_sentences())
    durations = [len(load_audio(cv_root / "clips" / p, 16000)) / 16000 for p in meta["path"]]
    assert min(durations) > 1.5 and max(durations) < 9


def test_cv_accents_map_through_the_default_bucket_table():
    table = resource_path("cv_accent_buckets.csv")
    buckets = pd.read_csv(table, comment="#", dtype=str)
    known = {k.lower(): v for k, v in zip(buckets.iloc[:, 0], buckets.iloc[:, 1])}
    assert {name: known.get(a.cv_accent.lower()) for name, a in synthetic.CV_ACCENTS.items()} == {
        name: name for name in synthetic.CV_ACCENTS}


def test_same_seed_same_corpus_other_seed_other_voices(tmp_path, saa_root):
    again = _saa(tmp_path / "again", workers=1)
    assert (again / "speakers_all.csv").read_bytes() == (saa_root / "speakers_all.csv").read_bytes()
    for mp3 in sorted((saa_root / "recordings").glob("*.mp3")):
        a = load_audio(mp3, 16000)
        b = load_audio(again / "recordings" / mp3.name, 16000)
        assert np.array_equal(a, b), mp3.name
    _, rows_seed0 = synthetic.plan_saa(saa_root, {a: 1 for a in SAA_SUBSET}, seed=0)
    _, rows_seed1 = synthetic.plan_saa(saa_root, {a: 1 for a in SAA_SUBSET}, seed=1)
    assert rows_seed0 != rows_seed1


def test_every_speaker_has_a_distinct_voice():
    clips, rows = synthetic.plan_cv(synthetic.Path("/nonexistent"), {a: 20 for a in CV_SUBSET}, seed=0)
    pairs = {(row[0], clip.voice) for clip, row in zip(clips, rows)}
    assert len({client for client, _ in pairs}) == len(pairs) == 60, "one voice per speaker, kept for all clips"
    audible = {(v.variant, v.pitch, v.speed, v.tract) for _, v in pairs}
    assert len(audible) == 60, "no two speakers share variant, pitch, speed and vocal tract"


def test_voice_parameters_do_not_depend_on_the_accent():
    """Variant, pitch, speed and channel are drawn from one distribution whatever the accent."""
    clips, _ = synthetic.plan_saa(synthetic.Path("/nonexistent"), {"english": 150, "hindi": 150}, seed=0)
    by_accent = {acc: [c.voice for c in clips if f"/{acc}" in c.path] for acc in ("english", "hindi")}
    for field in ("speed", "pitch", "snr_db", "tract", "lowpass_hz"):
        means = [np.mean([getattr(v, field) for v in voices]) for voices in by_accent.values()]
        spread = np.std([getattr(v, field) for v in by_accent["english"]])
        assert abs(means[0] - means[1]) < 0.35 * spread, field


def test_rerun_skips_existing_clips_and_refuses_other_parameters(tmp_path):
    root = _cv(tmp_path / "cv", n=1)
    clips = sorted((root / "clips").glob("*.mp3"))
    removed = clips[0]
    removed.unlink()
    (root / synthetic.PARAMS_FILE).write_text((root / synthetic.PARAMS_FILE).read_text().replace(
        '"complete": true', '"complete": false'))
    before = {p: p.stat().st_mtime_ns for p in clips[1:]}
    _cv(root, n=1)
    assert removed.is_file()
    assert {p: p.stat().st_mtime_ns for p in clips[1:]} == before
    assert not list((root / "clips").glob("*.tmp"))
    with pytest.raises(AccentError, match="other parameters"):
        _cv(root, n=1, seed=5)


def test_finished_corpus_is_left_alone(saa_root):
    meta = saa_root / "speakers_all.csv"
    stamp = meta.stat().st_mtime_ns
    _saa(saa_root)
    assert meta.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("language,voice", [("hindi", "hi"), ("russian", "ru"), ("arabic", "ar")])
def test_l1_phoneme_tables_cover_every_english_phoneme(language, voice):
    """espeak-ng drops phonemes a voice lacks: the rewritten passage must survive nearly whole."""
    clauses = synthetic.english_phonemes(synthetic.STELLA_PASSAGE)
    n_in = sum(len(c.split()) for c in clauses)
    spoken = subprocess.run(["espeak-ng", "-q", "-x", "--sep= ", "-v", voice,
                             synthetic.espeak_input(synthetic.STELLA_PASSAGE, language)],
                            capture_output=True, text=True, check=True).stdout
    assert len(spoken.split()) >= 0.95 * n_in


def test_bad_arguments_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(AccentError, match="unknown saa accent"):
        synthetic.generate_corpus("saa", tmp_path, accents=["klingon"])
    with pytest.raises(AccentError, match="layout"):
        synthetic.generate_corpus("timit", tmp_path)
    monkeypatch.setattr(sysdeps, "which", lambda tool, path=None: None if tool == "sox" else shutil.which(tool))
    with pytest.raises(AccentError, match="sox: not found: install with `sudo apt-get install -y sox libsox-fmt-mp3`"):
        synthetic.generate_corpus("cv", tmp_path)
    assert not (tmp_path / "clips").exists()


def test_synth_without_the_sox_mp3_plugin_encodes_with_libsndfile(sox_without_mp3, tmp_path):
    assert not sysdeps.sox_writes_mp3()  # the fake sox really lacks mp3
    root = synthetic.generate_corpus("cv", tmp_path / "cv", speakers_per_accent=1, accents=["us", "indian"],
                                     workers=1)
    params = json.loads((root / "synth.json").read_text())
    assert params["complete"] and params["mp3_encoder"] == "soundfile"
    meta = pd.read_csv(root / "validated.tsv", sep="\t", quoting=csv.QUOTE_NONE)
    assert len(meta) == params["n_clips"] >= 6
    for name in meta["path"]:
        info = sf.info(str(root / "clips" / name))
        assert info.format == "MP3" and info.samplerate in (16000, 22050)
        assert np.abs(load_audio(root / "clips" / name, 16000)).max() > 0.01


def test_synth_fails_before_generating_when_no_encoder_writes_mp3(sox_without_mp3, tmp_path, monkeypatch):
    monkeypatch.setattr(sysdeps, "soundfile_writes_mp3", lambda: False)
    with pytest.raises(AccentError, match="sox has no mp3 handler.*apt-get install -y libsox-fmt-mp3"):
        synthetic.generate_corpus("cv", tmp_path / "cv", speakers_per_accent=1, accents=["us"])
    assert not (tmp_path / "cv").exists()


@pytest.mark.skipif(importlib.util.find_spec("accent.corpora") is None, reason="loaders not written yet")
def test_the_real_corpus_loaders_read_it_without_drops(saa_root, cv_root):
    corpora = pytest.importorskip("accent.corpora")
    if not hasattr(corpora, "build_manifest"):
        pytest.skip("accent.corpora.build_manifest not written yet")
    saa, saa_log = corpora.build_manifest("saa", saa_root)
    assert len(saa) == len(SAA_SUBSET) and sum(saa_log.dropped.values()) == 0
    cv, cv_log = corpora.build_manifest("commonvoice", cv_root)
    assert len(cv) == len(pd.read_csv(cv_root / "validated.tsv", sep="\t", quoting=csv.QUOTE_NONE))
    assert sum(cv_log.dropped.values()) == 0
    assert set(cv["label"]) == set(CV_SUBSET)
