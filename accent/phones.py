"""Phones from a transcript: render the text with espeak-ng, then carry its phone timings onto a clip.

espeak-ng knows how a sentence is pronounced, and its library reports where each phoneme falls in
the audio it synthesises (phoneme events, enabled at initialisation). :func:`render` returns that
audio and the phones with their times; :func:`phone_segments` aligns a real clip to the rendering by
DTW on per-recording normalised MFCCs (as aeneas aligns sentences; the engine of
:mod:`accent.alignment`) and maps the phone boundaries
onto the clip's frames. No acoustic model, no torch: the library is reached through ctypes.

espeak-ng keeps global state (one voice, one callback, and state carried between utterances), so every
call into it holds one lock and each text is synthesised in a child forked from a small helper process
that initialised the library (:mod:`accent.espeak_zygote`, :func:`synthesise_pristine`); each process
that renders (a forked or spawned worker too) starts its own helper on its first text.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from accent import espeak_zygote
from accent.alignment import Alignment, AlignSpec, align
from accent.audio import resample
from accent.errors import AccentError
from accent.features import FeatureConfig, log_mel_numpy, mfcc_from_logmel

LIBRARY = "libespeak-ng.so.1"
INSTALL_HINT = "install espeak-ng (apt-get install espeak-ng)"
PAUSE_PREFIX = "_"                 # espeak's pause phonemes ("_", "_:", "_!"): silence, not speech
DEFAULT_VOICE = "en-us"
VOICES = {"en": "en-us", "english": "en-us"}   # language names a manifest may carry -> espeak voice

STD_FLOOR = 1e-6
ALIGN_COEFFS = (1, 13)   # DTW on c1..c12: c0 is loudness, which differs between a voice and the synthesiser
BAND_RADIUS = 0.25       # Sakoe-Chiba band, as a fraction of the longer sequence
PAUSE_DB = 45.0          # frames this far below the clip's loud frames (95th percentile) are a pause, not a phone


_LOCK = threading.Lock()


@dataclass(frozen=True)
class Phone:
    name: str      # espeak's phoneme mnemonic ("@", "aI", "r-", ...)
    start: float   # seconds
    end: float


@dataclass(frozen=True)
class Rendering:
    """A text as espeak-ng says it: the waveform (float32 at ``sample_rate``) and its phones in order."""
    text: str
    voice: str
    wave: np.ndarray
    sample_rate: int
    phones: tuple[Phone, ...]
    # per feature config, what :func:`rendering_logmel` and :func:`reference_sequence` computed from it
    derived: dict = field(default_factory=dict, compare=False, repr=False)


class _Engine:
    """This process's espeak-ng: a zygote (:mod:`accent.espeak_zygote`) that initialised the library
    once and forks a child per text; started here, it exits when its stdin closes (with this process).
    Raises the one-line AccentError of a missing library or of a library that could not start."""

    def __init__(self):
        self.pid = os.getpid()
        self.process = subprocess.Popen([sys.executable, "-I", "-S", espeak_zygote.__file__, LIBRARY],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        try:
            kind, value = espeak_zygote.read_frame(self.process.stdout.fileno())
        except EOFError:
            kind, value = "init", None
        if kind != "ok":
            self.close()
        if kind == "library":
            raise AccentError(f"the espeak-ng library ({LIBRARY}) is not installed: {INSTALL_HINT}")
        if kind != "ok":
            raise AccentError(f"espeak-ng could not start (its data files are missing?): {INSTALL_HINT}")
        self.sample_rate = int(value)

    def _close_pipes(self) -> None:
        for fh in (self.process.stdin, self.process.stdout):
            try:
                fh.close()
            except OSError:
                pass

    def close(self) -> None:
        """Close the pipes (the zygote then exits) and reap it."""
        self._close_pipes()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def forget(self) -> None:
        """In a forked child of this process: drop the parent's pipes without touching its zygote."""
        self._close_pipes()
        self.process.returncode = 0   # not ours to wait for

    def request(self, text: str, voice: str) -> tuple:
        """The zygote's reply frame to one text; ("stopped", None) when it died."""
        try:
            espeak_zygote.write_frame(self.process.stdin.fileno(), (text, voice))
            return espeak_zygote.read_frame(self.process.stdout.fileno())
        except (EOFError, OSError):
            self.stop()
            return "stopped", None
        except BaseException:   # interrupted mid-frame: the pipes are out of step, start afresh next time
            self.stop()
            raise

    def stop(self) -> None:
        """End the zygote now (:func:`_engine` then starts another)."""
        try:
            self.process.kill()
        except OSError:
            pass
        self.close()


_ENGINES: list[_Engine] = []   # at most one: this process's (a forked child starts its own)


def _engine() -> _Engine:
    """This process's :class:`_Engine`, started on first use (call with ``_LOCK`` held)."""
    if _ENGINES and _ENGINES[0].pid == os.getpid() and _ENGINES[0].process.poll() is None:
        return _ENGINES[0]
    if _ENGINES and _ENGINES[0].pid == os.getpid():
        _ENGINES.pop().close()   # it died: start another
    _ENGINES.clear()
    _ENGINES.append(_Engine())
    return _ENGINES[0]


def _forget_engines_after_fork() -> None:
    for engine in _ENGINES:
        engine.forget()
    _ENGINES.clear()


def _close_engines_at_exit() -> None:
    for engine in _ENGINES:
        if engine.pid == os.getpid():
            engine.close()
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)
atexit.register(_close_engines_at_exit)


def voice_for(language: str | None) -> str:
    """The espeak voice of a language name or code (``None``: American English)."""
    if not language:
        return DEFAULT_VOICE
    return VOICES.get(language.lower(), language)


def synthesise_pristine(engine: _Engine, text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """(int16 samples, [(phoneme, start in ms)]) of one text, synthesised in a child forked from the
    zygote, so that every text is rendered from the state the library is in after initialisation.
    espeak-ng carries state from one utterance to the next that re-initialising does not reset: in one
    process the same sentence came out 61,577, 61,567, 61,377 and 61,378 samples long, and a clip's
    phonetic measurements then depended on the texts rendered before it (the row order, the executor's
    shards). The first rendering of a freshly initialised library is the same every time. Forking the
    small zygote rather than this process: about 8 ms per text instead of 44 (docs/benchmarks.md)."""
    kind, value = engine.request(text, voice)
    if kind == "voice":
        raise AccentError(f"espeak-ng has no voice {voice!r}: list them with `espeak-ng --voices`")
    if kind == "synth":
        raise AccentError(f"espeak-ng could not render the text {text[:40]!r}")
    if kind != "ok":
        raise AccentError(f"espeak-ng stopped while rendering {text[:40]!r}: {INSTALL_HINT}")
    samples, events = value
    return (np.frombuffer(samples, np.int16).copy() if samples else np.zeros(0, np.int16)), events


@lru_cache(maxsize=256)   # about 0.3 MB per second of rendering
def render(text: str, voice: str = DEFAULT_VOICE) -> Rendering:
    """``text`` as espeak-ng says it, with its phones (pauses left out); cached per (text, voice)."""
    if not text or not text.strip():
        raise AccentError("no text to render: the phone path needs the clip's transcript (a text column)")
    with _LOCK:
        engine = _engine()
        samples, events = synthesise_pristine(engine, text, voice)
    sr = engine.sample_rate
    total = len(samples) / sr
    starts = [min(ms / 1000, total) for _, ms in events] + [total]
    phones = tuple(Phone(name, starts[k], max(starts[k], starts[k + 1]))
                   for k, (name, _) in enumerate(events)
                   if name and not name.startswith(PAUSE_PREFIX) and starts[k + 1] > starts[k])
    return Rendering(text, voice, (samples / 32768.0).astype(np.float32), sr, phones)


# -- alignment ----------------------------------------------------------------------------------

def rendering_logmel(rendering: Rendering, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel frames of the rendering, made as a clip's are (resampled, loudness-normalised) but
    not trimmed, so that frame k still starts at k hops into the rendering's own timeline. Computed
    once per rendering and config (kept on the rendering, read-only)."""
    key = ("logmel", cfg)
    if key not in rendering.derived:
        wave = resample(rendering.wave, rendering.sample_rate, cfg.sample_rate, cfg.resampler)
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
        if cfg.normalize_loudness and rms > 0:
            wave = wave * np.float32(10 ** (cfg.target_rms_db / 20) / rms)
        logmel = log_mel_numpy(wave, cfg)
        logmel.flags.writeable = False
        rendering.derived[key] = logmel
    return rendering.derived[key]


def reference_sequence(rendering: Rendering, cfg: FeatureConfig) -> np.ndarray:
    """:func:`alignment_sequence` of :func:`rendering_logmel`, computed once per rendering and config (read-only)."""
    key = ("sequence", cfg)
    if key not in rendering.derived:
        seq = alignment_sequence(rendering_logmel(rendering, cfg))
        seq.flags.writeable = False
        rendering.derived[key] = seq
    return rendering.derived[key]


def alignment_sequence(logmel: np.ndarray) -> np.ndarray:
    """The frames DTW compares: MFCC c1..c12, mean and variance normalised within the recording."""
    mfcc = mfcc_from_logmel(np.asarray(logmel, np.float32), ALIGN_COEFFS[1])[:, ALIGN_COEFFS[0]:]
    return (mfcc - mfcc.mean(0)) / np.maximum(mfcc.std(0), STD_FLOOR)


ALIGN_SPEC = AlignSpec(align_coeffs=(0, ALIGN_COEFFS[1] - ALIGN_COEFFS[0]), band=BAND_RADIUS)  # on frames, not blocks


def align_to_rendering(clip_seq: np.ndarray, ref_seq: np.ndarray) -> Alignment:
    """Banded DTW of a clip's :func:`alignment_sequence` against the rendering's, through the
    project's alignment engine (:func:`accent.alignment.align`: the same paths as librosa's banded
    DTW on real CV clips, docs/benchmarks.md), with its normalised cost."""
    if min(len(clip_seq), len(ref_seq)) < 2:
        raise AccentError(f"too short to align: {len(clip_seq)} clip frames, {len(ref_seq)} rendering frames")
    return align(clip_seq, ref_seq, ALIGN_SPEC)


def dtw_path(clip_seq: np.ndarray, ref_seq: np.ndarray) -> np.ndarray:
    """Monotonic path (n_steps, 2) of (clip frame, reference frame) pairs, from (0, 0) to both ends."""
    return align_to_rendering(clip_seq, ref_seq).path()


def phone_segments(clip_logmel: np.ndarray, rendering: Rendering, cfg: FeatureConfig = FeatureConfig(),
                   pause_db: float | None = PAUSE_DB, path: np.ndarray | None = None) -> list[tuple[str, int, int]]:
    """The rendering's phones on the clip: ``(name, first frame, end frame)`` in clip frames of ``cfg``.

    ``clip_logmel`` are the clip's stored log-mel frames (made with ``cfg``). A phone's clip start
    is the first clip frame the DTW path pairs with the phone's first rendering frame, and it ends
    where the next phone starts (the last one where the last rendering phone ends); then pauses are
    cut off each segment's edges (:func:`trim_pauses`; ``pause_db=None`` keeps them). Segments are in
    order and never overlap; a phone the speaker compressed may be empty (end == start). ``path``:
    the :func:`dtw_path` of the clip against the rendering, when the caller aligned them already.
    """
    ref_logmel = rendering_logmel(rendering, cfg)
    if path is None:
        path = dtw_path(alignment_sequence(clip_logmel), reference_sequence(rendering, cfg))
    n_ref = len(ref_logmel)
    first_clip = np.full(n_ref + 1, len(clip_logmel), dtype=np.int64)   # first clip frame per rendering frame
    np.minimum.at(first_clip, path[:, 1], path[:, 0])
    first_clip = np.minimum.accumulate(first_clip[::-1])[::-1]          # monotone even where the path skips
    to_frame = lambda t: min(n_ref, int(round(t * cfg.frames_per_second)))
    starts = [int(first_clip[to_frame(p.start)]) for p in rendering.phones]
    last = rendering.phones[-1].end if rendering.phones else 0.0
    ends = starts[1:] + [int(first_clip[to_frame(last)]) if to_frame(last) < n_ref else len(clip_logmel)]
    segments = [(p.name, s, max(s, e)) for p, s, e in zip(rendering.phones, starts, ends)]
    return segments if pause_db is None else trim_pauses(segments, clip_logmel, pause_db)


def trim_pauses(segments, logmel: np.ndarray, pause_db: float = PAUSE_DB) -> list[tuple[str, int, int]]:
    """Segments without the pause frames at their edges: a speaker's pause that the rendering lacks is
    absorbed by the neighbouring phone in the DTW path, and would otherwise be measured as that phone."""
    level_db = (10 / np.log(10)) * np.logaddexp.reduce(np.asarray(logmel, np.float64), axis=1)
    sound = level_db > np.percentile(level_db, 95) - pause_db if len(level_db) else np.zeros(0, bool)
    out = []
    for name, start, end in segments:
        loud = np.flatnonzero(sound[start:end])
        out.append((name, start + int(loud[0]), start + int(loud[-1]) + 1) if len(loud) else (name, start, start))
    return out
