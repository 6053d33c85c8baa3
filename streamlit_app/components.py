"""Small rendering helpers shared by the pages (no model, no SQL, no statistics)."""

from __future__ import annotations

import csv
import io
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import streamlit as st

from fakescope.config import BROWSER_MEGABYTE, SERVER_MEGABYTE, Settings, megabytes_covering
from fakescope.safe_text import csv_row, without_server_paths
from fakescope.verdicts import Prediction, Rejection

logger = logging.getLogger("fakescope.dashboard")

APP_NAME = "FakeScope"
APP_TAGLINE = "Tells real photographs from AI-generated images, and shows how sure it is."
# Label, Streamlit colour name, icon, bar colour (hex; the same hues as the theme's red, green and
# orange, dark enough for white text and for a 3:1 contrast on white). The word and the icon carry
# the verdict on their own, for anyone who cannot tell the colours apart.
VERDICT_STYLE = {
    "fake": ("Fake", "red", ":material/warning:", "#c62828"),
    "real": ("Real", "green", ":material/verified:", "#2e7d32"),
    "uncertain": ("Uncertain", "orange", ":material/help:", "#b45309"),
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
# Columns every exported CSV row carries when the export names its settings.
META_FIELDS = ("threshold", "uncertain_band", "exported_at_utc")
# Chart windows, smallest first; the first that gives at most ~60 windows over the span wins.
WINDOWS = (
    ("1min", timedelta(minutes=1)),
    ("5min", timedelta(minutes=5)),
    ("15min", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("1D", timedelta(days=1)),
)


def app_header() -> None:
    """The app's name and what it does, at the top of every page."""
    st.markdown(f"**:material/image_search: {APP_NAME}** · {APP_TAGLINE}")


def verdict_badge(verdict: str) -> None:
    """The verdict as a large coloured heading with an icon: Real, Fake or Uncertain."""
    label, color, icon, _ = VERDICT_STYLE.get(verdict, (verdict.title(), "gray", "", ""))
    # The largest text on the card: the verdict is the first thing the eye finds.
    st.markdown(f"## :{color}[{icon} {label}]")


def probability_bar(probability: float, verdict: str) -> None:
    """The fake probability as a bar in the verdict's colour, with the number beside it.

    ``st.progress`` has one colour whatever the verdict, so this is a small HTML bar; it holds
    numbers and a fixed colour only, never user text.
    """
    share = min(1.0, max(0.0, float(probability)))
    colour = VERDICT_STYLE.get(verdict, ("", "", "", "#6b7280"))[3]
    st.markdown(
        f'<div role="progressbar" aria-label="Fake probability" aria-valuemin="0" '
        f'aria-valuemax="100" aria-valuenow="{share * 100:.0f}" class="fakescope-bar" '
        f'style="background:#e5e7eb;border-radius:6px;height:10px;overflow:hidden">'
        f'<div style="width:{share * 100:.1f}%;height:100%;background:{colour}"></div></div>'
        f'<div style="font-size:0.9rem;margin-top:4px">Fake probability: {share:.1%}</div>',
        unsafe_allow_html=True,
    )


def truth_note(expected: str, verdict: str) -> str:
    """Markdown saying whether a verdict on an image of known truth was right."""
    truth = f"it is a {expected} image"
    if verdict == "uncertain":
        return f":orange[:material/help: **Undecided**: {truth}.]"
    if verdict == expected:
        return f":green[:material/check_circle: **Right**: {truth}.]"
    return f":red[:material/cancel: **Wrong**: {truth}.]"


def sample_label(name: str) -> str:
    """A button label for a bundled sample that does not give its answer away.

    ``real_cv_apple.jpg`` -> ``apple``: the real/fake prefix is the truth, and the next part
    names the sample's source (and, for fakes, a generator), which would hint at it too.
    """
    parts = Path(name).stem.split("_")
    if parts and parts[0] in ("real", "fake"):
        parts = parts[1:]
    if len(parts) >= 2:
        parts = parts[1:2]
    return " ".join(parts) or name


@dataclass(frozen=True)
class ExportMeta:
    """What a download was made with: the model, the verdict settings and when (UTC)."""

    model_name: str
    model_version: str
    threshold: float
    uncertain_band: float
    exported_at: datetime

    @property
    def stamp(self) -> str:
        return self.exported_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_meta(
    model_name: str, model_version: str, threshold: float, band: float, when: datetime
) -> ExportMeta:
    """The settings a download records (``when`` in UTC)."""
    return ExportMeta(model_name, model_version, float(threshold), float(band), when)


def export_name(meta: ExportMeta, extension: str) -> str:
    """A download's file name: model version, threshold, band and UTC time, safe on any disk."""
    when = meta.exported_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    version = "".join(c for c in meta.model_version if c.isalnum() or c in "-.")[:20] or "model"
    return (
        f"fakescope-{version}-t{meta.threshold:.2f}-band{meta.uncertain_band:.2f}-{when}"
        f".{extension}"
    )


def fallback_note(info: Any) -> None:
    """Say so when the running model is the fallback (FAKESCOPE_FALLBACK_MODEL), and why."""
    reason = (getattr(info, "extra", None) or {}).get("fallback_reason")
    if reason:
        st.warning(
            f"Serving the fallback model {info.name} {info.version}: the configured model could "
            f"not be loaded ({without_server_paths(reason)}).",
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
    """One download row: a prediction's numbers (and its reason, when the score did not decide
    the verdict), or a rejection's reason and message."""
    if isinstance(outcome, Prediction):
        row = {
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
        if outcome.reason:  # as in `fakescope predict --json`: only where the score did not decide
            row["reason"] = outcome.reason
        return row
    return {
        "name": name,
        "verdict": "rejected",
        "sha256": outcome.sha256,
        "reason": outcome.reason,
        "error": outcome.message,
    }


def results_csv(rows: Sequence[dict[str, Any]], meta: ExportMeta | None = None) -> bytes:
    """The rows as CSV (scores and features are left to the JSON download).

    With ``meta``, every row also carries the threshold, the uncertain band and the export's UTC
    time: a CSV is often opened far from the page, and a verdict means nothing without them.
    File names are untrusted: every text cell is printable and none starts a spreadsheet
    formula (:func:`fakescope.safe_text.csv_cell`).
    """
    fields = list(CSV_FIELDS) + (list(META_FIELDS) if meta else [])
    extra = (
        {
            "threshold": meta.threshold,
            "uncertain_band": meta.uncertain_band,
            "exported_at_utc": meta.stamp,
        }
        if meta
        else {}
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(csv_row({**row, **extra}) for row in rows)
    return buffer.getvalue().encode("utf-8")


def results_json(rows: Sequence[dict[str, Any]], meta: ExportMeta | None = None) -> bytes:
    """The rows as an indented JSON array; with ``meta``, an object with the settings and the
    rows under ``results``."""
    data: Any = list(rows)
    if meta:
        data = {
            "model_name": meta.model_name,
            "model_version": meta.model_version,
            "threshold": meta.threshold,
            "uncertain_band": meta.uncertain_band,
            "exported_at_utc": meta.stamp,
            "results": data,
        }
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


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
    """Show and forget the message kept by :func:`flash` (call it where the message belongs:
    under the button that caused it)."""
    kept = st.session_state.pop(key, None)
    if kept:
        kind, message = kept
        {"success": st.success, "error": st.error}.get(kind, st.info)(message)
