"""The downloadable monitoring report: strict JSON and one offline HTML file."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from fakescope.errors import InvalidArgumentError
from fakescope.monitor_report import (
    REPORT_FORMAT,
    MonitorDocument,
    ReportSection,
    cell_text,
    to_dict,
    to_html,
    to_json,
)

pytestmark = pytest.mark.unit

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def drift_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "test": ["features", "prediction", "embedding_mmd"],
            "score": [0.25, 0.000123, np.nan],
            "drifted": [False, True, None],
            "window_end": pd.to_datetime(["2026-01-01 10:00", "2026-01-01 11:00", None], utc=True),
        }
    )


def a_figure(text: str = "point") -> go.Figure:
    return go.Figure(
        go.Scatter(
            x=pd.date_range("2026-01-01", periods=3, freq="h", tz="UTC"),
            y=[0.1, np.nan, 0.3],
            text=[text] * 3,
            name="share of drifted features",
        )
    )


def a_document(**changes: object) -> MonitorDocument:
    values: dict = dict(
        title="Drift report: v3",
        generated_at=datetime(2026, 1, 2, 8, 30),
        model_version="v3",
        reference={"name": "model", "description": "validation images", "n_images": 400},
        window={
            "start": pd.Timestamp("2026-01-01 09:00", tz="UTC"),
            "end": pd.Timestamp("2026-01-01 12:12", tz="Europe/Paris"),
            "n": 200,
        },
        headline=["Drift detected in this window: prediction."],
        sections=[
            ReportSection("Tests on the current window", "Each test against the reference."),
            ReportSection("Test results", table=drift_table()),
            ReportSection("Drift over time", "Newest 12 windows.", figure=a_figure()),
            ReportSection("Fake probability", figure=a_figure(), table=drift_table().head(1)),
        ],
    )
    values.update(changes)
    return MonitorDocument(**values)


# ---------------------------------------------------------------------------------------- JSON


def test_json_round_trips_with_every_section() -> None:
    data = json.loads(to_json(a_document()))

    assert data["format"] == REPORT_FORMAT and data["format_version"] == 1
    assert data["title"] == "Drift report: v3"
    assert data["generated_at"] == "2026-01-02T08:30:00Z"  # naive times are UTC
    assert data["model_version"] == "v3"
    assert data["reference"] == {
        "name": "model",
        "description": "validation images",
        "n_images": 400,
    }
    assert data["window"] == {
        "start": "2026-01-01T09:00:00Z",
        "end": "2026-01-01T11:12:00Z",
        "n": 200,
    }
    assert data["headline"] == ["Drift detected in this window: prediction."]
    assert [s["title"] for s in data["sections"]] == [
        "Tests on the current window",
        "Test results",
        "Drift over time",
        "Fake probability",
    ]
    first, table = data["sections"][0], data["sections"][1]
    assert first["text"] == "Each test against the reference."
    assert first["table"] is None and first["columns"] is None and first["figure"] is None
    assert table["columns"] == ["test", "score", "drifted", "window_end"]
    assert table["table"] == [
        {"test": "features", "score": 0.25, "drifted": False, "window_end": "2026-01-01T10:00:00Z"},
        {
            "test": "prediction",
            "score": 0.000123,
            "drifted": True,
            "window_end": "2026-01-01T11:00:00Z",
        },
        {"test": "embedding_mmd", "score": None, "drifted": None, "window_end": None},
    ]


def test_json_keeps_figures_as_plotly_json_without_nan() -> None:
    text = to_json(a_document())

    assert "NaN" not in text and "Infinity" not in text
    figure = json.loads(text)["sections"][2]["figure"]
    assert figure["data"][0]["type"] == "scatter"
    assert figure["data"][0]["y"] == [0.1, None, 0.3]
    assert "template" not in figure["layout"]
    redrawn = go.Figure(figure)
    assert list(redrawn.data[0].text) == ["point"] * 3


def test_json_writes_every_kind_of_value_strictly() -> None:
    table = pd.DataFrame(
        {
            "count": np.array([3, 4], dtype="int64"),
            "rate": [np.inf, -np.inf],
            "latency": [timedelta(minutes=5), pd.NaT],
            "scores": [{"Fake": 0.75, "Real": np.float32(0.25)}, None],
            "nullable": pd.array([1, None], dtype="Int64"),
            "name": pd.Series(["caf\udce9.jpg", HOSTILE], dtype=object),
        }
    )
    section = ReportSection("values", table=table)

    text = to_json(a_document(sections=[section]))
    text.encode("utf-8")  # what the download does: no lone surrogate is left
    records = json.loads(text)["sections"][0]["table"]

    assert records[0] == {
        "count": 3,
        "rate": None,
        "latency": "P0DT0H5M0S",
        "scores": {"Fake": 0.75, "Real": 0.25},
        "nullable": 1,
        "name": "caf\\xe9.jpg",  # a name that was not UTF-8 keeps its byte, visibly
    }
    assert records[1] == {
        "count": 4,
        "rate": None,
        "latency": None,
        "scores": None,
        "nullable": None,
        "name": HOSTILE,
    }


def test_json_keeps_a_named_index_and_makes_column_names_unique() -> None:
    table = pd.DataFrame([[1, 2, 3]], columns=["a", "a", 7], index=pd.Index(["x"], name="key"))

    section = to_dict(a_document(sections=[ReportSection("t", table=table)]))["sections"][0]

    assert section["columns"] == ["key", "a", "a (2)", "7"]
    assert section["table"] == [{"key": "x", "a": 1, "a (2)": 2, "7": 3}]


def test_json_of_an_empty_document() -> None:
    empty = pd.DataFrame(columns=["test", "score"])
    doc = MonitorDocument("Empty", sections=[ReportSection("Nothing yet", table=empty)])

    data = json.loads(to_json(doc))

    assert data["model_version"] is None
    assert data["reference"] == {"name": None, "description": None, "n_images": None}
    assert data["window"] == {"start": None, "end": None, "n": None}
    assert data["headline"] == []
    assert data["sections"] == [
        {
            "title": "Nothing yet",
            "text": None,
            "columns": ["test", "score"],
            "table": [],
            "figure": None,
        }
    ]
    assert data["generated_at"].endswith("Z")


@pytest.mark.parametrize(
    "doc",
    [
        "not a document",
        MonitorDocument("t", sections=["not a section"]),
        MonitorDocument("t", sections=[ReportSection("s", table=[{"a": 1}])]),
        MonitorDocument("t", sections=[ReportSection("s", figure={"data": []})]),
    ],
)
def test_renderers_refuse_what_is_not_a_report(doc: object) -> None:
    with pytest.raises(InvalidArgumentError):
        to_json(doc)
    with pytest.raises(InvalidArgumentError):
        to_html(doc)


# ---------------------------------------------------------------------------------------- HTML


def plotlyjs_copies(page: str) -> int:
    return page.count(get_plotlyjs()[:400])


def test_html_holds_every_section_table_and_one_plotlyjs() -> None:
    page = to_html(a_document())

    assert page.startswith("<!DOCTYPE html>")
    for title in (
        "Drift report: v3",
        "Tests on the current window",
        "Test results",
        "Drift over time",
        "Fake probability",
    ):
        assert f">{title}</h" in page
    assert "Each test against the reference." in page
    assert "Drift detected in this window: prediction." in page
    for cell in ("features", "0.25", "0.000123", "yes", "no", "2026-01-01 11:00:00 UTC", "\u2014"):
        assert f">{cell}</td>" in page
    assert "model (validation images), 400 images" in page
    assert "2026-01-01 09:00:00 UTC to 2026-01-01 11:12:00 UTC, 200 predictions" in page
    assert page.count('class="plotly-graph-div"') == 2
    assert plotlyjs_copies(page) == 1


def test_html_works_offline() -> None:
    page = to_html(a_document())

    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # No script, style sheet or image is loaded from anywhere: everything is inline.
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "<link" not in page and "<img" not in page


def test_html_escapes_every_hostile_value() -> None:
    table = pd.DataFrame({HOSTILE: [HOSTILE, "ok.png"], "n": [1, 2]})
    doc = a_document(
        title=HOSTILE,
        model_version=HOSTILE,
        reference={"name": HOSTILE, "description": HOSTILE, "n_images": 3},
        headline=[HOSTILE],
        sections=[
            ReportSection(HOSTILE, HOSTILE, table=table, figure=a_figure(text=HOSTILE)),
        ],
    )

    page = to_html(doc)

    assert "<script>alert" not in page
    assert page.count(ESCAPED) >= 8  # title x2, version, reference x2, headline, section x2, cells
    assert f"<td>{ESCAPED}</td>" in page
    assert f'<th scope="col">{ESCAPED}</th>' in page


def test_html_of_an_empty_document_renders() -> None:
    empty = pd.DataFrame(columns=["test", "score"])
    doc = MonitorDocument("Empty", sections=[ReportSection("Nothing yet", table=empty)])

    page = to_html(doc)

    assert ">Nothing yet</h2>" in page
    assert '<td class="empty" colspan="2">no rows</td>' in page
    assert plotlyjs_copies(page) == 0
    assert "plotly-graph-div" not in page
    assert page.rstrip().endswith("</html>")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\u2014"),
        (float("nan"), "\u2014"),
        (pd.NaT, "\u2014"),
        (True, "yes"),
        (np.int64(12), "12"),
        (0.0, "0"),
        (0.123456, "0.1235"),
        (123456.7, "123,457"),
        (pd.Timestamp("2026-01-01 10:00", tz="Europe/Paris"), "2026-01-01 09:00:00 UTC"),
        ({"Fake": 0.5}, '{"Fake": 0.5}'),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs /usr/bin/chromium")
def test_html_draws_every_figure_in_a_browser_without_network(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    report = tmp_path / "report.html"
    report.write_text(to_html(a_document(headline=[HOSTILE])), encoding="utf-8")
    requests, errors, dialogs = [], [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(report.as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=15_000)
            drawn = page.locator(".plotly-graph-div").evaluate_all(
                "divs => divs.filter(d => d.querySelector('.main-svg')).length"
            )
        finally:
            browser.close()

    assert drawn == 2
    assert requests == [report.as_uri()]  # nothing fetched from the network
    assert errors == [] and dialogs == []
