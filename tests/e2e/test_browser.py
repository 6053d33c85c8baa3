"""A real `streamlit run` server driven by a real (headless) Chromium through Playwright."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, SHARED_SCREENSHOT, Server
from browser_support import server  # noqa: F401 (the fixture, found by name)

from fakescope.store import PredictionStore
from tests.conftest import encode, photo_like

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_browser_upload_good_and_bad_file(server: Server, tmp_path: Path) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    url, data_dir = server.url, server.data_dir
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
