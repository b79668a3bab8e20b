"""`accent featurize` / `accent merge` and the feature store, on small clips made with espeak-ng."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent import cli
from accent.audio import load_audio, resample
from accent.errors import AccentError
from accent.features import log_mel, preprocess
from accent.featurize import featurize, merge
from accent.manifest import read_manifest
from accent.store import FeatureStore

REPO = Path(__file__).resolve().parents[1]
REAL_SAA = Path(__file__).resolve().parents[2] / "shared" / "real-samples" / "saa" / "recordings"
SENTENCES = ["Please call Stella and ask her to bring these things.",
             "Six spoons of fresh snow peas, five thick slabs of blue cheese.",
             "We also need a small plastic snake and a big toy frog."]
FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
RATES = [8000, 16000, 22050, 44100, 48000]
F16_TOL = 0.02  # float16 keeps ~3 significant digits; log-mels are within about +-20


def _espeak(text: str, path: Path) -> tuple[np.ndarray, int]:
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    wave, sr = sf.read(path, dtype="float32")
    return wave, sr


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Three spoken sentences, each in every format at a different rate, some stereo."""
    root = tmp_path_factory.mktemp("clips")
    out = {}
    for k, text in enumerate(SENTENCES):
        wave, sr = _espeak(text, root / f"base{k}.wav")
        for j, (ext, fmt) in enumerate(FORMATS.items()):
            rate = RATES[(k + j) % len(RATES)]
            y = resample(wave, sr, rate)
            if (k + j) % 2:  # stereo: a louder left and a quieter right channel
                y = np.stack([y, 0.5 * y], axis=1)
            path = root / f"s{k}_{rate}.{ext}"
            sf.write(path, y, rate, format=fmt)
            out[f"s{k}_{ext}"] = path
    return out


def _manifest(tmp_path: Path, paths: list[Path], name: str = "manifest.csv", splits=None, ids=None) -> pd.DataFrame:
    splits = splits or ["train", "val", "test", "train"]
    rows = [{"utt_id": ids[i] if ids else f"u{i:04d}", "path": str(p), "speaker": f"spk{i % 5}",
             "label": ["english", "french"][i % 2], "split": splits[i % len(splits)], "duration_s": "",
             "text": "a, \"quoted\" text", "corpus": "test", "age": str(20 + i)}
            for i, p in enumerate(paths)]
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return read_manifest(path)


def _same_store(a: Path, b: Path) -> None:
    assert (a / "frames.f16").read_bytes() == (b / "frames.f16").read_bytes()
    assert (a / "index.csv").read_bytes() == (b / "index.csv").read_bytes()
    assert (a / "errors.csv").read_bytes() == (b / "errors.csv").read_bytes()
    sa, sb = FeatureStore.open(a), FeatureStore.open(b)
    assert np.array_equal(sa.mean, sb.mean) and np.array_equal(sa.std, sb.std)


def test_every_format_rate_and_channel_count_matches_direct_computation(tmp_path, clips):
    paths = sorted(clips.values())
    result = featurize(_manifest(tmp_path, paths), tmp_path / "feat", workers=2, progress=False)
    store = FeatureStore.open(tmp_path / "feat")
    assert result.meta["n_errors"] == 0 and len(store) == len(paths)
    cfg = store.config
    for i, row in store.index.iterrows():
        direct = log_mel(preprocess(load_audio(row["path"], cfg.sample_rate, cfg.resampler), cfg), cfg)
        stored = store.frames(i)
        assert stored.dtype == np.float16 and stored.shape == direct.shape == (row["n_frames"], 64)
        np.testing.assert_allclose(stored.astype(np.float32), direct, atol=F16_TOL, rtol=F16_TOL)
        info = sf.info(row["path"])
        assert abs(row["duration_s"] - info.frames / info.samplerate) < 0.1
    # the same sentence gives nearly the same features whatever the format, rate and channels
    # (mp3 and 8 kHz lose detail, so compare only the total frame count loosely)
    same_sentence = store.index[store.index["path"].str.contains("/s0_")]
    assert same_sentence["n_frames"].max() - same_sentence["n_frames"].min() <= 10
    assert store.index["age"].tolist() == [str(20 + i) for i in range(len(paths))]
    assert (store.index["text"] == 'a, "quoted" text').all()


def test_configurable_rate_and_mels(tmp_path, clips):
    config = tmp_path / "feat8k.json"
    config.write_text(json.dumps({"sample_rate": 8000, "n_mels": 40, "f_max": 3800}))
    manifest = tmp_path / "m.csv"
    _manifest(tmp_path, [clips["s0_flac"], clips["s1_mp3"]], name="m.csv")
    assert cli.main(["featurize", "--manifest", str(manifest), "--out", str(tmp_path / "f8"),
                     "--config", str(config), "--workers", "1", "--quiet"]) == 0
    store = FeatureStore.open(tmp_path / "f8")
    assert store.config.sample_rate == 8000 and store.frames(0).shape[1] == 40
    assert store.mean.shape == store.std.shape == (40,)


@pytest.mark.skipif(not REAL_SAA.is_dir(), reason="shared real samples not available")
def test_real_speech_accent_archive_mp3s(tmp_path):
    paths = sorted(REAL_SAA.glob("*.mp3"))[:3]
    featurize(_manifest(tmp_path, paths), tmp_path / "feat", workers=2, progress=False)
    store = FeatureStore.open(tmp_path / "feat")
    assert len(store) == 3
    for i, row in store.index.iterrows():
        assert 10 < row["duration_s"] < 120  # the SAA paragraph takes 20-40 s to read
        assert store.frames(i).shape[0] > 5 * 100
        assert np.isfinite(store.frames(i).astype(np.float32)).all()


def test_bad_clips_are_listed_in_errors_csv_and_skipped(tmp_path, clips, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.mp3").write_bytes(b"\xff\xfb not really an mp3 " * 50)
    (bad / "empty.wav").write_bytes(b"")
    sf.write(bad / "short.wav", 0.3 * np.sin(np.arange(3200) / 5.0).astype(np.float32), 16000)  # 0.2 s
    sf.write(bad / "silent.flac", np.zeros(32000, np.float32), 16000)
    names = ["corrupt.mp3", "empty.wav", "short.wav", "silent.flac"]
    _manifest(tmp_path, [clips["s0_wav"]] + [bad / n for n in names] + [bad / "missing.wav"])
    assert cli.main(["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "feat"),
                     "--workers", "2", "--quiet"]) == 0
    assert "5 skipped" in capsys.readouterr().out
    errors = pd.read_csv(tmp_path / "feat" / "errors.csv").set_index("path")["reason"]
    assert len(errors) == 5
    assert "cannot decode" in errors[str(bad / "corrupt.mp3")]
    assert "empty" in errors[str(bad / "empty.wav")]
    assert "too short" in errors[str(bad / "short.wav")]
    assert "silent" in errors[str(bad / "silent.flac")]
    assert "not found" in errors[str(bad / "missing.wav")]
    assert FeatureStore.open(tmp_path / "feat").index["path"].tolist() == [str(clips["s0_wav"])]


def test_nothing_featurized_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty.wav").write_bytes(b"")
    _manifest(tmp_path, [tmp_path / "empty.wav"])
    code = cli.main(["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "feat"),
                     "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "nothing featurized" in err and "errors.csv" in err and "\n" not in err
    assert cli.main(["featurize", "--out", str(tmp_path / "feat2")]) == 2
    assert "--manifest" in capsys.readouterr().err


def test_open_missing_or_incomplete_store_says_run_featurize(tmp_path, clips):
    with pytest.raises(AccentError, match=r"nowhere.*accent featurize"):
        FeatureStore.open(tmp_path / "nowhere")
    featurize(_manifest(tmp_path, [clips["s0_wav"]]), tmp_path / "feat", workers=1, progress=False)
    meta = json.loads((tmp_path / "feat" / "store.json").read_text())
    (tmp_path / "feat" / "store.json").write_text(json.dumps({**meta, "complete": False}))
    with pytest.raises(AccentError, match=r"feat is incomplete.*accent featurize"):
        FeatureStore.open(tmp_path / "feat")


def test_crops_have_the_right_shape_and_come_from_their_clip(tmp_path, clips):
    featurize(_manifest(tmp_path, [clips["s0_wav"], clips["s1_flac"]]), tmp_path / "feat", workers=1, progress=False)
    store = FeatureStore.open(tmp_path / "feat")
    rng = np.random.default_rng(0)
    for i in range(len(store)):
        frames = store.frames(i).astype(np.float32)
        length = len(frames)
        for n in (50, length + 37, 3 * length):  # shorter than the clip, a bit longer, much longer
            crop = store.crop(i, n, rng)
            assert crop.shape == (n, store.n_mels) and crop.dtype == np.float32
            candidates = np.flatnonzero((frames == crop[0]).all(axis=1))
            assert any(np.array_equal(crop, frames[(s + np.arange(n)) % length]) for s in candidates)
    starts = {tuple(store.crop(0, 20, rng)[0]) for _ in range(30)}
    assert len(starts) > 5  # crops start at random places


def test_stats_use_train_rows_only(tmp_path, clips):
    paths = sorted(clips.values())
    featurize(_manifest(tmp_path, paths, splits=["train", "test", "val"]), tmp_path / "feat", workers=2, progress=False)
    store = FeatureStore.open(tmp_path / "feat")
    train = np.concatenate([store.frames(i) for i in np.flatnonzero(store.index["split"] == "train")]).astype(np.float64)
    everything = np.concatenate([store.frames(i) for i in range(len(store))]).astype(np.float64)
    np.testing.assert_allclose(store.mean, train.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(store.std, train.std(0), rtol=1e-4, atol=1e-5)
    assert np.abs(store.mean - everything.mean(0)).max() > 1e-3
    assert store.meta["stats_rows"] == "train"

    featurize(_manifest(tmp_path, paths[:2], name="m2.csv", splits=["test"]), tmp_path / "nt", workers=1, progress=False)
    no_train = FeatureStore.open(tmp_path / "nt")
    assert no_train.meta["stats_rows"] == "all" and "no train rows" in no_train.meta["stats_note"]


def test_rerun_does_nothing_and_a_new_split_reuses_frames(tmp_path, clips):
    paths = [clips["s0_wav"], clips["s1_ogg"], clips["s2_mp3"]]
    out = tmp_path / "feat"
    first = featurize(_manifest(tmp_path, paths), out, workers=1, progress=False)
    frames_before = (out / "frames.f16").read_bytes()
    again = featurize(_manifest(tmp_path, paths), out, workers=1, progress=False)
    assert again.up_to_date and "nothing to do" in again.summary() and first.n_new == 3
    resplit = featurize(_manifest(tmp_path, paths, splits=["test"]), out, workers=1, progress=False)
    assert resplit.n_new == 0 and resplit.n_reused == 3
    assert (out / "frames.f16").read_bytes() == frames_before
    assert (FeatureStore.open(out).index["split"] == "test").all()
    grown = featurize(_manifest(tmp_path, paths + [clips["s2_flac"]]), out, workers=1, progress=False)
    assert grown.n_new == 1 and len(FeatureStore.open(out)) == 4


def test_changed_config_is_refused_never_mixed(tmp_path, clips, capsys):
    _manifest(tmp_path, [clips["s0_wav"]])
    args = ["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "feat"), "--quiet"]
    assert cli.main(args) == 0
    before = (tmp_path / "feat" / "frames.f16").read_bytes()
    (tmp_path / "c.json").write_text('{"n_mels": 40}')
    capsys.readouterr()
    assert cli.main(args + ["--config", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "another config" in err and "new --out" in err and "\n" not in err
    assert (tmp_path / "feat" / "frames.f16").read_bytes() == before


def test_shards_merged_equal_a_single_run(tmp_path, clips):
    paths = sorted(clips.values()) + [tmp_path / "missing.wav"]
    manifest = _manifest(tmp_path, paths)
    featurize(manifest, tmp_path / "single", workers=2, progress=False)
    for i in range(3):
        assert cli.main(["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / f"sh{i}"),
                         "--shard", f"{i}/3", "--workers", "1", "--quiet"]) == 0
    assert [len(FeatureStore.open(tmp_path / f"sh{i}")) for i in range(3)] != [len(paths)] * 3
    with pytest.raises(AccentError, match="shard.*1/3.*missing"):
        merge([tmp_path / "sh2", tmp_path / "sh0"], tmp_path / "bad")
    assert cli.main(["merge", "--shards", *(str(tmp_path / f"sh{i}") for i in (2, 0, 1)),
                     "--out", str(tmp_path / "merged")]) == 0
    _same_store(tmp_path / "single", tmp_path / "merged")
    # the merged store knows its clips: featurizing the full manifest into it has nothing to do
    assert featurize(manifest, tmp_path / "merged", workers=1, progress=False).up_to_date


def _start_featurize(manifest: Path, out: Path) -> subprocess.Popen:
    """featurize in a child process that commits every two clips, so a kill lands mid-run."""
    code = ("import sys; import accent.featurize as F; from accent.manifest import read_manifest; "
            "F.COMMIT_EVERY_CLIPS = 2; F.featurize(read_manifest(sys.argv[1]), sys.argv[2], workers=1, progress=False)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, str(manifest), str(out)], cwd=REPO, env=env,
                            stderr=subprocess.DEVNULL)


def test_resume_after_kill_9_gives_the_same_store(tmp_path, clips):
    sources = [clips["s0_mp3"], clips["s1_wav"], clips["s2_ogg"], tmp_path / "gone.wav"]
    n_rows = 200
    paths = [sources[i % len(sources)] for i in range(n_rows)]
    manifest = _manifest(tmp_path, paths)
    featurize(manifest, tmp_path / "whole", workers=2, progress=False)

    out = tmp_path / "killed"
    proc = _start_featurize(tmp_path / "manifest.csv", out)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.read_bytes().count(b"\n") < 20):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = journal.read_bytes().count(b"\n")
    assert 20 <= done < n_rows, "the child should have been killed partway"
    assert not json.loads((out / "store.json").read_text())["complete"]
    with pytest.raises(AccentError, match="incomplete"):
        FeatureStore.open(out)

    resumed = featurize(manifest, out, workers=2, progress=False)
    assert resumed.n_reused >= done and resumed.n_new == n_rows - resumed.n_reused
    _same_store(tmp_path / "whole", out)


def test_resume_discards_a_torn_journal_line_and_unjournaled_frames(tmp_path, clips):
    paths = [clips["s0_wav"], clips["s1_flac"], clips["s2_mp3"]]
    manifest = _manifest(tmp_path, paths)
    featurize(manifest, tmp_path / "whole", workers=1, progress=False)
    out = tmp_path / "torn"
    shutil.copytree(tmp_path / "whole", out)
    lines = (out / "journal.jsonl").read_bytes().splitlines(keepends=True)
    (out / "journal.jsonl").write_bytes(lines[0] + lines[1][:15])  # crash while writing line 2
    with open(out / "frames.f16", "ab") as fh:
        fh.write(b"\x00\x3c" * 999)  # frames written after the last commit
    meta = json.loads((out / "store.json").read_text())
    (out / "store.json").write_text(json.dumps({**meta, "complete": False}))
    resumed = featurize(manifest, out, workers=1, progress=False)
    assert resumed.n_reused == 1 and resumed.n_new == 2
    _same_store(tmp_path / "whole", out)


def test_numpy_trim_matches_librosa(clips):
    """features.trim_silence re-implements librosa.effects.trim so workers need not import librosa."""
    import librosa

    from accent.features import trim_silence

    rng = np.random.default_rng(1)
    quiet_then_speech = np.concatenate([1e-4 * rng.standard_normal(5000), load_audio(clips["s1_wav"]),
                                        np.zeros(3000)]).astype(np.float32)
    for wave in (load_audio(clips["s0_mp3"]), quiet_then_speech):
        for top_db, frame, hop in ((30, 800, 160), (20, 400, 80), (60, 2048, 512)):
            start, end = librosa.effects.trim(wave, top_db=top_db, frame_length=frame, hop_length=hop)[1]
            np.testing.assert_array_equal(trim_silence(wave, top_db, frame, hop), wave[start:end])
    assert 0 < len(trim_silence(quiet_then_speech, 30, 800, 160)) < len(quiet_then_speech) - 8000


def test_corpus_option_takes_the_manifest_options(tmp_path, clips, capsys):
    """`featurize --corpus folder --root R` reads the corpus like `accent manifest` would, options included."""
    root = tmp_path / "corpus"
    for label, keys in {"us": ["s0_wav", "s1_flac", "s2_ogg"], "indian": ["s0_mp3", "s1_wav"]}.items():
        (root / label).mkdir(parents=True)
        for key in keys:
            shutil.copy(clips[key], root / label / clips[key].name)
    out = tmp_path / "feat"
    assert cli.main(["featurize", "--corpus", "folder", "--root", str(root), "--classes", "us",
                 "--out", str(out), "--workers", "1", "--quiet"]) == 0
    index = FeatureStore.open(out).index
    assert set(index["label"]) == {"us"} and len(index) == 3
    assert "dropped      2  class not in --classes" in capsys.readouterr().out


# -- batched log-mels (--device) -------------------------------------------------------------------

def test_batched_log_mels_on_the_cpu_give_the_same_store(tmp_path, clips):
    """--device cpu runs the GPU code path (workers decode, this process batches the log-mels)."""
    import accent.featurize as F

    paths = sorted(clips.values()) + [tmp_path / "missing.wav"]
    manifest = _manifest(tmp_path, paths)
    featurize(manifest, tmp_path / "default", workers=2, progress=False)
    # small batches, so clips of different lengths share a padded batch and batches close mid-run
    original = F.BATCH_SAMPLES
    F.BATCH_SAMPLES = 16000 * 8
    try:
        featurize(manifest, tmp_path / "batched", workers=2, progress=False, device="cpu")
    finally:
        F.BATCH_SAMPLES = original
    _same_store(tmp_path / "default", tmp_path / "batched")
    assert cli.main(["featurize", "--manifest", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "x"),
                     "--device", "tpu", "--quiet"]) == 2


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_log_mels_on_cuda_match_the_cpu_within_float16(tmp_path, clips):
    manifest = _manifest(tmp_path, sorted(clips.values()))
    featurize(manifest, tmp_path / "cpu", workers=2, progress=False)
    featurize(manifest, tmp_path / "cuda", workers=2, progress=False, device="cuda")
    a, b = FeatureStore.open(tmp_path / "cpu"), FeatureStore.open(tmp_path / "cuda")
    assert a.index["n_frames"].tolist() == b.index["n_frames"].tolist()
    for i in range(len(a)):
        np.testing.assert_allclose(np.asarray(b.frames(i), np.float32), np.asarray(a.frames(i), np.float32),
                                   rtol=0, atol=F16_TOL)


# -- resampler setting ----------------------------------------------------------------------------

def test_soxr_default_stays_within_tolerance_of_torchaudio_and_old_stores_keep_theirs(tmp_path, clips):
    from accent.features import FeatureConfig, mel_frequencies_hz

    paths = sorted(clips.values())
    manifest = _manifest(tmp_path, paths)
    featurize(manifest, tmp_path / "soxr", workers=2, progress=False)
    (tmp_path / "ta.json").write_text(json.dumps({"resampler": "torchaudio"}))
    featurize(manifest, tmp_path / "ta", FeatureConfig.from_file(tmp_path / "ta.json"), workers=2, progress=False)
    a, b = FeatureStore.open(tmp_path / "soxr"), FeatureStore.open(tmp_path / "ta")
    assert a.config.resampler == "soxr" and b.config.resampler == "torchaudio" and a.config.hash() != b.config.hash()
    centres = mel_frequencies_hz(a.config)
    for i, row in a.index.iterrows():
        nyquist = sf.info(row["path"]).samplerate / 2
        below = centres < 0.9 * nyquist  # above the source's Nyquist there is only resampler leakage
        x, y = np.asarray(a.frames(i), np.float32), np.asarray(b.frames(i), np.float32)
        assert abs(len(x) - len(y)) <= 1
        n = min(len(x), len(y))
        assert np.abs(x[:n, below] - y[:n, below]).mean() < 0.07, row["path"]
    # a store written before the setting existed was resampled by torchaudio, and says so
    meta = json.loads((tmp_path / "ta" / "store.json").read_text())
    del meta["config"]["resampler"]
    assert FeatureConfig.from_dict(meta["config"]).hash() == b.config.hash()
    (tmp_path / "bad.json").write_text(json.dumps({"resampler": "sinc"}))
    with pytest.raises(AccentError, match="resampler"):
        FeatureConfig.from_file(tmp_path / "bad.json")
