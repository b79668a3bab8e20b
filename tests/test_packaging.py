"""The project as a wheel: it carries every module and the data files read at run time, and once
installed outside the repository the stages run from another directory."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
RESOURCES = {"cv_accent_buckets.csv", "saa_country_to_cv_bucket.csv", "sentences.txt"}
pytestmark = pytest.mark.slow


def _pip(*args: str, cwd: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"pip {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built offline from a copy of the sources, so the build leaves nothing in the repository."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("building the wheel offline needs setuptools in this environment")
    work = tmp_path_factory.mktemp("build")
    src = work / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "accent", src / "accent", ignore=shutil.ignore_patterns("__pycache__"))
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(work / "dist"), "./src", cwd=work)
    [whl] = (work / "dist").glob("accent-*.whl")
    return whl


def test_wheel_carries_every_module_and_the_run_time_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "accent").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules <= names
    assert {f"accent/resources/{name}" for name in RESOURCES} <= names
    assert not [n for n in names if n.startswith(("tests/", "data/", "scripts/", "benchmarks/"))]
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "accent = accent.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


STAGES = """
import contextlib
import sys
import time
t0 = time.perf_counter()
from pathlib import Path
import accent
from accent.cli import main
assert Path(accent.__file__).is_relative_to(sys.argv[1]), accent.__file__
clips = None
for argv in (["synth", "--layout", "cv", "--out", "cv", "--speakers-per-accent", "3", "--accents", "us,indian",
              "--workers", "2"],
             ["manifest", "--corpus", "commonvoice", "--root", "cv", "--out", "manifest.csv"],
             ["featurize", "--manifest", "manifest.csv", "--out", "feat", "--workers", "1", "--quiet"],
             ["transfer", "--features", "feat", "--mode", "baseline", "--out", "run", "--quiet"],
             ["predict", "--model", "run", "--json"]):
    if argv[0] == "predict":
        argv += sorted(str(p) for p in Path("cv/clips").glob("*.mp3"))[:2]
    print(f"{time.perf_counter() - t0:5.1f} s $ accent", " ".join(argv[:3]), flush=True)
    with open(f"{argv[0]}.out", "w") as out, contextlib.redirect_stdout(out):
        rc = main(argv)
    assert rc == 0, f"accent {argv[0]} exited {rc}"
"""


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                    reason="synth needs espeak-ng and sox")
def test_installed_wheel_runs_the_stages_from_another_directory(wheel, tmp_path):
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel), cwd=tmp_path)
    assert (site / "bin" / "accent").is_file() and not (site / "accent" / "resources" / "data").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))  # the installed copy only, not the repository
    proc = subprocess.run([sys.executable, "-c", STAGES, str(site)], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    manifest = pd.read_csv(elsewhere / "manifest.csv")
    clips = list((elsewhere / "cv" / "clips").glob("*.mp3"))
    assert len(manifest) == len(clips) >= 12  # the packaged bucket table mapped every clip
    assert set(manifest["label"]) == {"us", "indian"}
    predictions = json.loads((elsewhere / "predict.out").read_text())
    assert len(predictions) == 2 and all("error" not in p for p in predictions)
    assert all(set(p["probabilities"]) == {"us", "indian"} for p in predictions), predictions
    assert not list(REPO.glob("build")) and not (REPO / "cv").exists()
