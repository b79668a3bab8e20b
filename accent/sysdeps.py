"""Probes for the system tools and codecs the stages call: what is there, what is missing, and the
command that installs it.

Each probe checks a capability, not just a binary: sox must list mp3 among its formats (Debian's
``sox`` package lacks it; ``libsox-fmt-mp3`` adds it), espeak-ng must have every voice the synthetic
generator uses, and libsndfile must read and write mp3. Probes take ``path`` (a PATH string) so a
test can put a fake tool in front of the real one.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from accent.errors import AccentError

APT = "sudo apt-get install -y"
SOX_MP3_PACKAGE = "libsox-fmt-mp3"
LIBSNDFILE_MP3_VERSION = (1, 1, 0)  # first libsndfile that reads and writes mp3
PROBE_TIMEOUT_S = 20


@dataclass(frozen=True)
class Check:
    """One probed capability. ``level``: ``required`` (a stage cannot run without it),
    ``recommended`` (a stage runs, slower or with less) or ``optional`` (information only)."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    level: str = "required"
    needed_by: str = ""


def which(tool: str, path: str | None = None) -> str | None:
    return shutil.which(tool, path=path)


def _output(cmd: list[str], path: str | None) -> str | None:
    """stdout+stderr of ``cmd`` run with ``path`` as PATH, or None when it cannot run."""
    exe = which(cmd[0], path)
    if exe is None:
        return None
    env = dict(os.environ, PATH=path) if path is not None else None
    try:
        proc = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout + proc.stderr


# ----------------------------------------------------------------------------- sox

def sox_formats(path: str | None = None) -> set[str] | None:
    """The file formats ``sox -h`` lists (None when sox is not installed)."""
    text = _output(["sox", "-h"], path)
    if text is None:
        return None
    match = re.search(r"AUDIO FILE FORMATS:(.*)", text)
    return set(match.group(1).split()) if match else set()


def sox_writes_mp3(path: str | None = None) -> bool:
    formats = sox_formats(path)
    return bool(formats) and "mp3" in formats


def check_sox(path: str | None = None) -> list[Check]:
    formats = sox_formats(path)
    if formats is None:
        return [Check("sox", False, "not found", f"{APT} sox {SOX_MP3_PACKAGE}", needed_by="synth")]
    version = (_output(["sox", "--version"], path) or "").strip().rsplit(" ", 1)[-1]
    checks = [Check("sox", True, f"{version or 'found'} at {which('sox', path)}", needed_by="synth")]
    if "mp3" in formats:
        checks.append(Check("sox mp3", True, "writes mp3", level="recommended", needed_by="synth"))
    else:
        checks.append(Check("sox mp3", False, f"no mp3 handler among {len(formats)} formats; synth encodes "
                            "mp3 with libsndfile instead (slower)", f"{APT} {SOX_MP3_PACKAGE}",
                            level="recommended", needed_by="synth"))
    return checks


# ----------------------------------------------------------------------------- espeak-ng

def espeak_voices(path: str | None = None) -> set[str] | None:
    """Language voices and variant files espeak-ng knows (None when it is not installed)."""
    languages = _output(["espeak-ng", "--voices"], path)
    if languages is None:
        return None
    variants = _output(["espeak-ng", "--voices=variant"], path) or ""
    names = {line.split()[1] for line in languages.splitlines()[1:] if len(line.split()) > 1}
    names |= {line.split()[4].split("/")[-1] for line in variants.splitlines()[1:] if len(line.split()) > 4}
    return names


def check_espeak(required_voices: set[str], path: str | None = None) -> list[Check]:
    """espeak-ng and the voices (languages and variants such as ``m3``) in ``required_voices``."""
    voices = espeak_voices(path)
    if voices is None:
        return [Check("espeak-ng", False, "not found", f"{APT} espeak-ng espeak-ng-data", needed_by="synth")]
    version = (_output(["espeak-ng", "--version"], path) or "").split("Data at")[0].strip()
    missing = sorted(set(required_voices) - voices)
    checks = [Check("espeak-ng", True, version or "found", needed_by="synth")]
    if missing:
        checks.append(Check("espeak-ng voices", False, f"missing {', '.join(missing)}",
                            f"{APT} espeak-ng-data", needed_by="synth"))
    else:
        checks.append(Check("espeak-ng voices", True, f"all {len(required_voices)} the generator uses",
                            needed_by="synth"))
    return checks


# ----------------------------------------------------------------------------- libsndfile

@lru_cache(maxsize=1)
def soundfile_mp3() -> tuple[str, bool, bool]:
    """(libsndfile version, reads mp3, writes mp3), tried on a short tone in memory."""
    import numpy as np
    import soundfile as sf

    version = sf.__libsndfile_version__
    tone = (0.3 * np.sin(np.arange(16000) * 2 * np.pi * 440 / 16000)).astype(np.float32)
    buf = io.BytesIO()
    try:
        sf.write(buf, tone, 16000, format="MP3", compression_level=0.8, bitrate_mode="CONSTANT")  # as synth does
        writes = buf.tell() > 0
    except Exception:  # noqa: BLE001 - any failure means "cannot write mp3"
        return version, False, False
    try:
        buf.seek(0)
        reads = len(sf.read(buf)[0]) > 0
    except Exception:  # noqa: BLE001
        reads = False
    return version, reads, writes


def soundfile_writes_mp3() -> bool:
    return soundfile_mp3()[2]


def check_soundfile() -> list[Check]:
    version, reads, writes = soundfile_mp3()
    fix = "pip install --upgrade 'soundfile>=0.13' (its wheels bundle libsndfile >= 1.1 with mp3)"
    if reads and writes:
        return [Check("libsndfile mp3", True, f"{version}: reads and writes mp3", needed_by="featurize, synth")]
    return [Check("libsndfile mp3", False, f"{version}: {'reads' if reads else 'cannot read'} mp3, "
                  f"{'writes' if writes else 'cannot write'} mp3", fix, needed_by="featurize, synth")]


def check_ffmpeg(path: str | None = None) -> list[Check]:
    exe = which("ffmpeg", path)
    detail = f"at {exe} (librosa's fallback decoder for m4a/opus)" if exe else \
        "not found: only needed for formats libsndfile cannot read (m4a, some opus)"
    return [Check("ffmpeg", exe is not None, detail, "" if exe else f"{APT} ffmpeg", level="optional",
                  needed_by="featurize")]


def mp3_encoder(path: str | None = None) -> str:
    """The encoder synth uses: sox (fast LAME) when it writes mp3, else libsndfile; raise when neither."""

    if sox_writes_mp3(path):
        return "sox"
    if soundfile_writes_mp3():
        return "soundfile"
    raise AccentError(f"cannot write mp3: sox has no mp3 handler and libsndfile cannot encode mp3; install "
                      f"`{APT} {SOX_MP3_PACKAGE}` (or run scripts/setup.sh)")


def system_checks(required_voices: set[str], path: str | None = None) -> list[Check]:
    return [*check_espeak(required_voices, path), *check_sox(path), *check_soundfile(), *check_ffmpeg(path)]
