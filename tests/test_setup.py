"""scripts/setup.sh checks capabilities, not just binaries: a sox without its mp3 plugin is caught
and the plugin installed; set-up ends with accent doctor --strict. apt-get and the venv are fakes
here, so nothing on the machine changes."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / "scripts" / "setup.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("espeak-ng") is None
                                or shutil.which("sox") is None, reason="bash, espeak-ng and sox are needed")


def _run(args, cwd_script=SETUP, path=None):
    env = dict(os.environ, PATH=path or os.environ["PATH"])
    return subprocess.run(["bash", str(cwd_script), *args], capture_output=True, text=True, env=env, timeout=60)


def test_check_passes_with_the_real_tools():
    proc = _run(["--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sox with mp3" in proc.stdout


def test_check_reports_the_missing_mp3_plugin(sox_without_mp3):
    proc = _run(["--check"])
    assert proc.returncode == 1
    assert "missing system packages: libsox-fmt-mp3" in proc.stdout
    assert "libsox-fmt-mp3: sox lists no mp3 among its formats" in proc.stdout
    assert "sudo apt-get install -y libsox-fmt-mp3" in proc.stdout


def test_check_reports_missing_espeak_voices(tmp_path):
    fake = tmp_path / "espeak-ng"
    fake.write_text("#!/bin/sh\nprintf 'Pty Language Age/Gender VoiceName File\\n 5  en-us --/M English gmw/en-US\\n'\n")
    fake.chmod(0o755)
    proc = _run(["--check"], path=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert proc.returncode == 1
    assert "espeak-ng-data: espeak-ng lacks voices accent synth uses: en-gb-scotland" in proc.stdout


def _sandbox(tmp_path: Path, doctor_rc: int) -> tuple[Path, Path]:
    """A copy of setup.sh beside pyproject.toml with a stamped fake .venv and a recording apt-get."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(SETUP, root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    log = tmp_path / "calls.log"
    for name, body in (("python", "exit 0"), ("accent", f'echo "accent $*" >> {log}; exit {doctor_rc}')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    stamp = hashlib.sha1((root / "pyproject.toml").read_bytes() + SETUP.read_bytes()).hexdigest()[:12]
    (root / ".venv" / f".setup-{stamp}").touch()
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name in ("apt-get", "sudo"):
        body = f'echo "{name} $*" >> {log}' if name == "apt-get" else '"$@"'
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    return root, fakes


@pytest.mark.parametrize("doctor_rc", [0, 1])
def test_setup_installs_the_plugin_and_ends_with_doctor(sox_without_mp3, tmp_path, doctor_rc):
    root, fakes = _sandbox(tmp_path, doctor_rc)
    proc = _run([], cwd_script=root / "scripts" / "setup.sh", path=f"{fakes}{os.pathsep}{os.environ['PATH']}")
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert "installing system packages: libsox-fmt-mp3" in proc.stdout
    assert "apt-get install -y -qq libsox-fmt-mp3" in calls and calls[-1] == "accent doctor --strict"
    stamps = list((root / ".venv").glob(".setup-*"))
    if doctor_rc == 0:
        assert proc.returncode == 0 and "setup: done" in proc.stdout and len(stamps) == 1
    else:  # doctor still finds something missing: set-up fails and drops its stamp
        assert proc.returncode == 1 and "accent doctor found something missing" in proc.stderr
        assert stamps == []
