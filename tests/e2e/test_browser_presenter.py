"""The presenter's flow (issue 12) in a real browser, at a desktop and a phone width.

One sample, then all samples, a good and a bad upload, a threshold change, a download, and a
Models promote that asks for confirmation and runs the quality gate. It checks what a person sees
(text, order and placement on the screen) and saves the screenshots used in docs/dashboard.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Server
from browser_support import server  # noqa: F401 (the fixture, found by name)
from PIL import Image

from fakescope.registry import Registry
from tests.conftest import REPO_ROOT, build_vit_model, encode, photo_like

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "presenter-token"  # nosec B105 - a test token
SERVER_ENV = {"FAKESCOPE_ADMIN_TOKEN": TOKEN}  # read by the `server` fixture
SERVER_DEMO_REGISTRY = True  # the committed demo model: real verdicts on the samples
# Screenshots refresh docs/img only when asked (DOCS_SCREENSHOTS=1 make test), so an ordinary test
# run leaves the work tree clean; otherwise they go to a temporary folder.
DOCS_IMG = (
    REPO_ROOT / "docs" / "img"
    if os.environ.get("DOCS_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "fakescope-screenshots"
)
MAX_PNG_BYTES = 400_000
# A card's verdict heading (its icon's ligature text may come first).
VERDICT = re.compile(r"(^|\s)(Real|Fake|Uncertain)$")
WAIT = 90_000  # ms: the first verdicts load and warm the model on 2 shared cores
SAMPLES = sorted(p.name for p in (REPO_ROOT / "src" / "fakescope" / "samples").glob("*_*.*"))
N = len([name for name in SAMPLES if name.split("_")[0] in ("real", "fake")])


def _save(page: Any, name: str) -> Path:
    """A viewport screenshot for the docs, reduced to 256 colours so it stays small."""
    raw = io.BytesIO(page.screenshot(type="png"))
    target = DOCS_IMG / name
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    image = Image.open(raw).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(target, optimize=True)
    assert target.stat().st_size < MAX_PNG_BYTES, (name, target.stat().st_size)
    return target


def _to_top(locator: Any) -> None:
    """Scroll so that the element is at the top of the screen (the screenshot's first line)."""
    locator.evaluate("element => element.scrollIntoView({block: 'start'})")
    locator.page.wait_for_timeout(1000)  # let the thumbnails paint


def _box(locator: Any) -> dict[str, float]:
    box = locator.bounding_box()
    assert box is not None
    return box


def test_browser_presenter_flow(server: Server, tmp_path: Path) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); CI installs it")
    from playwright.sync_api import expect, sync_playwright

    good = tmp_path / "street.jpg"
    good.write_bytes(encode(photo_like(320, 240), quality=90))
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"these are notes, not a picture")
    registry = Registry(server.data_dir.parent / "registry")
    bare = build_vit_model(tmp_path / "bare", image_size=32, hidden_size=16, seed=7)
    registry.register(bare, name="bare-model")  # v3: no metrics, no card -> the gate fails

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900}, accept_downloads=True)
            # The first load warms the model on 2 shared cores: every wait gets the long timeout.
            page.set_default_timeout(WAIT)
            page.goto(server.url)
            expect(page.get_by_role("heading", name="Detect")).to_be_visible(timeout=WAIT)
            expect(page.get_by_text("Tells real photographs from AI-generated")).to_be_visible()

            # One example: the button is labelled by the subject, not by the answer.
            page.get_by_role("button", name="apple").click()
            expect(page.get_by_text(re.compile(r"^1 image: .* of 1 samples right$"))).to_be_visible(
                timeout=WAIT
            )
            expect(page.get_by_text("it is a real image.")).to_be_visible()

            # All samples: the summary, then the downloads, then the grid, several cards a row.
            page.get_by_role("button", name="Try all samples").click()
            summary = page.get_by_text(re.compile(rf"^{N} images: .* of {N} samples right$"))
            expect(summary).to_be_visible(timeout=WAIT)
            verdicts = page.get_by_role("heading", name=VERDICT)
            expect(verdicts).to_have_count(N, timeout=WAIT)
            download = page.get_by_role("button", name="Download CSV")
            assert _box(summary)["y"] < _box(download)["y"] < _box(verdicts.first)["y"]
            columns = {round(_box(verdicts.nth(i))["x"]) for i in range(N)}
            assert len(columns) == 4  # N >= 8 cards in 4 columns at 1440 px
            assert _box(download)["y"] < 900  # the downloads are on the first screen
            _to_top(summary)
            _save(page, "detect-desktop.png")

            # A good and a bad upload: a verdict for one, the reason for the other.
            page.locator("input[type=file]").set_input_files([str(good), str(bad)])
            expect(page.get_by_text(re.compile(rf"^{N + 2} images: .* 1 rejected"))).to_be_visible(
                timeout=WAIT
            )
            expect(page.get_by_text("looks like plain text")).to_be_visible()

            # Threshold change: the slider to its top relabels without rescoring.
            before = page.get_by_text(re.compile(r"^Real below")).inner_text()
            thumb = page.get_by_role("slider").first
            thumb.focus()
            page.keyboard.press("End")
            expect(page.get_by_text(re.compile(r"^Real below 85%"))).to_be_visible(timeout=WAIT)
            assert before != page.get_by_text(re.compile(r"^Real below")).inner_text()

            # A download names the model version, threshold, band and time; so does the file.
            with page.expect_download() as caught:
                page.get_by_role("button", name="Download CSV").click()
            got = caught.value
            assert re.fullmatch(
                r"fakescope-v2-t0\.95-band0\.20-\d{8}T\d{6}Z\.csv", got.suggested_filename
            ), got.suggested_filename
            table = list(csv.DictReader(io.StringIO(Path(got.path()).read_text())))
            assert len(table) == N + 2 and {r["threshold"] for r in table} == {"0.95"}
            assert all(r["exported_at_utc"].endswith("Z") for r in table)

            # A phone: one card a row, the same summary first.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.set_default_timeout(WAIT)
            phone.goto(server.url)
            expect(phone.get_by_role("heading", name="Detect")).to_be_visible(timeout=WAIT)
            phone.get_by_role("button", name="Try all samples").click()
            cards = phone.get_by_role("heading", name=VERDICT)
            expect(cards).to_have_count(N, timeout=WAIT)
            first, second = _box(cards.nth(0)), _box(cards.nth(1))
            assert second["y"] > first["y"] + 100 and abs(second["x"] - first["x"]) < 2
            assert len({round(_box(cards.nth(i))["x"]) for i in range(N)}) == 1  # one a row
            _to_top(phone.get_by_text(re.compile(rf"^{N} images:")))
            _save(phone, "detect-phone.png")

            # Models: promote asks first, the gate fails, a stated reason overrides it.
            page.goto(f"{server.url}/models")
            expect(page.get_by_role("heading", name="Promote or roll back")).to_be_visible(
                timeout=WAIT
            )
            assert server.data_dir.parent.as_posix() not in page.inner_text("body")
            page.get_by_label("Admin token", exact=True).fill(TOKEN)
            page.get_by_label("Admin token", exact=True).press("Enter")
            promote = page.get_by_role("button", name=re.compile(r"(^|\s)Promote$"))
            promote.click()
            gate = page.get_by_text(re.compile(r"^Quality gate failed for v3"))
            expect(gate).to_be_visible(timeout=WAIT)
            assert registry.active_version() == "v2"  # nothing changed yet
            # The answer is beside the button that asked, not at the top of the page.
            assert 0 < _box(gate)["y"] - _box(promote)["y"] < 300
            _to_top(page.get_by_role("heading", name="Promote or roll back"))
            _save(page, "models-gate-desktop.png")
            page.get_by_label("Reason to override the gate", exact=True).fill(
                "demo: v3 is the new baseline"
            )
            page.get_by_label("Reason to override the gate", exact=True).press("Enter")
            page.get_by_role("button", name="Override the gate and promote").click()
            done = page.get_by_text("v3 (bare-model) is now the active model.")
            expect(done).to_be_visible(timeout=WAIT)
            assert abs(_box(done)["y"] - _box(promote)["y"]) < 300
            # The page has finished redrawing when the history shows the promotion.
            history = re.compile(r"Activation history \(oldest first\): v1 \S+ v2 \S+ v3$")
            expect(page.get_by_text(history)).to_be_visible()  # "->" is drawn as an arrow
            _to_top(page.get_by_role("heading", name="Promote or roll back"))
            _save(page, "models-promote-desktop.png")
        finally:
            browser.close()

    assert registry.active_version() == "v3"
    entry = registry.promotion_log()[-1]  # after the committed registry's own (v2's)
    assert entry["gate"] == "forced" and entry["force_reason"] == "demo: v3 is the new baseline"
    assert json.dumps(entry)  # a plain JSON line
