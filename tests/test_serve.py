"""`accent serve`: the JSON API refuses bad uploads with a status and one line, answers concurrent
requests correctly and stays up; a real browser (Chromium through Playwright) shows what `accent predict` says."""
from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from accent.modelfile import export_model
from accent.predict import predict_files
from conftest import write_clip

pytest.importorskip("starlette", reason="accent serve needs the serve extra (pip install -e '.[serve]')")
pytest.importorskip("multipart", reason="accent serve needs python-multipart (the serve extra)")
uvicorn = pytest.importorskip("uvicorn", reason="accent serve needs the serve extra (pip install -e '.[serve]')")

from accent.serve import WEB_DIR, create_app  # noqa: E402

LIMIT = 200_000  # bytes: small, so the too-large case is cheap
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a beeping fake microphone


@contextlib.contextmanager
def running(app):
    """uvicorn serving ``app`` in a thread on a free localhost port; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def model(tiny_runs, tmp_path_factory) -> Path:
    return export_model(tiny_runs["network"], tmp_path_factory.mktemp("served") / "tiny.accent")


@pytest.fixture(scope="module")
def app(model):
    return create_app(model, max_upload_bytes=LIMIT, timeout_s=60)


@pytest.fixture(scope="module")
def server(app):
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("upload")
    clips = {f"voice{k}": write_clip(folder / f"voice{k}.wav", 1.0 + 0.4 * k, seed=k) for k in range(4)}
    clips["short"] = write_clip(folder / "short.wav", 0.2, seed=1)
    clips["silent"] = write_clip(folder / "silent.wav", 2.0, silent=True)
    clips["noise"] = folder / "noise.wav"   # steady white noise: no speech, whatever the model says
    sf.write(clips["noise"], np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32), 16000)
    clips["garbage"] = folder / "garbage.wav"
    clips["garbage"].write_bytes(b"RIFF????WAVEnot really" * 20)
    return clips


def multipart(fields: list[tuple[str, str, str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    for name, filename, content_type, data in fields:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                 f"Content-Type: {content_type}\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(url: str, body: bytes | None = None, content_type: str | None = None) -> tuple[int, object, dict]:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.loads(res.read()), dict(res.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def upload(server: str, data: bytes, filename: str = "clip.wav", content_type: str = "audio/wav", field: str = "audio"):
    body, ctype = multipart([(field, filename, content_type, data)])
    return request(f"{server}/api/predict", body, ctype)


def test_health_card_and_an_offline_page(server, tiny_runs):
    status, health, _ = request(f"{server}/healthz")
    assert status == 200 and health["status"] == "ok"
    status, card, headers = request(f"{server}/api/model")
    run_json = json.loads((tiny_runs["network"] / "run.json").read_text())
    assert status == 200 and card["classes"] == run_json["labels"]
    assert card["test"]["balanced_accuracy"] == run_json["metrics"]["test"]["balanced_accuracy"]
    assert len(card["test"]["interval"]) == 2 and card["training"]["n_train_recordings"] == run_json["n_train_recordings"]
    assert "default-src 'self'" in headers["content-security-policy"]
    with urllib.request.urlopen(f"{server}/") as res:
        page = res.read().decode()
    assert '<script src="/static/app.js"' in page
    for asset in WEB_DIR.iterdir():  # nothing fetched from elsewhere: the page works offline
        text = asset.read_text()
        assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text


def test_predict_returns_what_accent_predict_json_returns(server, model, clips):
    data = clips["voice1"].read_bytes()
    status, result, _ = upload(server, data, filename="../../etc/../voice1.wav")
    (expected,) = predict_files(model, [clips["voice1"]], k=5)
    assert status == 200 and len(result) == 1
    assert result[0]["path"] == "voice1.wav"                     # the client's name, shown, never a path
    assert set(result[0]) == set(expected) == {"path", "top", "probabilities", "passage_match", "off_passage"}
    assert result[0]["passage_match"] is None and result[0]["off_passage"] is False   # no notion of a passage
    assert [t["label"] for t in result[0]["top"]] == [t["label"] for t in expected["top"]]
    assert result[0]["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)


@pytest.mark.parametrize("case,status,reason,words", [
    ("empty", 400, "empty", "empty"),
    ("too_large", 413, "too_large", "limit"),
    ("not_audio", 415, "not_audio", "text/plain"),
    ("missing_field", 400, "missing_field", "'audio'"),
    ("not_multipart", 415, "not_multipart", "multipart/form-data"),
    ("malformed", 400, "bad_form", "malformed"),
    ("undecodable", 422, "undecodable", "cannot decode"),
    ("too_short", 422, "too_short", "too short"),
    ("silent", 422, "silent", "silent"),
    ("noise", 422, "no_speech", "no speech found"),
])
def test_bad_uploads_get_a_status_and_one_line(case, status, reason, words, server, app, clips):
    voice = clips["voice0"].read_bytes()
    if case == "empty":
        answer = upload(server, b"")
    elif case == "too_large":
        answer = upload(server, voice * (LIMIT // len(voice) + 2))
    elif case == "not_audio":
        answer = upload(server, b"hello " * 100, filename="notes.txt", content_type="text/plain")
    elif case == "missing_field":
        answer = upload(server, voice, field="file")
    elif case == "not_multipart":
        answer = request(f"{server}/api/predict", voice, "audio/wav")
    elif case == "malformed":  # no boundary: the body cannot be split into parts
        answer = request(f"{server}/api/predict", voice, "multipart/form-data")
    else:
        answer = upload(server, clips[{"undecodable": "garbage", "too_short": "short", "silent": "silent",
                                       "noise": "noise"}[case]].read_bytes())
    got_status, body, _ = answer
    assert (got_status, body["reason"]) == (status, reason), body
    assert words in body["error"] and "\n" not in body["error"]
    assert str(app.state.predictor.tmpdir) not in body["error"]  # the server's temp name never leaks
    assert list(app.state.predictor.tmpdir.iterdir()) == []     # and the upload is gone
    assert request(f"{server}/healthz")[0] == 200


def test_twenty_requests_at_once_each_get_their_own_answer(server, model, clips):
    names = [f"voice{k % 4}" for k in range(14)] + ["short", "silent", "garbage"] * 2
    expected = {name: predict_files(model, [clips[name]], k=5)[0] for name in {n for n in names if "voice" in n}}
    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(pool.map(lambda name: upload(server, clips[name].read_bytes(), f"{name}.wav"), names))
    for name, (status, body, _) in zip(names, answers):
        if name in expected:
            assert status == 200 and body[0]["path"] == f"{name}.wav"
            assert [t["label"] for t in body[0]["top"]] == [t["label"] for t in expected[name]["top"]]
            assert body[0]["probabilities"] == pytest.approx(expected[name]["probabilities"], abs=1e-6)
        else:
            assert status == 422 and body["reason"] == {"short": "too_short", "silent": "silent",
                                                         "garbage": "undecodable"}[name]
    assert request(f"{server}/healthz")[0] == 200


def test_a_slow_request_times_out_and_the_server_stays_up(model, clips, monkeypatch):
    app = create_app(model, timeout_s=0.3)
    predictor = app.state.predictor
    fast = predictor.predict_bytes
    monkeypatch.setattr(predictor, "predict_bytes", lambda *a: time.sleep(1.0) or fast(*a))
    with running(app) as url:
        status, body, _ = upload(url, clips["voice0"].read_bytes())
        assert (status, body["reason"]) == (504, "timeout") and "0.3 s" in body["error"]
        assert request(f"{url}/healthz")[0] == 200


# ------------------------------------------------------------------------------ a real browser
def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_browser_upload_shows_the_top_class_of_accent_predict(server, model, clips):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine: apt-get install chromium (scripts/setup.sh does)")
    (expected,) = predict_files(model, [clips["voice2"]], k=5)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(permissions=["microphone"]).new_page()
            external = []
            page.on("request", lambda r: None if r.url.startswith((server, f"blob:{server}")) else external.append(r.url))
            page.goto(server)
            page.wait_for_selector("#card .chip")
            assert page.locator("#card .chip").all_inner_texts() == request(f"{server}/api/model")[1]["classes"]
            assert "balanced accuracy" in page.inner_text("#card")
            page.set_input_files("#file", str(clips["voice2"]))
            page.click("#predict")
            page.wait_for_selector("#result-panel:not([hidden])", timeout=30_000)
            assert page.inner_text("#top-class") == expected["top"][0]["label"]
            assert page.locator("#bars .bar-row").count() == len(expected["top"])
            page.set_input_files("#file", str(clips["silent"]))
            page.click("#predict")
            page.wait_for_selector("#message.warn", timeout=30_000)
            assert "silent" in page.inner_text("#message")

            page.click("#record")                 # MediaRecorder -> decoded in the page -> uploaded as wav
            page.wait_for_selector("#record.recording")
            page.wait_for_timeout(2000)
            page.click("#record")
            page.wait_for_selector("#result-panel:not([hidden])", timeout=30_000)
            assert page.inner_text("#result-name") == "for recording.wav"
            assert page.inner_text("#top-class") in request(f"{server}/api/model")[1]["classes"]
            assert external == []
        finally:
            browser.close()
