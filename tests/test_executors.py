"""Featurize and embed through executors: a process pool or Dask, sharded, resumable, equal to one run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from accent import cli
from accent.errors import AccentError
from accent.executors import ProcessExecutor
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
    assert cli.main(["featurize", "--manifest", str(manifest_path), "--out", str(tmp_path / "d"),
                     "--executor", "dask", "--scheduler", "nowhere", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1


# -- Dask ----------------------------------------------------------------------------------------

def _dask_or_skip():
    pytest.importorskip("distributed", reason="dask[distributed] not installed (pip install 'accent[dask]')")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_dask_local_cluster_gives_the_same_store(tmp_path, reference):
    _dask_or_skip()
    manifest_path, single = reference
    run = subprocess.run([sys.executable, "-m", "accent", "featurize", "--manifest", str(manifest_path),
                          "--out", str(tmp_path / "dask"), "--executor", "dask", "--scheduler", "local:2"],
                         cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    _same_store(single, tmp_path / "dask")


def test_dask_worker_killed_mid_run_still_gives_the_same_store(tmp_path, noisy_clips):
    _dask_or_skip()
    import psutil

    manifest_path = _manifest(tmp_path, noisy_clips, 60)
    featurize(read_manifest(manifest_path), tmp_path / "single", workers=2, progress=False)
    out = tmp_path / "dask"
    proc = subprocess.Popen([sys.executable, "-m", "accent", "featurize", "--manifest", str(manifest_path),
                             "--out", str(out), "--executor", "dask", "--scheduler", "local:2", "--shards", "12"],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        done = [p for p in out.glob(f"{SHARDS_DIR}/*/*/store.json") if '"complete": true' in p.read_text()]
        if done:  # work is under way: kill one worker process (the nanny in the driver restarts it)
            workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                       if "spawn_main" in " ".join(c.cmdline())]
            if workers:
                killed = workers[0].pid
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=120)
    assert killed is not None, "the run finished before a worker could be killed"
    if proc.returncode != 0:  # the scheduler gave up on the shard: the rerun reuses what is finished
        rerun = subprocess.run([sys.executable, "-m", "accent", "featurize", "--manifest", str(manifest_path),
                                "--out", str(out), "--executor", "dask", "--scheduler", "local:2", "--shards", "12"],
                               cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    _same_store(tmp_path / "single", out)
