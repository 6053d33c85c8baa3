"""Small rendering helpers shared by the pages (no model, no SQL, no statistics)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import streamlit as st

from fakescope.verdicts import Prediction, Rejection

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
    """The rows as CSV (scores and features are left to the JSON download)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
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
