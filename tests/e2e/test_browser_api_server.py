"""Pages and API on one server (``streamlit_app/server.py``): a real browser uses the Detect page
while the API is called over HTTP; both land in one log, served by one loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import call, predict, running_api_server
from browser_support import CHROMIUM, CHROMIUM_ARGS
from conftest import encode, photo_like
from prometheus_client.parser import text_string_to_metric_families

from fakescope.store import PredictionStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _metric(url: str, name: str) -> float:
    text = call(f"{url}/metrics").body.decode()
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError(f"/metrics has no {name}")


def test_detect_page_and_api_share_model_and_log(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    image = tmp_path / "street.jpg"
    image.write_bytes(encode(photo_like(320, 240), quality=90))
    with running_api_server(tmp_path / "server") as server:
        assert predict(server, [("api.jpg", image.read_bytes())]).status == 200
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1400})
                page.goto(server.url)
                expect(page.get_by_role("heading", name="Detect")).to_be_visible(timeout=60_000)
                page.locator("input[type=file]").set_input_files([str(image)])
                expect(page.get_by_text("Fake probability:")).to_be_visible(timeout=60_000)
            finally:
                browser.close()
        assert predict(server, [("api2.jpg", image.read_bytes())]).status == 200
        # One model for the whole process: the API's load at start, reused by the page.
        assert _metric(server.url, "fakescope_model_loads") == 1
        store = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
        sources = store.predictions()["source"].tolist()
        assert sources.count("api") == 2
        assert sources.count("dashboard") == 1
