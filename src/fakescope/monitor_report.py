"""The Monitor page's figures as a downloadable report: one self-contained HTML file, or JSON.

A :class:`MonitorDocument` holds what the page shows (title, model version, reference, current
window, headline lines, and sections of text, a table and a figure); the page or
:func:`fakescope.drift_checks.drift_document` builds it, and two renderers write it out:

* :func:`to_json`: strict JSON (``allow_nan=False``). Tables are lists of records with their
  column order beside them; NaN, infinity, None and NaT are ``null``; times are ISO 8601 in UTC
  (``2026-01-01T09:00:00Z``), durations ISO 8601 durations (``P0DT0H5M0S``). A figure is kept as
  Plotly's own JSON (``{"data": [...], "layout": {...}}``, without the layout's template, which
  is styling only), so ``plotly.io.from_json(json.dumps(section["figure"]))`` draws it again.
* :func:`to_html`: one HTML file that renders offline: plotly.js is inlined once (with the first
  figure; about 4.6 MB), every table is an HTML table, and every value from the log is escaped
  (file names and reference descriptions are chosen by users: ``<script>`` shows as text). A
  Content-Security-Policy forbids the file any network request, so nothing in it can call out
  or load a remote resource.

Nothing here reads the log or computes statistics.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fakescope import __version__
from fakescope.errors import InvalidArgumentError
from fakescope.safe_text import encodable

if TYPE_CHECKING:  # plotly is imported when a figure is rendered, not when this module is
    from plotly.graph_objects import Figure

REPORT_FORMAT = "fakescope-monitor-report"
REPORT_FORMAT_VERSION = 1
REFERENCE_KEYS = ("name", "description", "n_images")
WINDOW_KEYS = ("start", "end", "n")
# Height of a figure that does not set its own (plotly.js would otherwise fill a parent that
# has no height, i.e. draw nothing).
FIGURE_HEIGHT = "420px"
MISSING = "\u2014"  # how an empty cell reads in HTML
# No network at all: inline scripts and styles only; images only from data:/blob: URLs (the
# modebar's "download as PNG"). 'unsafe-eval' is not needed by plotly.js's SVG traces.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
)


@dataclass
class ReportSection:
    """One part of the report: a title, and any of a paragraph, a table and a figure.

    Attributes:
        title: the section's heading.
        text: prose shown under the heading (blank lines start a new paragraph), or None.
        table: rows to show (the index is kept only when it is named), or None.
        figure: a Plotly figure, or None.
    """

    title: str
    text: str | None = None
    table: pd.DataFrame | None = None
    figure: Figure | None = None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class MonitorDocument:
    """What the Monitor page shows, ready for :func:`to_json` and :func:`to_html`.

    Attributes:
        title: the report's title.
        generated_at: when it was made (naive times are UTC); now by default.
        model_version: the model version the figures are about, or None.
        reference: ``name``, ``description``, ``n_images`` of the drift reference (missing keys
            are null; other keys are kept).
        window: ``start``, ``end``, ``n`` of the current window (the same rules).
        headline: the verdict lines shown at the top (e.g. "Drift detected: prediction").
        sections: the page's parts, in order.
    """

    title: str
    generated_at: datetime = field(default_factory=_utc_now)
    model_version: str | None = None
    reference: Mapping[str, Any] = field(default_factory=dict)
    window: Mapping[str, Any] = field(default_factory=dict)
    headline: list[str] = field(default_factory=list)
    sections: list[ReportSection] = field(default_factory=list)


# ------------------------------------------------------------------------------ plain values


def _utc(value: Any) -> pd.Timestamp | None:
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _iso(value: Any) -> str | None:
    stamp = _utc(value)
    if stamp is None:
        return None
    return stamp.isoformat().replace("+00:00", "Z")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(float(value))
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return False


def plain(value: Any) -> Any:
    """``value`` as a strict-JSON value: numbers, text, booleans, null, lists, objects.

    NaN, infinity, None, ``pd.NA`` and ``NaT`` become None; datetimes become ISO 8601 text in
    UTC (naive ones are taken as UTC); durations ISO 8601 durations; numpy scalars and arrays
    their Python equivalents; anything else its text.
    """
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, Decimal)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, (datetime, np.datetime64)):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (timedelta, np.timedelta64)):
        return pd.Timedelta(value).isoformat()
    if isinstance(value, Mapping):
        return {encodable(str(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return [plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    return encodable(str(value))


def _check_document(doc: Any) -> MonitorDocument:
    if not isinstance(doc, MonitorDocument):
        raise InvalidArgumentError(f"expected a MonitorDocument, got {type(doc).__name__}")
    for i, section in enumerate(doc.sections):
        if not isinstance(section, ReportSection):
            raise InvalidArgumentError(
                f"sections[{i}] must be a ReportSection, got {type(section).__name__}"
            )
        if section.table is not None and not isinstance(section.table, pd.DataFrame):
            raise InvalidArgumentError(
                f"section {section.title!r}: table must be a pandas DataFrame or None, got "
                f"{type(section.table).__name__}"
            )
        if section.figure is not None and not _is_figure(section.figure):
            raise InvalidArgumentError(
                f"section {section.title!r}: figure must be a plotly Figure or None, got "
                f"{type(section.figure).__name__}"
            )
    return doc


def _is_figure(value: Any) -> bool:
    from plotly.basedatatypes import BaseFigure

    return isinstance(value, BaseFigure)


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame to show: a named index becomes columns; column names become unique text."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    names: list[str] = []
    for column in frame.columns:
        name = encodable(" / ".join(map(str, column)) if isinstance(column, tuple) else column)
        base, count = name, 2
        while name in names:
            name, count = f"{base} ({count})", count + 1
        names.append(name)
    shown = frame.copy(deep=False)
    shown.columns = names
    return shown


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = list(frame.columns)
    return [
        {column: plain(value) for column, value in zip(columns, row)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _figure_json(figure: Figure) -> dict[str, Any]:
    import plotly.io as pio

    # Plotly's encoder turns numpy arrays, dates and NaN (-> null) into strict JSON.
    data = json.loads(pio.to_json(figure, validate=False, engine="json"))
    layout = data.get("layout")
    if isinstance(layout, dict):
        layout.pop("template", None)
    return plain(data)


def _mapping(values: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    values = values or {}
    out = {key: plain(values.get(key)) for key in keys}
    out.update({encodable(str(k)): plain(v) for k, v in values.items() if k not in keys})
    return out


def to_dict(doc: MonitorDocument) -> dict[str, Any]:
    """The report as plain JSON-ready values (what :func:`to_json` writes).

    Raises:
        InvalidArgumentError: ``doc`` is not a MonitorDocument, or a section holds a table that
            is not a DataFrame or a figure that is not a plotly Figure.
    """
    doc = _check_document(doc)
    sections = []
    for section in doc.sections:
        table = _table(section.table) if section.table is not None else None
        sections.append(
            {
                "title": plain(section.title),
                "text": plain(section.text),
                "columns": list(table.columns) if table is not None else None,
                "table": _records(table) if table is not None else None,
                "figure": _figure_json(section.figure) if section.figure is not None else None,
            }
        )
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "generator": f"FakeScope {__version__}",
        "title": plain(doc.title),
        "generated_at": _iso(doc.generated_at),
        "model_version": plain(doc.model_version),
        "reference": _mapping(doc.reference, REFERENCE_KEYS),
        "window": _mapping(doc.window, WINDOW_KEYS),
        "headline": [plain(line) for line in doc.headline],
        "sections": sections,
    }


def to_json(doc: MonitorDocument, *, indent: int | None = 2) -> str:
    """The report as strict JSON text (see the module docstring for the shape).

    Raises:
        InvalidArgumentError: as :func:`to_dict`.
    """
    return json.dumps(to_dict(doc), allow_nan=False, ensure_ascii=False, indent=indent)


# ------------------------------------------------------------------------------------ HTML

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #111827; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; padding-bottom: .2rem; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.meta dt { font-weight: 600; color: #4b5563; }
dl.meta dd { margin: 0; }
ul.headline { font-size: 1.05rem; font-weight: 600; }
.table-wrap { overflow-x: auto; margin: .8rem 0; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f9fafb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.empty { color: #6b7280; font-style: italic; }
.figure { margin: .8rem 0; }
footer { margin-top: 3rem; color: #6b7280; font-size: .85rem; }
"""


def _format_float(number: float) -> str:
    if number == 0:
        return "0"
    if abs(number) >= 1e4:
        return f"{number:,.0f}"
    return f"{number:.4g}"


def cell_text(value: Any) -> str:
    """How one table value reads in the HTML report (not yet escaped)."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating, Decimal)):
        return _format_float(float(value))
    if isinstance(value, (datetime, np.datetime64)):
        stamp = _utc(value)
        return f"{stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp is not None else MISSING
    if isinstance(value, (timedelta, np.timedelta64)):
        return str(pd.Timedelta(value))
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return json.dumps(plain(value), ensure_ascii=False, allow_nan=False)
    return encodable(str(value))


def _e(value: Any) -> str:
    return html.escape(encodable("" if value is None else str(value)), quote=True)


def _html_table(frame: pd.DataFrame) -> str:
    table = _table(frame)
    numeric = [
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        for dtype in table.dtypes
    ]
    head = "".join(f'<th scope="col">{_e(name)}</th>' for name in table.columns)
    rows = []
    for row in table.itertuples(index=False, name=None):
        cells = "".join(
            (
                f'<td class="num">{_e(cell_text(value))}</td>'
                if is_num
                else f"<td>{_e(cell_text(value))}</td>"
            )
            for value, is_num in zip(row, numeric)
        )
        rows.append(f"<tr>{cells}</tr>")
    if not rows:
        rows.append(
            f'<tr><td class="empty" colspan="{max(1, len(table.columns))}">no rows</td></tr>'
        )
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _html_text(text: str) -> str:
    paragraphs = [p.strip() for p in str(text).split("\n\n") if p.strip()]
    return "".join(f"<p>{'<br>'.join(_e(line) for line in p.splitlines())}</p>" for p in paragraphs)


def _html_figure(figure: Figure, include_plotlyjs: bool) -> str:
    height = FIGURE_HEIGHT if figure.layout.height is None else f"{figure.layout.height}px"
    div = figure.to_html(
        full_html=False,
        include_plotlyjs=include_plotlyjs,
        include_mathjax=False,
        default_width="100%",
        default_height=height,
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )
    return f'<div class="figure">{div}</div>'


def _when(value: Any) -> str:
    if value is None:
        return MISSING
    stamp = _utc(value)
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp is not None else MISSING


def _meta(doc: MonitorDocument) -> str:
    reference = doc.reference or {}
    window = doc.window or {}
    ref_text = cell_text(reference.get("name")) if reference.get("name") is not None else MISSING
    if reference.get("description"):
        ref_text += f" ({cell_text(reference['description'])})"
    if reference.get("n_images") is not None:
        ref_text += f", {cell_text(reference['n_images'])} images"
    window_text = f"{_when(window.get('start'))} to {_when(window.get('end'))}"
    if window.get("n") is not None:
        window_text += f", {cell_text(window['n'])} predictions"
    items = [
        ("Generated", _when(doc.generated_at)),
        ("Model version", cell_text(doc.model_version)),
        ("Reference", ref_text),
        ("Current window", window_text),
    ]
    return (
        '<dl class="meta">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
        + "</dl>"
    )


def to_html(doc: MonitorDocument) -> str:
    """The report as one self-contained HTML page (see the module docstring).

    Every text and table value is HTML-escaped; figures are drawn by plotly.js, inlined once
    with the first figure, so the file renders without a network.

    Raises:
        InvalidArgumentError: as :func:`to_dict`.
    """
    doc = _check_document(doc)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="FakeScope {_e(__version__)}">',
        f"<title>{_e(doc.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(doc.title)}</h1>{_meta(doc)}",
    ]
    if doc.headline:
        parts.append(
            '<ul class="headline">'
            + "".join(f"<li>{_e(line)}</li>" for line in doc.headline)
            + "</ul>"
        )
    parts.append("</header><main>")
    plotlyjs_included = False
    for section in doc.sections:
        parts.append(f"<section><h2>{_e(section.title)}</h2>")
        if section.text:
            parts.append(_html_text(section.text))
        if section.figure is not None:
            parts.append(_html_figure(section.figure, include_plotlyjs=not plotlyjs_included))
            plotlyjs_included = True
        if section.table is not None:
            parts.append(_html_table(section.table))
        parts.append("</section>")
    parts.append(f"</main><footer>Made by FakeScope {_e(__version__)}. All times are UTC.</footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
