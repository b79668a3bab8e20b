"""Featurize and embed through executors: a process pool or Dask, sharded, resumable, equal to one run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent import cli
from accent.backbones import Backbone, get_backbone
from accent.embed import fill_cache
from accent.embeddings import CACHE_DIR, PENDING, EmbeddingCache, _source, recording_embeddings
from accent.errors import AccentError, AudioError
from accent.executors import ProcessExecutor, map_ordered, open_executor
from accent.featurize import SHARDS_DIR, featurize, featurize_sharded
from accent.manifest import read_manifest
from accent.store import FeatureStore

REPO = Path(__file__).resolve().parents[1]
RATES = [44100, 22050, 48000, 16000]


@pytest.fixture(scope="module")
def noisy_clips(tmp_path_factory) -> list[Path]:
    """Six 6-second clips of amplitude-modulated tones in noise at several rates (some stereo)."""
    root = tmp_path_factory.mktemp("exec_clips")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(6):
        sr = RATES[k % len(RATES)]
        t = np.arange(int(6 * sr)) / sr
        y = (0.3 * np.sin(2 * np.pi * (200 + 50 * k) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
             + 0.02 * rng.normal(size=t.size)).astype(np.float32)
        if k % 2:
            y = np.stack([y, 0.5 * y], axis=1)
        paths.append(root / f"tone{k}.{'flac' if k % 3 else 'wav'}")
        sf.write(paths[-1], y, sr)
    return paths


def _manifest(tmp_path: Path, paths: list[Path], n_rows: int) -> Path:
    rows = [{"utt_id": f"u{i:04d}", "path": str(paths[i % len(paths)]), "speaker": f"spk{i % 7}",
             "label": ["english", "french", "german"][i % 3], "split": ["train", "val", "test", "train"][i % 4]}
            for i in range(n_rows)]
    rows.append({"utt_id": "broken", "path": str(tmp_path / "missing.wav"), "speaker": "x", "label": "english",
                 "split": "train"})
    path = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _same_store(a: Path, b: Path) -> None:
    """Byte-identical frames, index and errors; bit-identical statistics."""
    for name in ("frames.f16", "index.csv", "errors.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = FeatureStore.open(a), FeatureStore.open(b)
    assert np.array_equal(sa.mean, sb.mean) and np.array_equal(sa.std, sb.std)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, noisy_clips) -> tuple[Path, Path]:
    """(manifest, store) of today's default path: one process pool, one store."""
    tmp = tmp_path_factory.mktemp("exec_ref")
    manifest = _manifest(tmp, noisy_clips, 24)
    featurize(read_manifest(manifest), tmp / "single", workers=2, progress=False)
    return manifest, tmp / "single"


class _FlakyExecutor:
    """Threads; the first submission of chosen shards 'loses its worker', and it can stop after k shards."""

    def __init__(self, lose: set[int] = frozenset(), stop_after: int | None = None):
        self.pool = ThreadPoolExecutor(2)
        self.lose, self.stop_after, self.calls, self.lost = set(lose), stop_after, 0, 0

    def submit(self, fn, rows, shard_dir, cfg):
        self.calls += 1
        if self.stop_after is not None and self.calls > self.stop_after:
            self.pool.shutdown(wait=True)
            raise KeyboardInterrupt
        index = int(Path(shard_dir).name)
        if index in self.lose:
            self.lose.discard(index)
            self.lost += 1
            future = Future()
            future.set_exception(ConnectionResetError("worker died"))
            return future
        return self.pool.submit(fn, rows, shard_dir, cfg)


def test_sharded_on_any_executor_equals_one_run_resubmits_and_resumes(tmp_path, reference):
    manifest_path, single = reference
    manifest = read_manifest(manifest_path)
    flaky = _FlakyExecutor(lose={1, 3})
    featurize_sharded(manifest, tmp_path / "flaky", executor=flaky, n_shards=5, progress=False)
    assert flaky.lost == 2 and flaky.calls == 7
    _same_store(single, tmp_path / "flaky")
    assert not (tmp_path / "flaky" / SHARDS_DIR).exists()  # removed once merged
    assert featurize(manifest, tmp_path / "flaky", workers=1, progress=False).up_to_date

    # interrupted after two shards: the rerun reuses them and computes only the rest
    with pytest.raises(KeyboardInterrupt):
        featurize_sharded(manifest, tmp_path / "resumed", executor=_FlakyExecutor(stop_after=2), n_shards=5,
                          progress=False)
    with pytest.raises(AccentError, match="incomplete|no feature store"):
        FeatureStore.open(tmp_path / "resumed")
    rerun = _FlakyExecutor()
    result = featurize_sharded(manifest, tmp_path / "resumed", executor=rerun, n_shards=5, progress=False)
    assert rerun.calls == 3 and result.n_reused == 10  # shards 0 and 1 hold 5 of the 25 rows each
    _same_store(single, tmp_path / "resumed")


def test_process_executor_replaces_a_pool_whose_worker_died():
    executor = ProcessExecutor(1)
    try:
        with pytest.raises(Exception):
            executor.submit(os._exit, 1).result()  # the worker dies: this pool is broken for good
        assert executor.submit(pow, 2, 5).result() == 32  # ...so a fresh one answered
    finally:
        executor.shutdown()


def test_cli_processes_with_shards_and_bad_scheduler(tmp_path, reference, capsys):
    manifest_path, single = reference
    assert cli.main(["featurize", "--manifest", str(manifest_path), "--out", str(tmp_path / "p"),
                     "--workers", "2", "--shards", "3", "--quiet"]) == 0
    _same_store(single, tmp_path / "p")
    assert "36 pair(s) of recordings" in capsys.readouterr().err   # the manifest names each of 6 clips 4 times
    assert cli.main(["featurize", "--manifest", str(manifest_path), "--out", str(tmp_path / "d"),
                     "--executor", "dask", "--scheduler", "nowhere", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1


# -- Dask ----------------------------------------------------------------------------------------

def _dask_or_skip():
    pytest.importorskip("distributed", reason="dask[distributed] not installed (pip install 'accent[dask]')")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def dask_local2():
    """One LocalCluster of two single-threaded worker processes for all Dask tests (start-up costs seconds)."""
    _dask_or_skip()
    with open_executor("dask", "local:2") as executor:
        yield executor


def test_dask_cli_on_a_running_scheduler_gives_the_same_store(tmp_path, reference, dask_local2):
    manifest_path, single = reference
    address = dask_local2.client.scheduler.address  # tcp://127.0.0.1:PORT, as for a cluster
    assert cli.main(["featurize", "--manifest", str(manifest_path), "--out", str(tmp_path / "dask"),
                     "--executor", "dask", "--scheduler", address, "--quiet"]) == 0
    _same_store(single, tmp_path / "dask")


def test_a_plain_dask_client_is_accepted(tmp_path, reference, dask_local2):
    """What a dask-jobqueue user passes: their own Client (left open for them)."""
    manifest_path, single = reference
    client = dask_local2.client
    featurize_sharded(read_manifest(manifest_path), tmp_path / "client", executor=client, progress=False)
    _same_store(single, tmp_path / "client")
    assert client.status == "running"


def test_dask_worker_killed_mid_run_still_gives_the_same_store(tmp_path, noisy_clips, dask_local2):
    """One of the two worker processes is SIGKILLed once the first shards are finished: its nanny
    restarts it, the lost shard runs again (resuming its journal), the store equals the default path's."""
    import psutil

    manifest = read_manifest(_manifest(tmp_path, noisy_clips, 36))
    featurize(manifest, tmp_path / "single", workers=2, progress=False)
    out = tmp_path / "dask"
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=featurize_sharded(
        manifest, out, executor=dask_local2, n_shards=12, progress=False)))
    thread.start()
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        if any('"complete": true' in p.read_text() for p in out.glob(f"{SHARDS_DIR}/*/*/store.json")):
            workers = [c for c in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
            if workers:
                killed = workers[0].pid
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    thread.join(timeout=120)
    assert killed is not None, "the run finished before a worker could be killed"
    assert "result" in outcome, "featurize_sharded did not finish"
    _same_store(tmp_path / "single", out)
    assert not (out / SHARDS_DIR).exists()


# -- embeddings ----------------------------------------------------------------------------------

class WaveStats(Backbone):
    """A deterministic numpy 'backbone': statistics of the decoded waveform."""

    name = "wavestats"
    sample_rate = 16000
    dim = 4
    fingerprint = "wavestats-v1"

    def embed_waveform(self, wave):
        if wave.size < 8000:
            raise AudioError("wavestats: shorter than 0.5 s")
        return np.array([wave.size, np.abs(wave).mean(), wave.std(), np.abs(np.diff(wave)).mean()], np.float32)


@pytest.fixture(scope="module")
def speech_featdir(tmp_path_factory) -> Path:
    """A store of five espeak-ng sentences, one of whose audio files has since vanished (it fails)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    root = tmp_path_factory.mktemp("speech")
    texts = ["Please call Stella.", "Ask her to bring these things with her.", "Six spoons of fresh snow peas.",
             "Five thick slabs of blue cheese.", "We also need a small plastic snake."]
    rows = []
    for k, text in enumerate(texts):
        path = root / f"s{k}.wav"
        subprocess.run(["espeak-ng", "-v", ["en", "en-us", "de"][k % 3], "-w", str(path), text], check=True,
                       capture_output=True)
        rows.append({"utt_id": f"s{k}", "path": str(path), "speaker": f"spk{k}", "label": "ab"[k % 2],
                     "split": "train"})
    featurize(pd.DataFrame(rows), root / "feats", workers=1, progress=False)
    (root / "s3.wav").unlink()
    return root / "feats"


@pytest.fixture
def speech_store(tmp_path, speech_featdir) -> Path:
    store = tmp_path / "feats"
    shutil.copytree(speech_featdir, store)
    return store


def _cache_vectors(store: Path, spec) -> np.ndarray:
    """The cached vectors, asserting that reading them computes nothing new."""
    cache = EmbeddingCache.for_store(FeatureStore.open(store), _source(spec, FeatureStore.open(store)))
    assert (cache.status != PENDING).all()
    return cache.X


def test_embeddings_through_dask_equal_local_ones(tmp_path, speech_store, dask_local2):
    local = tmp_path / "local"
    shutil.copytree(speech_store, local)
    with pytest.warns(UserWarning, match="1 recording"):
        _, X_local = recording_embeddings(WaveStats(), local, progress=False)
    assert np.isnan(X_local[3]).all() and np.isfinite(np.delete(X_local, 3, axis=0)).all()
    counts = fill_cache(WaveStats(), speech_store, dask_local2, n_shards=3, progress=False)
    assert counts["embedded"] == len(X_local) and counts["failed"] == 1
    assert np.array_equal(_cache_vectors(speech_store, WaveStats()), X_local, equal_nan=True)
    assert not (speech_store / CACHE_DIR / "shards").exists() or not any((speech_store / CACHE_DIR / "shards").rglob("*.npz"))


def test_embed_cli_with_a_real_backbone_on_dask(tmp_path, speech_store, dask_local2):
    try:
        get_backbone("resemblyzer")
    except AccentError as exc:
        pytest.skip(f"resemblyzer unavailable: {exc}")
    local = tmp_path / "local"
    shutil.copytree(speech_store, local)
    assert cli.main(["embed", "--features", str(local), "--backbone", "resemblyzer", "--quiet"]) == 0
    assert cli.main(["embed", "--features", str(speech_store), "--backbone", "mfcc+resemblyzer",
                     "--executor", "dask", "--scheduler", dask_local2.client.scheduler.address, "--quiet"]) == 0
    np.testing.assert_allclose(_cache_vectors(speech_store, "resemblyzer"), _cache_vectors(local, "resemblyzer"),
                               rtol=0, atol=1e-5)


def test_map_ordered_keeps_the_order_on_either_executor(dask_local2):
    """featurize's pool and synth run through map_ordered: results come back in the items' order."""
    items = list(range(23))
    with open_executor("processes", workers=2) as pool:
        assert list(map_ordered(pool, abs, [-i for i in items], chunksize=4)) == items
    assert list(map_ordered(dask_local2, abs, [-i for i in items], chunksize=4)) == items


def test_synth_on_dask_equals_synth_in_processes(tmp_path, dask_local2):
    """`accent synth --executor dask` writes the same clips as the local pool (the seed decides them)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from accent.corpora.synthetic import generate_corpus

    kw = dict(speakers_per_accent=1, accents=["us", "indian"], seed=3)
    local = generate_corpus("cv", tmp_path / "local", workers=2, **kw)
    scheduler = dask_local2.client.scheduler.address
    dask = generate_corpus("cv", tmp_path / "dask", executor="dask", scheduler=scheduler, **kw)
    clips = sorted(p.name for p in (local / "clips").iterdir())
    assert clips and clips == sorted(p.name for p in (dask / "clips").iterdir())
    for name in clips:
        assert (local / "clips" / name).read_bytes() == (dask / "clips" / name).read_bytes()


def test_alignments_through_dask_equal_local_ones(tiny_stores, dask_local2, monkeypatch):
    """The alignment engine's shards on Dask workers, the store named by a relative path as on a
    command line: the cache holds what aligning here gives."""
    from accent.alignment import CACHE_DIR, Alignments, align, store_alignments, store_sequences
    from accent.store import FeatureStore

    root = Path(tiny_stores["target"])
    shutil.rmtree(root / CACHE_DIR, ignore_errors=True)   # computed here, not read from another test's cache
    monkeypatch.chdir(root.parent)
    store = FeatureStore.open(root.name)
    seqs = store_sequences(store)
    found = store_alignments(store, seqs[0], executor=dask_local2, n_shards=3)
    here = Alignments.of([align(s, seqs[0]) for s in seqs])
    assert np.array_equal(found.steps, here.steps) and np.allclose(found.costs, here.costs)
