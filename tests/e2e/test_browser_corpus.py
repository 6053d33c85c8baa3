"""The hostile corpus through the real dashboard in a real browser (issue 9).

Every file of ``tests/hostile_corpus.py`` is uploaded at once through the Detect page's uploader:
each must end with a verdict or a stated reason (logged in the store under its name), the page
must show no exception, and the server's peak memory must stay under the issue's 1.5 GB.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Server
from browser_support import server  # noqa: F401 (the fixture, found by name)
from hostile_corpus import ACCEPT, REJECT, build_corpus

from fakescope.store import PredictionStore

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PEAK_RSS_LIMIT_MB = 1536
SCORE_TIMEOUT_S = 300


def test_browser_hostile_corpus_gets_a_verdict_or_a_reason_for_every_file(
    server: Server, tmp_path: Path  # noqa: F811 (the fixture imported above)
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    corpus = build_corpus()
    folder = tmp_path / "corpus"
    folder.mkdir()
    paths = []
    for case in corpus:
        path = folder / case.file_name
        path.write_bytes(case.data)
        paths.append(path)
    rejected_names = {case.file_name for case in corpus if case.expect == REJECT}
    scored_names = {case.file_name for case in corpus if case.expect == ACCEPT}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(server.url)
            expect(page.get_by_role("heading", name="Detect")).to_be_visible(timeout=60_000)
            started = time.monotonic()
            page.locator("input[type=file]").set_input_files([str(p) for p in paths])
            summary = page.get_by_role("heading", name=f"{len(corpus)} images:")
            expect(summary).to_be_visible(timeout=SCORE_TIMEOUT_S * 1000)
            seconds = time.monotonic() - started
            expect(summary).to_contain_text(f"{len(rejected_names)} rejected")
            # No page error, no traceback: a crash shows as Streamlit's exception element.
            expect(page.get_by_test_id("stException")).to_have_count(0)
            assert "Traceback" not in page.content()
        finally:
            browser.close()

    store = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    predictions, rejections = store.predictions(), store.rejections()
    assert set(predictions["input_name"]) == scored_names
    assert set(rejections["input_name"]) == rejected_names
    unexplained = [m for m in rejections["message"] if "Accepted:" not in m]
    assert unexplained == [], "every rejection says what is accepted"
    peak = server.peak_rss_mb()
    print(f"corpus of {len(corpus)} files: {seconds:.1f} s, server peak RSS {peak:.0f} MB")
    assert peak < PEAK_RSS_LIMIT_MB
