"""Phones from a transcript: render the text with espeak-ng, then carry its phone timings onto a clip.

espeak-ng knows how a sentence is pronounced, and its library reports where each phoneme falls in
the audio it synthesises (phoneme events, enabled at initialisation). :func:`render` returns that
audio and the phones with their times; :func:`phone_segments` aligns a real clip to the rendering by
DTW on per-recording normalised MFCCs (as aeneas aligns sentences; the engine of
:mod:`accent.alignment`) and maps the phone boundaries
onto the clip's frames. No acoustic model, no torch: the library is reached through ctypes.

espeak-ng keeps global state (one voice, one callback, and state carried between utterances), so every
call into it holds one lock and each text is synthesised in a forked child (:func:`synthesise_pristine`);
it synthesises synchronously (no thread of its own), so a forked or spawned worker process may use it too.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accent.alignment import Alignment, AlignSpec, align
from accent.audio import resample
from accent.errors import AccentError
from accent.features import FeatureConfig, log_mel_numpy, mfcc_from_logmel

LIBRARY = "libespeak-ng.so.1"
INSTALL_HINT = "install espeak-ng (apt-get install espeak-ng)"
AUDIO_OUTPUT_SYNCHRONOUS = 2       # espeak_AUDIO_OUTPUT: synthesise into the callback, return when done
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
PAUSE_PREFIX = "_"                 # espeak's pause phonemes ("_", "_:", "_!"): silence, not speech
DEFAULT_VOICE = "en-us"
VOICES = {"en": "en-us", "english": "en-us"}   # language names a manifest may carry -> espeak voice

STD_FLOOR = 1e-6
ALIGN_COEFFS = (1, 13)   # DTW on c1..c12: c0 is loudness, which differs between a voice and the synthesiser
BAND_RADIUS = 0.25       # Sakoe-Chiba band, as a fraction of the longer sequence
PAUSE_DB = 45.0          # frames this far below the clip's loud frames (95th percentile) are a pause, not a phone


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
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


class _Engine:
    """The loaded library, initialised once, and the buffers its callback fills during one synthesis."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL(LIBRARY)
        except OSError:
            raise AccentError(f"the espeak-ng library ({LIBRARY}) is not installed: {INSTALL_HINT}") from None
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise AccentError(f"espeak-ng could not start (its data files are missing?): {INSTALL_HINT}")
        self.callback = _CALLBACK(self._collect)   # kept as an attribute: ctypes must not free it
        self.lib.espeak_SetSynthCallback(self.callback)
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[str, int]] = []

    def _collect(self, wav, n, events) -> int:
        if n > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        k = 0
        while events[k].type != EVENT_LIST_TERMINATED:
            if events[k].type == EVENT_PHONEME:
                name = bytes(events[k].id.string).split(b"\0", 1)[0].decode("ascii", "replace")
                self.events.append((name, events[k].audio_position))
            k += 1
        return 0

    def synthesise(self, text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """(int16 samples, [(phoneme, start in ms)]) of one text."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AccentError(f"espeak-ng has no voice {voice!r}: list them with `espeak-ng --voices`")
        self.chunks, self.events = [], []
        data = text.encode("utf-8") + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, 1, 0, CHARS_UTF8, None, None) != 0:
            raise AccentError(f"espeak-ng could not render the text {text[:40]!r}")
        wave = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return wave, list(self.events)


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    return _Engine()


def voice_for(language: str | None) -> str:
    """The espeak voice of a language name or code (``None``: American English)."""
    if not language:
        return DEFAULT_VOICE
    return VOICES.get(language.lower(), language)


def synthesise_pristine(engine: _Engine, text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """:meth:`_Engine.synthesise` in a forked child, so that every text is rendered from the state the
    library is in after initialisation. espeak-ng carries state from one utterance to the next that
    re-initialising does not reset: in one process the same sentence came out 61,577, 61,567, 61,377
    and 61,378 samples long, and a clip's phonetic measurements then depended on the texts rendered
    before it (the row order, the executor's shards). The first rendering of a fresh process is the
    same every time. About 25 ms per text against 3 ms in-process (docs/benchmarks.md)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, send, leave without running the parent's exit handlers
        status = 1
        try:
            os.close(read)
            result = engine.synthesise(text, voice)
            payload = pickle.dumps(("ok", result))
            status = 0
        except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
            payload = pickle.dumps(("error", exc if isinstance(exc, AccentError) else AccentError(str(exc))))
        with os.fdopen(write, "wb") as fh:
            fh.write(payload)
        os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        payload = fh.read()
    os.waitpid(pid, 0)
    if not payload:
        raise AccentError(f"espeak-ng stopped while rendering {text[:40]!r}: {INSTALL_HINT}")
    kind, value = pickle.loads(payload)
    if kind == "error":
        raise value
    return value


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
    not trimmed, so that frame k still starts at k hops into the rendering's own timeline."""
    wave = resample(rendering.wave, rendering.sample_rate, cfg.sample_rate, cfg.resampler)
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if cfg.normalize_loudness and rms > 0:
        wave = wave * np.float32(10 ** (cfg.target_rms_db / 20) / rms)
    return log_mel_numpy(wave, cfg)


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
        path = dtw_path(alignment_sequence(clip_logmel), alignment_sequence(ref_logmel))
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
