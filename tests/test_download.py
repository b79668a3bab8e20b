"""Downloads against a local HTTP server on 127.0.0.1 (started here), and archive safety on tiny archives."""
from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import re
import sys
import tarfile
import threading
import types
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accent import cli, download
from accent.download import download_commonvoice, download_saa_archive, download_saa_speakers
from accent.fetch import MARKER, RateLimiter, RemoteMissing, RetryPolicy, fetch
from accent.errors import AccentError

FAST = RetryPolicy(retries=3, backoff_s=0.001)
FAST_ARGS = ["--backoff", "0.001", "--retries", "3"]


# ------------------------------------------------------------------------------------ test server

@dataclass
class Route:
    data: bytes = b""
    status: int | None = None       # answer this status every time (404, 500...)
    drop_after: int | None = None   # on the next request, close the connection after this many body bytes
    ignore_range: bool = False      # answer 200 with the whole file even when a range is asked for
    etag: str | None = None         # send this ETag and honour If-Range against it


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        path = self.path.split("?")[0]
        rng = self.headers.get("Range")
        self.server.log.append((path, rng, self.headers.get("User-Agent")))
        route = self.server.routes.get(path)
        if route is None or route.status is not None:
            self.send_error(route.status if route else 404)
            return
        data, start = route.data, 0
        if_range = self.headers.get("If-Range")
        if rng and if_range is not None and if_range != route.etag:
            rng = None  # the file changed since the client started: send all of it (RFC 9110, If-Range)
        if rng and not route.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        if route.etag:
            self.send_header("ETag", route.etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route.drop_after is not None:
            body, route.drop_after = body[:route.drop_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class LocalServer:
    def __init__(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes, self.httpd.log = {}, []
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def add(self, path: str, **kwargs) -> str:
        self.httpd.routes[path] = Route(**kwargs)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def requests(self, path: str | None = None) -> list[tuple]:
        return [r for r in self.httpd.log if path is None or r[0] == path]


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 must be reached directly
    srv = LocalServer()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


# ------------------------------------------------------------------------------------ tiny archives

def payload(n: int, seed: int = 1) -> bytes:
    return bytes((i * 131 + seed * 7) % 251 for i in range(n))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tf.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tf.addfile(info, io.BytesIO(entry[1]))
    return buf.getvalue()


def cv_tarball() -> bytes:
    top = "cv-corpus-17.0-2024-03-15/en"
    return make_tar([(f"{top}/validated.tsv", b"client_id\tpath\tsentence\taccents\nabc\tc1.mp3\thi\tIndia\n"),
                     (f"{top}/clips/c1.mp3", payload(5000))])


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ------------------------------------------------------------------------------------ fetch

def test_fetch_resumes_after_the_connection_drops(server, tmp_path):
    data = payload(300_000)
    url = server.add("/big.bin", data=data, drop_after=120_000)
    out = fetch(url, tmp_path / "big.bin", policy=FAST, progress=False)
    assert sha(out.read_bytes()) == sha(data)
    assert not (tmp_path / "big.bin.part").exists()
    log = server.requests("/big.bin")
    assert [r[1] for r in log] == [None, "bytes=120000-"]  # the second request asked only for the rest
    assert all(r[2].startswith("accent/") for r in log)


def test_fetch_resumes_a_part_file_left_by_an_interrupted_run(server, tmp_path):
    data = payload(50_000)
    url = server.add("/a.bin", data=data)
    write(tmp_path / "a.bin.part", data[:20_000])
    fetch(url, tmp_path / "a.bin", policy=FAST, progress=False)
    assert (tmp_path / "a.bin").read_bytes() == data
    assert [r[1] for r in server.requests()] == ["bytes=20000-"]
    fetch(url, tmp_path / "a.bin", policy=FAST, progress=False)  # complete: no new request
    assert len(server.requests()) == 1


def test_resume_checks_the_remote_file_did_not_change(server, tmp_path):
    """If-Range: a dropped download of version 1 resumes while the ETag holds; once the remote file
    is replaced, the old partial bytes are discarded instead of spliced onto the new file."""
    v1, v2 = payload(100_000, seed=1), payload(100_000, seed=2)
    url = server.add("/f.bin", data=v1, etag='"v1"', drop_after=30_000)
    with pytest.raises(AccentError):  # no retries: the run stops with 30,000 bytes in f.bin.part
        fetch(url, tmp_path / "f.bin", policy=RetryPolicy(retries=0, backoff_s=0.001), progress=False)
    assert (tmp_path / "f.bin.part").stat().st_size == 30_000
    server.add("/f.bin", data=v2, etag='"v2"')   # the remote file changes before the rerun
    assert fetch(url, tmp_path / "f.bin", policy=FAST, progress=False).read_bytes() == v2
    assert server.httpd.log[-1][1] == "bytes=30000-"   # it asked to resume, and was told to restart
    assert not (tmp_path / "f.bin.part.validator").exists()


def test_fetch_restarts_cleanly_when_the_server_ignores_range(server, tmp_path):
    data = payload(40_000)
    url = server.add("/r.bin", data=data, ignore_range=True)
    write(tmp_path / "r.bin.part", b"x" * 10_000)  # wrong bytes: would corrupt the file if appended to
    fetch(url, tmp_path / "r.bin", policy=FAST, progress=False)
    assert (tmp_path / "r.bin").read_bytes() == data
    assert len(server.requests()) == 1  # the 200 answer replaced the part file at once


def test_fetch_404_is_missing_without_retries(server, tmp_path):
    with pytest.raises(RemoteMissing, match="404"):
        fetch(server.url("/nope.bin"), tmp_path / "nope.bin", policy=FAST, progress=False)
    assert len(server.requests()) == 1
    assert not list(tmp_path.iterdir())


def test_fetch_500_retries_then_fails_with_one_clear_line(server, tmp_path):
    url = server.add("/broken.bin", status=500)
    with pytest.raises(AccentError) as err:
        fetch(url, tmp_path / "broken.bin", policy=FAST, progress=False)
    message = str(err.value)
    assert "HTTP 500" in message and "/broken.bin" in message and "\n" not in message
    assert len(server.requests()) == FAST.retries + 1
    assert not (tmp_path / "broken.bin").exists()


def test_rate_limiter_spaces_requests():
    import time
    limiter = RateLimiter(50.0)
    start = time.monotonic()
    for _ in range(6):
        limiter.wait()
    assert time.monotonic() - start >= 5 / 50.0 * 0.95
    with pytest.raises(AccentError, match="--rate"):
        RateLimiter(0)


# ------------------------------------------------------------------------------------ Common Voice

def test_commonvoice_from_url_verifies_extracts_and_reruns_as_a_no_op(server, tmp_path, capsys):
    data = cv_tarball()
    url = server.add("/cv-corpus-17.0-2024-03-15-en.tar.gz", data=data, drop_after=len(data) // 2)
    out = tmp_path / "corpora" / "cv"
    marker = download_commonvoice(url + "?token=secret", out, sha256=sha(data), size=len(data), policy=FAST)
    root = out / "cv-corpus-17.0-2024-03-15" / "en"
    assert (root / "validated.tsv").is_file() and (root / "clips" / "c1.mp3").read_bytes() == payload(5000)
    saved = json.loads((out / MARKER).read_text())
    assert saved == marker
    assert saved["sha256"] == sha(data) and saved["size"] == len(data)
    assert saved["corpus_root"] == "cv-corpus-17.0-2024-03-15/en"
    printed = capsys.readouterr().out
    assert str(root) in printed and "secret" not in printed
    assert (tmp_path / "corpora" / "downloads" / "cv-corpus-17.0-2024-03-15-en.tar.gz").is_file()
    assert not list((tmp_path / "corpora").glob(".cv.extract-*"))

    before, n_requests = listing(out), len(server.requests())
    (root / "clips" / "c1.mp3").write_bytes(b"edited")  # a rerun must not overwrite anything
    assert cli.main(["download", "commonvoice", "--out", str(out), "--archive", url, *FAST_ARGS]) == 0
    assert len(server.requests()) == n_requests
    assert listing(out) == before and (root / "clips" / "c1.mp3").read_bytes() == b"edited"
    assert "nothing to do" in capsys.readouterr().out
    with pytest.raises(AccentError, match="another archive"):
        download_commonvoice(url, out, sha256="f" * 64, policy=FAST)


def test_commonvoice_checksum_mismatch_is_refused_and_nothing_extracted(server, tmp_path):
    data = cv_tarball()
    url = server.add("/cv.tar.gz", data=data)
    out = tmp_path / "cv"
    with pytest.raises(AccentError, match="sha256") as err:
        download_commonvoice(url, out, sha256="0" * 64, policy=FAST)
    assert "\n" not in str(err.value)
    assert not out.exists()
    assert listing(tmp_path) == ["downloads", "downloads/cv.tar.gz.rejected"]


def test_a_malformed_sha256_fails_before_any_request(server, tmp_path):
    url = server.add("/cv.tar.gz", data=cv_tarball())
    with pytest.raises(AccentError, match="64 hexadecimal"):
        download_commonvoice(url, tmp_path / "cv", sha256="abc", policy=FAST)
    assert not server.requests() and not list(tmp_path.iterdir())


def test_commonvoice_size_mismatch_on_a_local_file_is_refused(tmp_path):
    archive = write(tmp_path / "cv.tar.gz", cv_tarball())
    with pytest.raises(AccentError, match="--size"):
        download_commonvoice(str(archive), tmp_path / "cv", size=archive.stat().st_size + 1)
    assert not (tmp_path / "cv").exists() and archive.is_file()


def test_a_truncated_tarball_is_detected_before_anything_is_written(tmp_path):
    data = cv_tarball()
    archive = write(tmp_path / "cut.tar.gz", data[: len(data) * 2 // 3])
    assert cli.main(["download", "commonvoice", "--out", str(tmp_path / "cv"), "--archive", str(archive)]) == 2
    assert listing(tmp_path) == ["cut.tar.gz"]


@pytest.mark.parametrize("evil", [
    lambda outside: [("ok.txt", b"fine"), ("../escaped.txt", b"evil")],
    lambda outside: [("ok.txt", b"fine"), (str(outside / "escaped.txt"), b"evil")],
    lambda outside: [link("up", "../.."), ("ok.txt", b"fine")],
    lambda outside: [link("abs", str(outside))],
    lambda outside: [link("here", "."), link("here/up", ".."), ("here/up/escaped.txt", b"evil")],
    lambda outside: [link("hard", "../escaped.txt", tarfile.LNKTYPE)],
    lambda outside: [link("dev", "", tarfile.CHRTYPE)],
], ids=["dotdot", "absolute", "symlink-up", "symlink-absolute", "symlink-chain", "hardlink-out", "device"])
def test_unsafe_tar_members_are_refused_before_anything_is_written(tmp_path, evil):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = write(tmp_path / "in" / "evil.tar.gz", make_tar(evil(outside)))
    out = tmp_path / "target" / "cv"
    with pytest.raises(AccentError, match="refusing to extract") as err:
        download_commonvoice(str(archive), out)
    assert "\n" not in str(err.value)
    assert listing(tmp_path) == ["in", "in/evil.tar.gz", "outside", "target"]  # nothing written anywhere


# ------------------------------------------------------------------------------------ SAA

def kaggle_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


SPEAKERS = (b"age,age_onset,birthplace,filename,native_language,sex,speakerid,country,file_missing?,,,\n"
            b"24,12,\"koussi, senegal\",balanta,balanta,male,788,senegal,TRUE,,,\n"
            b"27,9,\"lagos, nigeria\",yoruba1,yoruba,female,1,nigeria,FALSE,,,\n"
            b"30,0,\"perth, australia\",english1,english,male,2,australia,FALSE,,,\n"
            b"41,15,\"lima, peru\",spanish1,spanish,female,3,peru,FALSE,,,\n"
            b"33,6,\"quito, ecuador\",spanish2,spanish,male,4,ecuador,FALSE,,,\n")


def test_saa_kaggle_zip_with_nested_folders_is_normalised(server, tmp_path):
    data = kaggle_zip({"speech-accent-archive/speakers_all.csv": SPEAKERS,
                       "speech-accent-archive/reading-passage.txt": b"Please call Stella.",
                       "speech-accent-archive/recordings/recordings/english1.mp3": payload(700, 1),
                       "speech-accent-archive/recordings/recordings/yoruba1.mp3": payload(800, 2)})
    url = server.add("/speech-accent-archive.zip", data=data)
    out = tmp_path / "saa"
    download_saa_archive(url, out, sha256=sha(data), policy=FAST)
    assert listing(out) == [MARKER, "reading-passage.txt", "recordings", "recordings/english1.mp3",
                            "recordings/yoruba1.mp3", "speakers_all.csv"]
    assert (out / "recordings" / "yoruba1.mp3").read_bytes() == payload(800, 2)
    assert json.loads((out / MARKER).read_text())["sha256"] == sha(data)


@pytest.mark.parametrize("name", ["../../escaped.mp3", "ABSOLUTE", "recordings\\..\\..\\escaped.mp3"])
def test_saa_zip_slip_is_refused(tmp_path, name):
    target = tmp_path / "deep" / "saa"
    name = str(tmp_path / "escaped.mp3") if name == "ABSOLUTE" else name
    archive = write(tmp_path / "evil.zip", kaggle_zip({"speakers_all.csv": SPEAKERS, name: b"evil"}))
    assert cli.main(["download", "saa", "--out", str(target), "--archive", str(archive)]) == 2
    assert listing(tmp_path) == ["deep", "evil.zip"]


def test_saa_zip_with_a_symlink_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("speakers_all.csv", SPEAKERS)
        info = zipfile.ZipInfo("recordings/link.mp3")
        info.external_attr = (0o120777 << 16)  # S_IFLNK
        zf.writestr(info, "/etc/passwd")
    archive = write(tmp_path / "link.zip", buf.getvalue())
    with pytest.raises(AccentError, match="symbolic link"):
        download_saa_archive(str(archive), tmp_path / "saa")
    assert not (tmp_path / "saa").exists()


def test_saa_per_speaker_download_counts_missing_and_resumes(server, tmp_path, capsys):
    speakers = write(tmp_path / "speakers_all.csv", SPEAKERS)
    server.add("/soundtracks/english1.mp3", data=payload(3000, 3))
    server.add("/soundtracks/spanish1.mp3", data=payload(4000, 4), drop_after=1000)
    server.add("/soundtracks/spanish2.mp3", status=503)
    template = server.url("/soundtracks/{filename}.mp3")  # yoruba1 is absent: 404
    out = tmp_path / "saa"
    argv = ["download", "saa", "--out", str(out), "--speakers-csv", str(speakers), "--url-template", template,
            "--rate", "1000", *FAST_ARGS]
    assert cli.main(argv) == 1  # a transient failure (503) asks for a rerun

    assert (out / "recordings" / "english1.mp3").read_bytes() == payload(3000, 3)
    assert (out / "recordings" / "spanish1.mp3").read_bytes() == payload(4000, 4)
    assert (out / "speakers_all.csv").read_bytes() == SPEAKERS
    with open(out / "missing.csv", newline="") as f:
        missing = {row["filename"]: row["reason"] for row in csv.DictReader(f)}
    assert set(missing) == {"yoruba1", "spanish2"}
    assert "404" in missing["yoruba1"] and "503" in missing["spanish2"]
    assert not server.requests("/soundtracks/balanta.mp3")  # file_missing? TRUE: never requested
    assert "2 missing" in capsys.readouterr().out

    server.httpd.routes["/soundtracks/spanish2.mp3"] = Route(data=payload(900, 5))
    n_before = len(server.requests())
    assert cli.main(argv) == 0
    new = [r[0] for r in server.requests()[n_before:]]
    assert sorted(new) == ["/soundtracks/spanish2.mp3", "/soundtracks/yoruba1.mp3"]  # complete files skipped
    with open(out / "missing.csv", newline="") as f:
        assert [row["filename"] for row in csv.DictReader(f)] == ["yoruba1"]


def test_saa_requires_exactly_one_source(tmp_path, capsys):
    assert cli.main(["download", "saa", "--out", str(tmp_path / "saa")]) == 2
    assert "--archive" in capsys.readouterr().err


def test_saa_speakers_csv_without_filename_column(tmp_path):
    bad = write(tmp_path / "speakers.csv", b"name,language\nx,y\n")
    with pytest.raises(AccentError, match="'filename'"):
        download_saa_speakers(bad, tmp_path / "saa", limiter=RateLimiter(1000), policy=FAST)


# ------------------------------------------------------------------------------------ synthetic

def test_synthetic_generates_both_layouts_with_the_seed(tmp_path, monkeypatch):
    calls = []

    def fake_generate(layout, out_dir, seed=0, speakers_per_accent=None, workers=None, executor="processes",
                      scheduler=None):
        calls.append((layout, Path(out_dir), seed, speakers_per_accent))
        Path(out_dir).mkdir(parents=True, exist_ok=True)

    fake = types.ModuleType("accent.corpora.synthetic")
    fake.generate_corpus = fake_generate
    monkeypatch.setitem(sys.modules, "accent.corpora.synthetic", fake)
    assert cli.main(["download", "synthetic", "--out", str(tmp_path), "--seed", "7"]) == 0
    assert calls == [("saa", tmp_path / "saa", 7, None), ("cv", tmp_path / "cv", 7, None)]
    calls.clear()
    assert cli.main(["download", "synthetic", "--out", str(tmp_path), "--speakers-per-accent", "2"]) == 0
    assert calls == [("saa", tmp_path / "saa", 0, 2), ("cv", tmp_path / "cv", 0, 2)]


def test_the_real_generator_accepts_the_call_we_make(tmp_path):
    synthetic = pytest.importorskip("accent.corpora.synthetic")
    for layout in download.SYNTHETIC_LAYOUTS:
        inspect.signature(synthetic.generate_corpus).bind(layout, tmp_path / layout, seed=7,
                                                           speakers_per_accent=2, workers=1, executor="processes",
                                                           scheduler=None)
        assert layout in synthetic.LAYOUTS
