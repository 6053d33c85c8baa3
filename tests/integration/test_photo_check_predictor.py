"""A chart through the committed demo model: the verdict is Uncertain with the reason "not a
photograph", the score is kept as measured, and the reason reaches the CLI (JSON, CSV, table),
the API's rows and the Detect page exactly as other reasons do."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from nonphoto_corpus import scatter
from streamlit.testing.v1 import AppTest

from fakescope.api.service import predict_files
from fakescope.cli import main as cli_main
from fakescope.config import Settings
from fakescope.photo_check import NOT_A_PHOTOGRAPH
from fakescope.predictor import Predictor
from tests.conftest import REPO_ROOT, encode

pytestmark = pytest.mark.integration

DEMO_MODEL = REPO_ROOT / "models" / "v1"
PHOTO = REPO_ROOT / "tests" / "quality" / "heldout_photos" / "cv_apple.jpg"
# fp32 on torch: no OpenVINO graph export, the same numbers on any CPU.
FAST = {"FAKESCOPE_PRECISION": "fp32", "FAKESCOPE_RUNTIME": "torch", "FAKESCOPE_THREADS": "1"}


@pytest.fixture(scope="module")
def chart() -> bytes:
    """A scatter plot with axes and labels, as PNG (the image of the bug report)."""
    return encode(scatter(800, 600, seed=7, scale=3), "PNG")


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.from_source(DEMO_MODEL, Settings.from_env(FAST))


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


def test_a_chart_is_uncertain_with_the_reason_and_its_score_kept(
    predictor: Predictor, chart: bytes
) -> None:
    unchecked = Predictor(predictor.model, predictor.settings.replace(photo_check=False))

    (judged,) = predictor.predict(chart, names=["chart.png"])
    (raw,) = unchecked.predict(chart)
    (photo,) = predictor.predict(PHOTO.read_bytes())

    assert judged.verdict == "uncertain" and judged.reason == NOT_A_PHOTOGRAPH
    assert judged.fake_probability == raw.fake_probability  # nothing hidden
    assert dict(judged.scores) == dict(raw.scores)
    assert raw.reason is None and raw.verdict in ("fake", "real", "uncertain")
    assert photo.reason is None
    # Moving the threshold (the Detect page's slider, the API's override) keeps it uncertain.
    assert judged.relabel(0.05, 0.0).verdict == "uncertain"


def test_cli_json_csv_and_table_carry_the_reason(
    tmp_path: Path, chart: bytes, fast_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "chart.png").write_bytes(chart)
    (tmp_path / "photo.jpg").write_bytes(PHOTO.read_bytes())
    base = ["predict", str(tmp_path), "--model", str(DEMO_MODEL), "--no-log"]

    assert cli_main([*base, "--json"]) == 0
    out, err = capsys.readouterr()
    rows = {Path(row["path"]).name: row for row in json.loads(out)}
    assert rows["chart.png"]["verdict"] == "uncertain"
    assert rows["chart.png"]["reason"] == NOT_A_PHOTOGRAPH
    assert "error" not in rows["chart.png"] and 0 <= rows["chart.png"]["fake_probability"] <= 1
    assert "reason" not in rows["photo.jpg"]
    assert err.startswith("scored 2: ")

    assert cli_main([*base, "--csv"]) == 0
    table = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(capsys.readouterr()[0]))}
    assert table["chart.png"]["reason"] == NOT_A_PHOTOGRAPH
    assert table["photo.jpg"]["reason"] == ""

    assert cli_main(base) == 0
    (line,) = [x for x in capsys.readouterr()[0].splitlines() if "chart.png" in x]
    assert "UNCERTAIN" in line and f"({NOT_A_PHOTOGRAPH})" in line


def test_api_rows_carry_the_reason(predictor: Predictor, chart: bytes) -> None:
    body = predict_files(predictor, None, [("chart.png", chart)], threshold=0.9, band=0.0).body

    (row,) = body["results"]
    assert row["verdict"] == "uncertain" and row["reason"] == NOT_A_PHOTOGRAPH


def test_detect_page_shows_the_reason_on_the_card_and_in_the_downloads(
    chart: bytes, fast_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "streamlit_app"))
    monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(REPO_ROOT / "models"))
    at = AppTest.from_file(str(REPO_ROOT / "streamlit_app" / "app.py"), default_timeout=60).run()
    at.file_uploader(key="detect_uploads").upload("chart.png", chart, "image/png")
    at.run()

    assert not at.exception, at.exception
    assert [str(s.value) for s in at.subheader][0] == "1 image: 0 real, 0 fake, 1 uncertain"
    shown = [str(m.value) for m in at.markdown]
    assert any("not a photograph" in text and "photographs only" in text for text in shown)

    import components  # the page's own helper builds the download rows

    (outcome,) = [entry["outcome"] for entry in at.session_state["detect_cache"].values()]
    row = components.result_row("chart.png", outcome)
    assert row["reason"] == NOT_A_PHOTOGRAPH
    assert NOT_A_PHOTOGRAPH.encode() in components.results_csv([row])
