"""`accent doctor` and the capability probes behind it, against the real tools and against fakes
on PATH (a sox without its mp3 plugin, an espeak-ng lacking voices)."""
from __future__ import annotations

import shutil

import pytest

from accent import sysdeps
from accent.cli import main
from accent.corpora.synthetic import required_voices

needs_tools = pytest.mark.skipif(shutil.which("sox") is None or shutil.which("espeak-ng") is None,
                                 reason="sox and espeak-ng are needed (scripts/setup.sh)")


@needs_tools
def test_real_sox_and_espeak_are_probed_for_capabilities():
    formats = sysdeps.sox_formats()
    assert {"wav", "flac"} <= formats
    voices = sysdeps.espeak_voices()
    assert {"en-us", "m1", "f1"} <= voices and "klingon" not in voices
    version, reads, writes = sysdeps.soundfile_mp3()
    assert version and (reads, writes) == (True, True)


def test_probes_report_missing_tools_with_the_package_to_install(tmp_path):
    empty = str(tmp_path)  # a PATH with nothing on it
    assert sysdeps.sox_formats(empty) is None and not sysdeps.sox_writes_mp3(empty)
    [sox] = sysdeps.check_sox(empty)
    assert not sox.ok and sox.fix == "sudo apt-get install -y sox libsox-fmt-mp3"
    [espeak] = sysdeps.check_espeak({"en-us"}, empty)
    assert not espeak.ok and "espeak-ng-data" in espeak.fix


def test_espeak_without_a_voice_the_generator_uses_is_reported(tmp_path):
    fake = tmp_path / "espeak-ng"
    fake.write_text("#!/bin/sh\n"
                    "if [ \"$1\" = \"--voices=variant\" ]; then printf 'Pty Language Age/Gender VoiceName File\\n"
                    " 5  variant --/M m1 !v/m1\\n'; exit 0; fi\n"
                    "printf 'Pty Language Age/Gender VoiceName File\\n 5  en-us --/M English_(America) gmw/en-US\\n'\n")
    fake.chmod(0o755)
    checks = sysdeps.check_espeak(required_voices(), str(tmp_path))
    assert checks[0].ok and not checks[1].ok
    assert "hi" in checks[1].detail and "en-us," not in checks[1].detail and "m1," not in checks[1].detail
    assert checks[1].fix == "sudo apt-get install -y espeak-ng-data"


@needs_tools
def test_doctor_reports_the_missing_mp3_plugin_and_strict_fails(sox_without_mp3, capsys):
    assert main(["doctor"]) == 0  # synth still runs (libsndfile encodes): recommended, not required
    out = capsys.readouterr().out
    assert "MISS sox mp3" in out and "ok   espeak-ng voices" in out and "ok   libsndfile mp3" in out
    assert main(["doctor", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "to fix:\n  sudo apt-get install -y libsox-fmt-mp3    # sox mp3" in out


def test_doctor_fails_when_a_stage_tool_is_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng, no sox
    assert main(["doctor", "--data-dir", str(tmp_path / "not" / "yet")]) == 1
    out = capsys.readouterr().out
    assert "MISS espeak-ng" in out and "MISS sox" in out
    assert "sudo apt-get install -y espeak-ng espeak-ng-data    # espeak-ng" in out
    assert f"free at {tmp_path}" in out and "torch" in out and "resemblyzer" in out


def test_doctor_says_what_precision_auto_trains_in_here(capsys):
    import torch

    from accent.devices import resolve_precision

    assert main(["doctor"]) in (0, 1)
    line = next(x for x in capsys.readouterr().out.splitlines() if "cpu precision" in x)
    assert f"train.precision auto: {resolve_precision('auto', torch.device('cpu'))}" in line
