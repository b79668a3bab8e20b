"""`accent serve`: try a model in a browser (upload or record a clip, see the top accents) and a JSON API.

Routes: ``GET /`` the page (``accent/web/``: no external scripts, fonts or styles, so it works
offline); ``POST /api/predict`` a multipart form with the clip in the field ``audio`` (and its
transcript in ``text``, for a model that needs it), answered with exactly what ``accent predict
--json`` prints for that file (``passage_match`` and ``off_passage`` included); ``GET /api/model``
the model card (with the passage to read, ``prompt``, or sentences to read, ``suggestions``);
``GET /healthz``.

Safe by construction:

* the model is loaded once, at start-up, and used by one inference thread: concurrent requests
  queue for it and each gets its own answer;
* the body is read with a byte cap (``413`` past ``--max-upload-mb``, checked on Content-Length
  first); the request must be ``multipart/form-data`` and the part an audio type (``415``); empty
  or missing uploads get ``400``; clips that cannot be decoded, are silent or too short get ``422``;
  every error is ``{"error": one line, "reason": code}``;
* the upload is written to a temporary file whose name the server chooses (only the declared
  content type picks a suffix); the client's file name is echoed back for display, never used as
  a path; the file is deleted when scoring ends;
* each request has a time limit (``504`` past ``--timeout-s``);
* it binds 127.0.0.1 unless told otherwise (README: "Try it in a browser" says how to expose it).

Starlette and uvicorn come with the ``serve`` extra (``pip install -e '.[serve]'``); they are
imported only when the server starts.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from accent.errors import AccentError
from accent.predict import load_model, result_entry, score_paths

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_UPLOAD_MB = 20.0
TIMEOUT_S = 60.0
UPLOAD_FIELD = "audio"
TEXT_FIELD = "text"              # the clip's transcript, for a model that needs it: plain text, never a file
MAX_TEXT_CHARS = 2000
TEXT_HINT = f"the transcript in the form's {TEXT_FIELD!r} field"
SUGGESTIONS = 20                 # sentences the page offers to read aloud to a model that needs the text
DEFAULT_TOP_K = 5
FORM_OVERHEAD_BYTES = 16 << 10   # multipart boundaries and headers around the file
MAX_CONNECTIONS = 64             # uvicorn answers 503 beyond this many open connections
WEB_DIR = Path(__file__).with_name("web")
# Declared content type -> suffix of the server's temporary file (decoders look at content, not names).
SUFFIXES = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
            "audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/flac": ".flac", "audio/x-flac": ".flac",
            "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/webm": ".webm", "audio/mp4": ".m4a",
            "audio/x-m4a": ".m4a", "audio/aac": ".aac", "video/webm": ".webm", "video/ogg": ".ogg",
            "application/octet-stream": ".audio"}
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class RequestError(Exception):
    """A request the server refuses: HTTP status, a one-line message and a short reason code."""

    def __init__(self, status: int, message: str, reason: str):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def audio_suffix(content_type: str | None) -> str:
    """The temporary file's suffix for a declared part type; RequestError(415) for a non-audio type."""
    base = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    if base in SUFFIXES:
        return SUFFIXES[base]
    if base.startswith("audio/"):
        return ".audio"
    raise RequestError(415, f"the upload is {base}, not audio: send a wav, mp3, flac, ogg or webm clip", "not_audio")


def failure_reason(message: str) -> str:
    """A short code for why a clip was unusable, so the page can say it plainly."""
    if message.startswith("too short"):
        return "too_short"
    if message.startswith("silent"):
        return "silent"
    if message.startswith("no speech"):
        return "no_speech"
    return "undecodable"


class Predictor:
    """The model, loaded once, and one thread that uses it: requests queue, none share a forward pass."""

    def __init__(self, model: str | Path, top_k: int = DEFAULT_TOP_K):
        from accent.modelfile import model_card  # torch: kept out of start-up (`accent --help` lists serve)

        self.model_path = Path(model)
        self.run = load_model(model)
        self.card = {**model_card(self.run), "top_k": min(top_k, len(self.run.labels)),
                     "suggestions": suggestions() if self.run.fitted.needs_text else []}
        self.top_k = self.card["top_k"]
        self.tmpdir = Path(tempfile.mkdtemp(prefix="accent-serve-"))
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accent-predict")

    def predict_bytes(self, data: bytes, suffix: str, display_name: str, text: str | None = None) -> list[dict]:
        """Score one uploaded clip (runs in the inference thread); RequestError(422) if unusable, 400
        when the model needs the transcript and ``text`` is empty."""
        if self.run.fitted.needs_text and not text:
            raise RequestError(400, f"{display_name}: this model needs the transcript: give {TEXT_HINT}", "needs_text")
        fd, tmp = tempfile.mkstemp(suffix=suffix, dir=self.tmpdir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            ((_, probs, match, error),) = list(score_paths(self.run, [tmp], texts=[text], hint=TEXT_HINT))
        finally:
            Path(tmp).unlink(missing_ok=True)
        if probs is None:
            raise RequestError(422, f"could not use this clip: {error}", failure_reason(error))
        return [result_entry(display_name, probs, None, self.run.fitted, self.top_k, match)]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def suggestions() -> list[str]:
    """Sentences to read aloud to a model that needs the transcript (the packaged sentence list)."""
    from accent.corpora.synthetic import read_sentences  # the corpus generator: only a model that needs the text

    return read_sentences()[:SUGGESTIONS]


def form_text(value) -> str | None:
    """The form's text field: plain text (a file there is refused: the text is never read as a path),
    printable, at most :data:`MAX_TEXT_CHARS`; None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(400, f"the {TEXT_FIELD!r} field is the transcript as plain text, not a file", "bad_text")
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(text) > MAX_TEXT_CHARS:
        raise RequestError(400, f"the {TEXT_FIELD!r} field holds {len(text)} characters; at most {MAX_TEXT_CHARS}",
                           "bad_text")
    return text or None


def display_name(filename: str | None) -> str:
    """The client's file name for display only: base name, printable, at most 80 characters."""
    name = Path((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())[:80]
    return name or "upload"


def capped_receive(receive, limit: int, declared: str | None):
    """The ASGI receive channel of a request body that may hold at most ``limit`` bytes (plus the
    form's framing): RequestError(413) on a larger Content-Length, or as soon as more arrives."""
    cap = limit + FORM_OVERHEAD_BYTES
    too_large = RequestError(413, f"upload larger than the limit of {limit / 1e6:.1f} MB: send a shorter clip",
                             "too_large")
    if declared and declared.isdigit() and int(declared) > cap:
        raise too_large
    total = 0

    async def receive_capped():
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > cap:
                raise too_large
        return message
    return receive_capped


def create_app(model: str | Path, max_upload_bytes: int = int(MAX_UPLOAD_MB * 1e6), timeout_s: float = TIMEOUT_S,
               top_k: int = DEFAULT_TOP_K):
    """The Starlette application for one model (loaded here, once)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    predictor = Predictor(model, top_k)

    def refuse(err: RequestError) -> JSONResponse:
        return JSONResponse({"error": err.message, "reason": err.reason}, status_code=err.status)

    async def read_upload(request) -> tuple[bytes, str, str, str | None]:
        """(clip bytes, temp-file suffix, display name, transcript or None) of a valid upload, or RequestError."""
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise RequestError(415, f"send the clip as multipart/form-data in a field named {UPLOAD_FIELD!r}",
                               "not_multipart")
        request = Request(request.scope, capped_receive(request.receive, max_upload_bytes,
                                                        request.headers.get("content-length")))
        try:
            form = await request.form(max_files=1, max_fields=8)
        except (HTTPException, MultiPartException) as exc:
            detail = getattr(exc, "detail", None) or getattr(exc, "message", "")
            raise RequestError(400, f"malformed multipart form: {detail}", "bad_form") from None
        try:
            upload = form.get(UPLOAD_FIELD)
            if upload is None or isinstance(upload, str):
                raise RequestError(400, f"no file in the form field {UPLOAD_FIELD!r}: attach the clip as {UPLOAD_FIELD}",
                                   "missing_field")
            suffix = audio_suffix(upload.content_type)
            text = form_text(form.get(TEXT_FIELD))
            data = await upload.read()
        finally:
            await form.close()  # the parser's spooled temporary file
        if len(data) == 0:
            raise RequestError(400, "the upload is empty (0 bytes): choose or record a clip", "empty")
        if len(data) > max_upload_bytes:
            raise RequestError(413, f"upload larger than the limit of {max_upload_bytes / 1e6:.1f} MB: "
                               "send a shorter clip", "too_large")
        return data, suffix, display_name(upload.filename), text

    async def predict(request):
        try:
            data, suffix, name, text = await read_upload(request)
            job = asyncio.get_running_loop().run_in_executor(predictor.executor, predictor.predict_bytes,
                                                             data, suffix, name, text)
            try:
                result = await asyncio.wait_for(job, timeout_s)
            except asyncio.TimeoutError:
                raise RequestError(504, f"scoring took longer than {timeout_s:g} s: try a shorter clip or later",
                                   "timeout") from None
        except RequestError as err:
            return refuse(err)
        return JSONResponse(result)

    async def model_card(request):
        return JSONResponse(predictor.card)

    async def healthz(request):
        return JSONResponse({"status": "ok", "model": predictor.card.get("name"), "classes": len(predictor.run.labels)})

    async def index(request):
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    async def server_error(request, exc):
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server is still running",
                             "reason": "internal"}, status_code=500)

    @asynccontextmanager
    async def lifespan(app):
        yield
        predictor.close()

    class SecurityHeaders:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            async def send_with_headers(message):
                if message["type"] == "http.response.start":
                    message.setdefault("headers", [])
                    message["headers"] = list(message["headers"]) + [
                        (k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                await send(message)
            await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)

    async def no_favicon(request):
        return Response(status_code=204)

    routes = [Route("/", index), Route("/favicon.ico", no_favicon), Route("/api/predict", predict, methods=["POST"]),
              Route("/api/model", model_card), Route("/healthz", healthz),
              Mount("/static", StaticFiles(directory=WEB_DIR), name="static")]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)], lifespan=lifespan,
                    exception_handlers={500: server_error})
    app.state.predictor = predictor
    return app


def serve(model: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, max_upload_mb: float = MAX_UPLOAD_MB,
          timeout_s: float = TIMEOUT_S) -> None:
    try:
        import uvicorn
    except ImportError:
        raise AccentError("accent serve needs starlette, uvicorn and python-multipart: "
                          "pip install -e '.[serve]'") from None
    if max_upload_mb <= 0 or timeout_s <= 0:
        raise AccentError("--max-upload-mb and --timeout-s must be positive")
    app = create_app(model, int(max_upload_mb * 1e6), timeout_s)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"accent serve: listening on {host}: anyone who can reach this machine on port {port} can use the "
              "model; put it behind a reverse proxy with TLS for the microphone to work", file=sys.stderr)
    print(f"accent serve: http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}  (Ctrl-C to stop)",
          file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="info", limit_concurrency=MAX_CONNECTIONS)


def _run_cli(args) -> int:
    serve(args.model, args.host, args.port, args.max_upload_mb, args.timeout_s)
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("serve", help="try a model in a browser: upload or record a clip (and a JSON API)",
                              description="A local web page and JSON API for one model: POST /api/predict "
                                          "(multipart field 'audio'), GET /api/model, GET /healthz.")
    p.add_argument("--model", required=True, help="RUNDIR of a trained run or a NAME.accent model file")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to bind (default {DEFAULT_HOST}: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
                   help=f"largest accepted upload (default {MAX_UPLOAD_MB:g} MB)")
    p.add_argument("--timeout-s", type=float, default=TIMEOUT_S,
                   help=f"time limit per request (default {TIMEOUT_S:g} s)")
    p.set_defaults(func=_run_cli)
