"""A real `streamlit run` server driven by a real (headless) Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakescope.registry import Registry
from fakescope.store import PredictionStore
from tests.conftest import REPO_ROOT, build_vit_model, encode, photo_like

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHARED_SCREENSHOT = Path("/tmp/fakescope-screenshot.png")
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`streamlit run streamlit_app/app.py` on a free loopback port, on a temp registry and log."""
    registry = Registry(tmp_path / "registry")
    model = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
    (model / "README.md").write_text("# Test model\n\n## Limits\n\nRandom weights: a coin toss.\n")
    registry.register(model, activate=True)
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")},
        "FAKESCOPE_REGISTRY_DIR": str(registry.root),
        "FAKESCOPE_DATA_DIR": str(data_dir),
        "FAKESCOPE_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    port = _free_port()
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "streamlit_app/app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield url, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_browser_upload_good_and_bad_file(server: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    url, data_dir = server
    good = tmp_path / "street.jpg"
    good.write_bytes(encode(photo_like(320, 240), quality=90))
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"these are notes, not a picture")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            # A deep link as the fresh server's first request still gets the app's navigation
            # (a `pages/` folder would make Streamlit run the page file alone).
            page.goto(f"{url}/monitor")
            expect(page.get_by_role("heading", name="Monitor")).to_be_visible(timeout=60_000)
            nav = page.get_by_test_id("stSidebarNav")
            expect(nav.get_by_role("link", name="Detect")).to_be_visible()
            expect(nav.get_by_role("link", name="app")).to_have_count(0)

            page.goto(url)
            expect(page.get_by_role("heading", name="Detect")).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").set_input_files([str(good), str(bad)])

            expect(page.get_by_text("Fake probability:")).to_be_visible(timeout=60_000)
            expect(page.get_by_text("was not scored")).to_be_visible(timeout=30_000)
            expect(page.get_by_text("looks like plain text")).to_be_visible()
            expect(page.get_by_text("Random weights: a coin toss.")).to_be_visible()
            expect(page.get_by_text("2 images:")).to_be_visible()
            time.sleep(1)  # let images finish painting before the screenshot
            screenshot = tmp_path / "detect.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000
            shutil.copyfile(screenshot, SHARED_SCREENSHOT)

            page.get_by_role("link", name="Monitor").click()
            expect(page.get_by_text("Latency over time")).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "monitor.png"), full_page=True)
        finally:
            browser.close()

    store = PredictionStore(f"sqlite:///{data_dir / 'predictions.db'}")
    predictions, rejections = store.predictions(), store.rejections()
    assert list(predictions["input_name"]) == ["street.jpg"]
    assert list(rejections["input_name"]) == ["notes.txt"]
    assert set(predictions["source"]) | set(rejections["source"]) == {"dashboard"}
