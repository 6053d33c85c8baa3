"""Ground truth from a person, in a real browser: a verdict marked wrong reaches the log and the
Monitor page's accuracy, and the prediction itself never changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Server
from browser_support import server  # noqa: F401 (the fixture, found by name)

from fakescope.store import PredictionStore
from tests.conftest import encode, photo_like

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# No uncertain band: the card asks "Was this verdict right?" with Right / Wrong.
SERVER_ENV = {"FAKESCOPE_UNCERTAIN_BAND": "0"}


def test_browser_marking_a_verdict_wrong_stores_a_label(
    server: Server, tmp_path: Path  # noqa: F811
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    image = tmp_path / "harbour.jpg"
    image.write_bytes(encode(photo_like(320, 240, seed=4), quality=90))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(server.url)
            expect(page.get_by_role("heading", name="Detect")).to_be_visible(timeout=60_000)
            page.locator("input[type=file]").set_input_files([str(image)])
            expect(page.get_by_text("Was this verdict right?")).to_be_visible(timeout=60_000)
            page.get_by_text("Wrong", exact=True).click()
            expect(page.get_by_text("Thanks: stored as")).to_be_visible(timeout=30_000)

            page.get_by_role("link", name="Monitor").click()
            expect(page.get_by_text("Latency over time")).to_be_visible(timeout=60_000)
            page.get_by_role("tab", name="Accuracy").click()
            labelled = page.get_by_test_id("stMetric").filter(has_text="Labelled predictions")
            expect(labelled).to_contain_text("1", timeout=30_000)
            expect(page.get_by_text("Accuracy (labelled)")).to_be_visible()
        finally:
            browser.close()

    store = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    (prediction,) = store.predictions().itertuples()
    labels = store.labels()
    # "Wrong" on a fake verdict means real, and the other way round.
    expected = "real" if prediction.verdict == "fake" else "fake"
    assert list(labels["truth"]) == [expected]
    assert list(labels["prediction_id"]) == [prediction.id]
    assert list(labels["sha256"]) == [prediction.sha256]
