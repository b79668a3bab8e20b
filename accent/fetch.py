"""Fetching and unpacking corpora, whatever the corpus: resumable HTTP, checksums, safe extraction.

Why the care: corpora are gigabytes fetched over flaky links, so every download grows a ``.part``
file that the next attempt (or the next run) resumes with an HTTP Range request, and is renamed into
place only when complete. Archives come from outside, so every member is checked before a byte is
written; extraction goes to a temporary folder beside the target, which appears by one rename with a
marker file already inside it: the target is never half-extracted, and a rerun does nothing.
Only the standard library talks HTTP (urllib), with a User-Agent, timeouts and a polite rate limit.
The corpus-specific downloads (:mod:`accent.download`) are built on these functions.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import lzma
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from accent.progress import Progress as tqdm  # plain lines when stderr is not a terminal

from accent import __version__
from accent.errors import AccentError
from accent.fileio import write_json_atomic

USER_AGENT = f"accent/{__version__} (accent-classification research; resumable, rate-limited downloader)"
TIMEOUT_S = 30.0
CHUNK_BYTES = 1 << 20
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
DEFAULT_RATE = 1.0  # requests per second: the archive is a university server, not a CDN
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # a file name that cannot climb out of a folder
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

MARKER = ".accent-download.json"
MARKER_FORMAT = "accent-download/1"
PART_SUFFIX = ".part"
REJECTED_SUFFIX = ".rejected"
EXTRACT_PREFIX = ".extract-"
DOWNLOADS_DIR = "downloads"  # default home of fetched archives: beside the target, not inside it

# What a damaged archive raises while being read (not disk-full and other OSErrors of ours).
CORRUPT_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile,
                          lzma.LZMAError)


class RemoteMissing(AccentError):
    """The server answered 404: the file is not there, so retrying cannot help."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry a failing request, waiting ``backoff_s * 2**(k-1)`` before retry k."""

    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S

    def delay(self, attempt: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1))


class RateLimiter:
    """Spaces requests at least ``1/rate`` seconds apart, retries included."""

    def __init__(self, rate: float):
        if not rate > 0:
            raise AccentError(f"--rate must be a positive number of requests per second, got {rate}")
        self.interval = 1.0 / rate
        self._next = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


# ---------------------------------------------------------------------------------------------- HTTP

def fetch(url: str, dest: str | Path, *, policy: RetryPolicy = RetryPolicy(), limiter: RateLimiter | None = None,
          timeout: float = TIMEOUT_S, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming it; returns ``dest``.

    An existing ``dest`` is complete by construction (only finished files are renamed into place), so
    it is returned without a request. Connection errors, timeouts, 429 and 5xx answers are retried
    with exponential backoff, keeping the bytes already received; an attempt that received bytes
    resets the count, so a link that drops every few minutes still finishes. A 404 raises
    :class:`RemoteMissing` at once; other errors raise :class:`AccentError` naming the URL.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    shown = public_url(url)
    failures = 0
    bar = tqdm(desc=dest.name, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
               disable=not progress, leave=False)
    try:
        while True:
            if limiter is not None:
                limiter.wait()
            before = _size(part)
            try:
                problem = _fetch_once(url, part, timeout, bar)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 404:
                    raise RemoteMissing(f"{shown} not found (HTTP 404)") from None
                if not _retryable(exc.code):
                    raise AccentError(f"{shown}: HTTP {exc.code} {exc.reason}; check the URL "
                                      "(a signed URL may have expired: get a fresh one and rerun)") from None
                problem = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                problem = _describe(exc)
            if problem is None:
                break
            if _size(part) > before:
                failures = 0
            failures += 1
            if failures > policy.retries:
                raise AccentError(f"could not download {shown}: {problem} ({failures} tries in a row); "
                                  f"rerun to resume from {part}")
            time.sleep(policy.delay(failures))
    finally:
        bar.close()
    part.replace(dest)
    _validator_file(part).unlink(missing_ok=True)
    return dest


def _fetch_once(url: str, part: Path, timeout: float, bar: tqdm) -> str | None:
    """One request appending to ``part`` from its current size: None when complete, else why not."""
    offset = _size(part)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    validator = _validator_file(part)
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator.is_file():  # resume only if the remote file is still the one we started
            headers["If-Range"] = validator.read_text(encoding="utf-8").strip()
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        total = _range_total(exc.headers.get("Content-Range"))
        exc.close()
        if total == offset:  # the last run received every byte but stopped before the rename
            return None
        part.unlink()
        return f"the partial file ({offset} bytes) does not fit the remote one ({total} bytes); restarting"
    with response:
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                return f"the server sent bytes from {start} instead of {offset}; restarting"
            mode = "ab"
        else:  # 200: the whole file (Range ignored, or If-Range says it changed); restart cleanly
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            _remember_validator(validator, response.headers)
        bar.reset(total=total)
        bar.update(offset)
        with open(part, mode) as out:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
    size = _size(part)
    if total is None or size == total:  # without a length, the end of the stream is the end of the file
        return None
    if size > total:
        part.unlink()
        return f"received {size} bytes, more than the announced {total}; restarting"
    return f"the connection closed after {size} of {total} bytes"


def _validator_file(part: Path) -> Path:
    return part.with_name(part.name + ".validator")


def _remember_validator(path: Path, headers) -> None:
    """Keep the strong ETag (or Last-Modified) of a download we start, for If-Range on resume, so
    a remote file that changed in between is downloaded again instead of spliced onto old bytes."""
    etag = headers.get("ETag")
    value = etag if etag and not etag.startswith("W/") else headers.get("Last-Modified")
    if value:
        path.write_text(value, encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def _retryable(code: int) -> bool:
    return code == 429 or code >= 500


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or exc}"


def public_url(url: str) -> str:
    """The URL without its query string: signed URLs carry credentials that must not reach logs."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _parse_content_range(value: str | None) -> tuple[int, int | None]:
    """``bytes START-END/TOTAL`` -> (START, TOTAL or None when the total is ``*``)."""
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        raise AccentError(f"the server answered a range request with a bad Content-Range {value!r}")
    total = match.group(3)
    return int(match.group(1)), (int(total) if total != "*" else None)


def _range_total(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def is_url(value: str) -> bool:
    return urllib.parse.urlsplit(value).scheme in ("http", "https")


# --------------------------------------------------------------------------------------- checksums

def sha256_file(path: str | Path, progress: bool = True) -> str:
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f, tqdm(total=_size(path), desc=f"sha256 {path.name}", unit="B", unit_scale=True,
                                    unit_divisor=1024, file=sys.stderr, disable=not progress, leave=False) as bar:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def normalise_sha256(value: str | None) -> str | None:
    """Lower-case hex, checked up front: a typo should fail in a second, not after hashing 80 GB."""
    if value is None:
        return None
    value = value.strip().lower()
    if not SHA256_HEX.fullmatch(value):
        raise AccentError(f"--sha256 {value!r} is not 64 hexadecimal digits: copy it again from the download page")
    return value


def verify_archive(path: Path, sha256: str | None = None, size: int | None = None,
                   progress: bool = True) -> tuple[str, int]:
    """(sha256, size) of ``path``; AccentError when they differ from the expected values given."""
    sha256 = normalise_sha256(sha256)
    nbytes = _size(path)
    if size is not None and nbytes != size:
        raise AccentError(f"{path} has {nbytes} bytes, expected {size} (--size): the file is partial or not the "
                          "expected archive")
    digest = sha256_file(path, progress)
    if sha256 and digest != sha256:
        raise AccentError(f"{path} has sha256 {digest}, expected {sha256} (--sha256): the file is "
                          "corrupt or not the expected archive")
    return digest, nbytes


# ------------------------------------------------------------------------------------ safe extraction

def _name_problem(name: str) -> str | None:
    """Why an archive path would land outside the target folder, or None when it stays inside."""
    norm = name.replace("\\", "/")
    if not norm.strip("/."):
        return None if norm in (".", "./") else "an empty name"
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "an absolute path"
    if ".." in norm.split("/"):
        return "a '..' component"
    return None


def _symlink_problem(member: str, target: str) -> str | None:
    """A symlink's target, read from the member's folder, must stay inside the archive's root."""
    target = target.replace("\\", "/")
    if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
        return f"a link to an absolute path ({target})"
    parts = list(PurePosixPath(member).parent.parts)
    for piece in target.split("/"):
        if piece == "..":
            if not parts:
                return f"a link leaving the folder ({target})"
            parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return None


def _refuse(archive: Path, member: str, problem: str) -> AccentError:
    return AccentError(f"refusing to extract {archive}: member {member!r} has {problem}; "
                       "nothing was extracted (the archive is unsafe or not the expected one)")


def check_tar(tf: tarfile.TarFile, archive: Path) -> None:
    """Refuse the archive unless every member is a plain file, folder or link that stays inside.

    Reading every header also reads the whole (compressed) stream, so a truncated or corrupt archive
    fails here, before anything is written. A member whose path runs through an earlier link is
    refused too: a link to ``.`` followed by ``link/../..`` would otherwise pass a name-only check.
    """
    links: set[str] = set()
    for member in tf:
        key = PurePosixPath(member.name.replace("\\", "/")).as_posix()
        problem = _name_problem(member.name)
        if problem is None and (key in links or any(p.as_posix() in links for p in PurePosixPath(key).parents)):
            problem = "a path through a link"
        if problem is None and member.issym():
            problem = _symlink_problem(key, member.linkname)
            links.add(key)
        elif problem is None and member.islnk():
            if _name_problem(member.linkname):
                problem = f"a hard link outside the folder ({member.linkname})"
            links.add(key)
        elif problem is None and not (member.isfile() or member.isdir()):
            problem = "a device or special file type"
        if problem:
            raise _refuse(archive, member.name, problem)


def check_zip(zf: zipfile.ZipFile, archive: Path) -> None:
    """Zip slip: refuse absolute names, ``..`` components, links and special files (mode in external_attr)."""
    for info in zf.infolist():
        problem = _name_problem(info.filename)
        mode = info.external_attr >> 16
        if problem is None and stat.S_ISLNK(mode):
            problem = "a symbolic link"
        elif problem is None and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            problem = "a device or special file type"
        if problem:
            raise _refuse(archive, info.filename, problem)


def extract_archive(archive: Path, dest: Path) -> None:
    """Check every member of a tar (any compression) or zip archive, then extract it into ``dest``."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                check_zip(zf, archive)
                zf.extractall(dest)  # it also strips absolute and '..' parts: a second guard
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                check_tar(tf, archive)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second, independent guard
                    tf.extractall(dest, filter="data")
                else:
                    tf.extractall(dest)
        else:
            raise AccentError(f"{archive} is neither a tar nor a zip archive (or its start is damaged): "
                              "download it again")
    except CORRUPT_ARCHIVE_ERRORS as exc:
        raise AccentError(f"{archive} is damaged or unsafe ({type(exc).__name__}: {exc}); nothing was extracted: "
                          "download it again") from None


def install_archive(archive: Path, out: Path, marker: dict, arrange) -> dict:
    """Extract ``archive`` so that ``out`` appears complete, with ``marker`` inside, or not at all.

    Extraction goes to a temporary folder beside ``out``; ``arrange(tmp)`` returns the folder that
    becomes ``out`` (and may add entries to ``marker``), the marker is written into it, and one
    rename puts it in place. Any failure leaves ``out`` untouched and removes the temporary folder.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}{EXTRACT_PREFIX}*"):  # left by a killed run of ours
        shutil.rmtree(stale, ignore_errors=True)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AccentError(f"{out} already exists and is not empty, and has no {MARKER}: remove it or choose "
                          "another --out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{EXTRACT_PREFIX}", dir=out.parent))
    try:
        extract_archive(archive, tmp)
        root = arrange(tmp, marker)
        write_json_atomic(root / MARKER, marker)
        if out.exists():
            out.rmdir()
        root.replace(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return marker


def read_marker(out: Path) -> dict | None:
    path = out / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise AccentError(f"{path} is damaged: remove {out} and rerun to extract again") from None


def done_marker(out: Path, sha256: str | None, corpus: str) -> dict | None:
    """The marker of an earlier complete extraction into ``out`` (so there is nothing to do), or None."""
    marker = read_marker(out)
    if marker is None:
        return None
    if sha256 and marker.get("sha256") != sha256:
        raise AccentError(f"{out} already holds another archive (sha256 {marker.get('sha256')}): remove {out} "
                          "to replace it")
    print(f"{corpus}: {out} is already extracted ({MARKER}); nothing to do")
    return marker


def obtain_archive(archive: str, out: Path, download_dir: Path | None, policy: RetryPolicy,
                    timeout: float, default_name: str) -> tuple[Path, bool]:
    """(local path of the archive, whether we downloaded it): a URL is fetched into the downloads folder."""
    if not is_url(archive):
        path = Path(archive).expanduser()
        if not path.is_file():
            raise AccentError(f"archive {path} not found: give the path of the downloaded file or its http(s) URL")
        return path, False
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(archive).path)).name
    if not SAFE_NAME.match(name):
        name = default_name
    folder = download_dir or out.parent / DOWNLOADS_DIR
    return fetch(archive, folder / name, policy=policy, timeout=timeout), True


def verify_or_reject(path: Path, downloaded: bool, sha256: str | None, size: int | None) -> tuple[str, int]:
    """Verify; a downloaded file that fails is renamed ``.rejected`` so a rerun downloads afresh."""
    try:
        return verify_archive(path, sha256, size)
    except AccentError as exc:
        if not downloaded:
            raise
        rejected = path.with_name(path.name + REJECTED_SUFFIX)
        path.replace(rejected)
        raise AccentError(f"{exc}; kept as {rejected} (delete it; a rerun downloads again)") from None


def human_size(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{nbytes} B"
        size /= 1024
    return f"{nbytes} B"
