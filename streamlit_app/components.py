"""Small rendering helpers shared by the pages (no model, no SQL, no statistics)."""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import streamlit as st

from fakescope.config import BROWSER_MEGABYTE, SERVER_MEGABYTE, Settings, megabytes_covering
from fakescope.safe_text import csv_row
from fakescope.verdicts import Prediction, Rejection

logger = logging.getLogger("fakescope.dashboard")

VERDICT_STYLE = {
    "fake": ("Fake", "red", ":material/warning:"),
    "real": ("Real", "green", ":material/photo_camera:"),
    "uncertain": ("Uncertain", "orange", ":material/help:"),
}
CSV_FIELDS = (
    "name",
    "verdict",
    "fake_probability",
    "confidence",
    "latency_ms",
    "model_name",
    "model_version",
    "sha256",
    "reason",
    "error",
)
# Chart windows, smallest first; the first that gives at most ~60 windows over the span wins.
WINDOWS = (
    ("1min", timedelta(minutes=1)),
    ("5min", timedelta(minutes=5)),
    ("15min", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("1D", timedelta(days=1)),
)


def verdict_badge(verdict: str) -> None:
    """A coloured badge: Real (green), Fake (red), Uncertain (orange)."""
    label, color, icon = VERDICT_STYLE.get(verdict, (verdict.title(), "gray", ""))
    # A badge inside a heading: the verdict is the first thing the eye finds.
    st.markdown(f"### :{color}-badge[{icon} {label}]")


def fallback_note(info: Any) -> None:
    """Say so when the running model is the fallback (FAKESCOPE_FALLBACK_MODEL), and why."""
    reason = (getattr(info, "extra", None) or {}).get("fallback_reason")
    if reason:
        st.warning(
            f"Serving the fallback model {info.name} {info.version}: the configured model could "
            f"not be loaded ({reason}).",
            icon=":material/warning:",
        )


def run_page(page: Any) -> None:
    """Run the page chosen in the navigation; an uncaught error never shows its details.

    The page gets a short message with a reference id, and the server log gets the same id with
    the traceback: a user can quote the id, an operator can find the cause, and no traceback,
    server path or exception text reaches the browser (``client.showErrorDetails = "none"``
    covers the errors raised outside a page, in widget callbacks).
    """
    try:
        page.run()
    except Exception as exc:  # st.stop() and reruns are BaseException: they pass through
        reference = secrets.token_hex(4)
        logger.error(
            "dashboard error %s on page %r", reference, getattr(page, "title", "?"), exc_info=exc
        )
        st.error(
            f"Something went wrong on this page, so it stopped. Reference: {reference}. Reload "
            "the page to try again; if it keeps failing, give this reference to whoever runs "
            "FakeScope.",
            icon=":material/error:",
        )


def uploader_limit_mb(settings: Settings) -> int:
    """The uploader's ``max_upload_size``: the package's limit in the browser's megabytes.

    ``Settings.max_file_bytes`` is the one limit, counted in megabytes of 10**6 bytes as the
    browser counts ``max_upload_size`` (1024**2 on Windows), so the two are equal to the byte for
    whole-megabyte limits (rounded up otherwise: no file the package accepts is refused in the
    browser). One over the limit that a browser lets through reaches the server
    (``server.maxUploadSize``, in MiB, at least the limit) and the package, which logs it with
    reason ``too_large``.
    """
    limit = settings.max_file_bytes
    server_bytes = int(st.get_option("server.maxUploadSize")) * SERVER_MEGABYTE
    if server_bytes < limit:
        # The server would refuse these files with no reason shown or logged: tell the operator.
        logger.warning(
            "server.maxUploadSize (%s MB) is below FakeScope's upload limit (%s bytes); set "
            "STREAMLIT_SERVER_MAX_UPLOAD_SIZE=%s",
            server_bytes // SERVER_MEGABYTE,
            limit,
            megabytes_covering(limit, SERVER_MEGABYTE),
        )
        limit = server_bytes
    return megabytes_covering(limit, BROWSER_MEGABYTE)


def result_row(name: str, outcome: Prediction | Rejection) -> dict[str, Any]:
    """One download row: a prediction's numbers, or a rejection's reason and message."""
    if isinstance(outcome, Prediction):
        return {
            "name": name,
            "verdict": outcome.verdict,
            "fake_probability": round(outcome.fake_probability, 6),
            "confidence": round(outcome.confidence, 6),
            "latency_ms": round(outcome.latency_ms, 3),
            "model_name": outcome.model_name,
            "model_version": outcome.model_version,
            "sha256": outcome.sha256,
            "scores": {k: round(v, 6) for k, v in outcome.scores.items()},
            "features": dict(outcome.features),
        }
    return {
        "name": name,
        "verdict": "rejected",
        "sha256": outcome.sha256,
        "reason": outcome.reason,
        "error": outcome.message,
    }


def results_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """The rows as CSV (scores and features are left to the JSON download).

    File names are untrusted: every text cell is printable and none starts a spreadsheet
    formula (:func:`fakescope.safe_text.csv_cell`).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(csv_row(row) for row in rows)
    return buffer.getvalue().encode("utf-8")


def results_json(rows: Sequence[dict[str, Any]]) -> bytes:
    """The rows as an indented JSON array."""
    return (json.dumps(list(rows), indent=2) + "\n").encode("utf-8")


def pick_window(span: timedelta, most: int = 60) -> str:
    """The smallest chart window that cuts ``span`` into at most ``most`` pieces."""
    for name, width in WINDOWS:
        if span <= width * most:
            return name
    return WINDOWS[-1][0]


def flash(key: str, kind: str, message: str) -> None:
    """Keep a message to show on the next run (callbacks cannot draw on the page)."""
    st.session_state[key] = (kind, message)


def show_flash(key: str) -> None:
    """Show and forget the message kept by :func:`flash`."""
    kept = st.session_state.pop(key, None)
    if kept:
        kind, message = kept
        {"success": st.success, "error": st.error}.get(kind, st.info)(message)
