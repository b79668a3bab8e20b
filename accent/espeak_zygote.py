"""A small process that initialises espeak-ng once and renders every text in a child forked from it.

espeak-ng carries state from one utterance to the next, so :mod:`accent.phones` renders each text
from the state the library is in right after initialisation: in a child forked from a process that
has just initialised it. Forking the calling process itself (numpy, scipy, maybe torch loaded) cost
about 25 ms per text; forking this one, which loads only the standard library and espeak-ng, costs
about 1 ms. :mod:`accent.phones` starts it as ``python .../espeak_zygote.py LIBRARY`` (one per process
that renders, on its first text) and talks to it over its stdin and stdout; it exits when its
stdin closes, that is when that process exits.

Standard library only: it runs as a script, not as part of the package, under ``python -I -S`` (no
site-packages, and not the package's folder on ``sys.path``, where a module could shadow the standard
library's). Protocol: frames of an
8-byte little-endian length and a pickle. After start-up the zygote sends ``("ok", sample_rate)``,
``("library", None)`` (no library) or ``("init", None)`` (initialisation failed). Each request
``(text, voice)`` is answered with ``("ok", (int16 sample bytes, [(phoneme, start in ms)]))``,
``("voice", None)``, ``("synth", None)`` or ``("stopped", None)`` (the child died).
"""
from __future__ import annotations

import ctypes
import os
import pickle
import signal
import struct
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2       # espeak_AUDIO_OUTPUT: synthesise into the callback, return when done
INITIALIZE_PHONEME_EVENTS = 0x0001
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
HEADER = struct.Struct("<Q")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT of speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def write_frame(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, n: int) -> bytes:
    """``n`` bytes from ``fd``; fewer only at end of file."""
    parts, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int):
    """The next frame's object; EOFError when the other end closed (or died mid-frame)."""
    header = read_exact(fd, HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    size = HEADER.unpack(header)[0]
    data = read_exact(fd, size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class Engine:
    """The library, initialised once, and the buffers its callback fills during one synthesis."""

    def __init__(self, library: str):
        self.lib = ctypes.CDLL(library)   # OSError when it is not installed
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, INITIALIZE_PHONEME_EVENTS)
        self.callback = _CALLBACK(self._collect)   # kept as an attribute: ctypes must not free it
        if self.sample_rate > 0:
            self.lib.espeak_SetSynthCallback(self.callback)
        self.chunks: list[bytes] = []
        self.events: list[tuple[str, int]] = []

    def _collect(self, wav, n, events) -> int:
        if n > 0 and wav:
            self.chunks.append(ctypes.string_at(wav, n * ctypes.sizeof(ctypes.c_short)))
        k = 0
        while events[k].type != EVENT_LIST_TERMINATED:
            if events[k].type == EVENT_PHONEME:
                name = bytes(events[k].id.string).split(b"\0", 1)[0].decode("ascii", "replace")
                self.events.append((name, events[k].audio_position))
            k += 1
        return 0

    def synthesise(self, text: str, voice: str) -> tuple:
        """A reply frame: ("ok", (int16 sample bytes, [(phoneme, start in ms)])) or an error kind."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            return "voice", None
        self.chunks, self.events = [], []
        data = text.encode("utf-8") + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, 1, 0, CHARS_UTF8, None, None) != 0:
            return "synth", None
        return "ok", (b"".join(self.chunks), list(self.events))


def render_in_child(engine: Engine, text: str, voice: str) -> tuple:
    """:meth:`Engine.synthesise` in a child forked from the initialised library, which then exits."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: render, send, leave
        status = 1
        try:
            os.close(read)
            write_frame(write, engine.synthesise(text, voice))
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    try:
        reply = read_frame(read)
    except EOFError:
        reply = ("stopped", None)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    return reply


def main(library: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # a Ctrl-C is for the parent, which closes our stdin
    rfd, wfd = sys.stdin.fileno(), sys.stdout.fileno()
    try:
        engine = Engine(library)
    except OSError:
        write_frame(wfd, ("library", None))
        return
    if engine.sample_rate <= 0:
        write_frame(wfd, ("init", None))
        return
    write_frame(wfd, ("ok", engine.sample_rate))
    while True:
        try:
            text, voice = read_frame(rfd)
        except EOFError:   # the parent closed our stdin or exited
            return
        try:
            write_frame(wfd, render_in_child(engine, text, voice))
        except BrokenPipeError:
            return


if __name__ == "__main__":
    main(sys.argv[1])
