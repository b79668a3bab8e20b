#!/usr/bin/env python3
"""Screenshot of the `accent serve` page after scoring one clip (docs/figures/serve_page.png).

    .venv/bin/python scripts/screenshot_serve.py --model MODEL --clip CLIP [--out docs/figures/serve_page.png]

Starts the server in this process on a free localhost port, drives the system's Chromium through
Playwright (no browser download), uploads the clip as a visitor would and saves the whole page.
"""
from __future__ import annotations

import argparse
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="RUNDIR or NAME.accent")
    parser.add_argument("--clip", required=True, help="audio file to upload")
    parser.add_argument("--out", default=str(REPO / "docs" / "figures" / "serve_page.png"))
    parser.add_argument("--width", type=int, default=900)
    args = parser.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from accent.serve import create_app

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("screenshot_serve: no chromium on PATH (apt-get install chromium)")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(args.model), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": 900}, device_scale_factor=1)
            page.goto(url)
            page.wait_for_selector("#card .chip")
            page.set_input_files("#file", args.clip)
            page.click("#predict")
            page.wait_for_selector("#result-panel:not([hidden])", timeout=60_000)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            print(f"top class {page.inner_text('#top-class')!r} -> {args.out}")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
