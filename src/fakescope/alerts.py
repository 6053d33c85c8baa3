"""Monitoring alerts, POSTed as JSON to a webhook in Slack's incoming-webhook format.

One alert per window: :func:`maybe_alert` sends a payload at most once per ``(kind, window_key)``,
looking it up in the prediction log (:meth:`PredictionStore.alert_sent`) and recording every
attempt there (:meth:`PredictionStore.record_alert`, status ``sent`` or ``failed``). Only a
``sent`` record blocks a repeat: a failed send is tried again at a later check. Nothing here
raises to the caller for a network problem (HTTP error, timeout, refused connection, unknown
host): the Monitor page and the API keep working and show the returned status instead.

Payloads (:func:`drift_alert_payload`, :func:`accuracy_alert_payload`) are plain JSON objects
that Slack, Mattermost and most chat webhooks accept: ``{"text": "<one line>", "blocks":
[{"type": "section", "text": {"type": "mrkdwn", "text": "..."}}]}``. ``text`` is the summary a
notification shows; the section block is the message. Values that come from people (reference
names and descriptions, model versions) are escaped for Slack's mrkdwn, so a description such as
``<!channel>`` or ``<https://x|click>`` shows as itself instead of pinging a channel or making a
link.

Settings: ``alert_webhook_url`` (FAKESCOPE_ALERT_WEBHOOK_URL, empty = off, http/https only),
``alert_accuracy_floor`` (FAKESCOPE_ALERT_ACCURACY_FLOOR) and ``alert_timeout_seconds``
(FAKESCOPE_ALERT_TIMEOUT); see :class:`fakescope.config.Settings`.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from fakescope import __version__
from fakescope.config import Settings, webhook_url_problem
from fakescope.errors import FakeScopeError, InvalidArgumentError
from fakescope.safe_text import printable

if TYPE_CHECKING:  # only for type hints: drift_checks pulls in the drift statistics
    from fakescope.drift_checks import WindowCheck

logger = logging.getLogger(__name__)

KIND_DRIFT = "drift"
KIND_ACCURACY = "accuracy"
# What maybe_alert returns besides "failed: <why>".
SENT, ALREADY_SENT, OFF = "sent", "already sent", "off"
# After a failed send, the same alert is not tried again for this long in this process: a page
# rendered by many sessions while the webhook is down would otherwise wait for the timeout and
# add a "failed" row to the log on every render.
RETRY_AFTER_SECONDS = 60.0
# A drift alert for a model version and reference is sent at most once per block of this length
# (UTC, on the window's last prediction): Alertmanager's default repeat interval.
DRIFT_REPEAT = "4h"
# The columns of the store's alerts table (store.py): longer keys are shortened with a hash.
MAX_KIND_CHARS = 64
MAX_WINDOW_KEY_CHARS = 200
# Slack refuses a section block whose text is over 3000 characters.
MAX_BLOCK_CHARS = 3000
MAX_TEXT_CHARS = 500
_MAX_ANSWER_BYTES = 64 * 1024
_MAX_ERROR_BODY_CHARS = 80


class AlertError(FakeScopeError):
    """A webhook call did not succeed: HTTP error status, timeout, refused connection, bad host.

    The message is one line and names the webhook by scheme and host only (its path is usually
    its secret).
    """


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a redirect with an error: webhooks do not redirect, and urllib would follow one to
    ``ftp://`` or turn the POST into a GET without its body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _where(url: str) -> str:
    """``https://hooks.slack.com``: a webhook named without its secret path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _error_body(error: urllib.error.HTTPError) -> str:
    try:
        body = error.read(_MAX_ANSWER_BYTES).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        error.close()
    body = printable(" ".join(body.split()))
    if len(body) > _MAX_ERROR_BODY_CHARS:
        body = body[: _MAX_ERROR_BODY_CHARS - 3] + "..."
    return f": {body}" if body else ""


def _network_reason(reason: Any, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "refused the connection"
    if isinstance(reason, socket.gaierror):
        return "host not found"
    text = printable(" ".join(str(getattr(reason, "strerror", None) or reason).split()))
    return text or type(reason).__name__


def send_webhook(url: str, payload: Mapping[str, Any], *, timeout: float) -> None:
    """POST ``payload`` as JSON (``Content-Type: application/json``) to ``url``.

    Any 2xx answer is success. Redirects are not followed (a 3xx answer is an error).

    Args:
        url: an ``http://`` or ``https://`` URL.
        payload: a JSON object (see :func:`drift_alert_payload`).
        timeout: seconds allowed to connect and for each read of the answer.

    Raises:
        InvalidArgumentError: the URL is not http/https, the timeout is not positive, or the
            payload cannot be written as strict JSON (NaN, infinity, objects JSON cannot hold).
        AlertError: the webhook answered with an error status, did not answer within
            ``timeout``, refused the connection or could not be reached.
    """
    if problem := webhook_url_problem(url):
        raise InvalidArgumentError(f"webhook URL {problem}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise InvalidArgumentError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    if not isinstance(payload, Mapping):
        raise InvalidArgumentError(f"payload must be a JSON object, got {type(payload).__name__}")
    try:
        body = json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"payload cannot be sent as JSON: {exc}") from None
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"FakeScope/{__version__}",
        },
    )
    where = _where(url)
    try:
        # The URL's scheme was checked above (http/https only) and redirects are refused, so
        # urlopen cannot be steered to file:// or ftp://.
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(_MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        reason = printable(exc.reason) if exc.reason else ""
        raise AlertError(
            f"webhook {where} answered HTTP {exc.code} {reason}".rstrip() + _error_body(exc)
        ) from None
    except urllib.error.URLError as exc:
        raise AlertError(f"webhook {where} {_network_reason(exc.reason, timeout)}") from None
    except TimeoutError as exc:
        raise AlertError(f"webhook {where} {_network_reason(exc, timeout)}") from None
    except http.client.HTTPException as exc:
        raise AlertError(
            f"webhook {where} gave no valid HTTP answer ({type(exc).__name__})"
        ) from None
    except (OSError, ValueError) as exc:
        raise AlertError(f"webhook {where}: {_network_reason(exc, timeout)}") from None


# --------------------------------------------------------------------------------- payloads


def slack_escape(text: Any) -> str:
    """``text`` on one line, with the three characters Slack's mrkdwn acts on escaped.

    Slack reads ``<...>`` as a link or a mention (``<!channel>``) and asks senders to write
    ``&``, ``<`` and ``>`` as ``&amp;``, ``&lt;`` and ``&gt;``.
    """
    safe = printable("" if text is None else text)
    return safe.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _utc(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def format_window(window_start: Any, window_end: Any, n: int | None = None) -> str:
    """``2026-01-01 09:00 - 10:12 UTC, 200 predictions`` (the date once when both share it)."""
    start, end = _utc(window_start), _utc(window_end)
    if start is not None and end is not None:
        end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
        span = f"{start:%Y-%m-%d %H:%M} - {end_text} UTC"
    elif start is not None or end is not None:
        span = f"{(start if start is not None else end):%Y-%m-%d %H:%M} UTC"
    else:
        span = ""
    count = f"{int(n):,} predictions" if n is not None else ""
    return ", ".join(part for part in (span, count) if part) or "unknown window"


def _score(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return "no score"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "no score"
    return f"{number:.4g}" if math.isfinite(number) else "no score"


def _payload(summary: str, lines: list[str]) -> dict[str, Any]:
    text = summary if len(summary) <= MAX_TEXT_CHARS else summary[: MAX_TEXT_CHARS - 3] + "..."
    block = "\n".join(lines)
    if len(block) > MAX_BLOCK_CHARS:
        block = block[: MAX_BLOCK_CHARS - 3] + "..."
    return {
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": block}}],
    }


def drift_alert_payload(
    *,
    model_version: str | None,
    reference_name: str,
    reference_description: str = "",
    window_start: Any = None,
    window_end: Any = None,
    n: int | None = None,
    alarms: Mapping[str, float | None],
    thresholds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Slack payload of a drift alert.

    Args:
        model_version: the model version whose predictions drifted.
        reference_name: the reference the window was compared with.
        reference_description: what the reference holds (may be empty).
        window_start: first prediction of the window (datetime, Timestamp or ISO text; naive
            times are UTC), or None.
        window_end: last prediction of the window, or None.
        n: predictions in the window, or None.
        alarms: the tests that alarmed, each with its score (p-value, share or AUC).
        thresholds: each test's alarm rule (``p <= 0.0167``), shown beside its score.

    Returns:
        ``{"text": <one line>, "blocks": [<one mrkdwn section>]}``.
    """
    thresholds = thresholds or {}
    version = slack_escape(model_version or "unknown version")
    reference = slack_escape(reference_name)
    window = format_window(window_start, window_end, n)
    tests = [
        f"{slack_escape(test)} {_score(score)}"
        + (f" (alarm when {slack_escape(thresholds[test])})" if thresholds.get(test) else "")
        for test, score in alarms.items()
    ]
    summary = f"FakeScope drift alert: model {version} vs reference {reference}, {window}: " + (
        "; ".join(tests) if tests else "no test named"
    )
    lines = [
        ":rotating_light: *FakeScope: drift detected*",
        f"*Model version:* {version}",
        f"*Reference:* {reference}"
        + (f" ({slack_escape(reference_description)})" if reference_description else ""),
        f"*Window:* {window}",
        "*Tests that alarmed:*",
        *([f"\u2022 {test}" for test in tests] or ["\u2022 none named"]),
    ]
    return _payload(summary, lines)


def accuracy_alert_payload(
    *,
    model_version: str | None,
    accuracy: float,
    floor: float,
    window_start: Any = None,
    window_end: Any = None,
    n: int | None = None,
    estimated: bool = True,
) -> dict[str, Any]:
    """The Slack payload of an accuracy alert: a window's accuracy fell below the floor.

    Args:
        model_version: the model version the window is about.
        accuracy: the window's accuracy in [0, 1].
        floor: ``Settings.alert_accuracy_floor``.
        window_start: first prediction of the window, or None.
        window_end: last prediction (or end) of the window, or None.
        n: predictions in the window, or None.
        estimated: True for the label-free estimate
            (:func:`fakescope.feedback.estimated_performance_over_time`), False for accuracy
            measured on labels.

    Returns:
        ``{"text": <one line>, "blocks": [<one mrkdwn section>]}``.
    """
    version = slack_escape(model_version or "unknown version")
    kind = "estimated" if estimated else "measured"
    window = format_window(window_start, window_end, n)
    figures = f"{kind} accuracy {_percent(accuracy)} < floor {_percent(floor)}"
    summary = f"FakeScope accuracy alert: model {version}, {figures}, {window}"
    lines = [
        ":warning: *FakeScope: accuracy below the floor*",
        f"*Model version:* {version}",
        f"*{kind.capitalize()} accuracy:* {_percent(accuracy)} (floor {_percent(floor)})",
        f"*Window:* {window}",
    ]
    if estimated:
        lines.append(
            "_Estimated from the model's own confidence (no labels): trust it as far as the "
            "model's calibration holds._"
        )
    return _payload(summary, lines)


def _percent(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{number:.1%}" if math.isfinite(number) else "n/a"


# ------------------------------------------------------------------------------- sending once

_send_lock = threading.Lock()
_failures: OrderedDict[tuple[str, str, str], tuple[float, str]] = OrderedDict()
_MAX_REMEMBERED_FAILURES = 256


def alert_key(*parts: Any) -> str:
    """A window key made of ``parts`` joined by ``|``, shortened with a hash past 200 characters.

    Example: ``alert_key("v3", "model", "2026-01-01T08:00Z")`` -> ``v3|model|2026-01-01T08:00Z``.
    """
    key = "|".join(printable("" if part is None else part) for part in parts) or "-"
    if len(key) <= MAX_WINDOW_KEY_CHARS:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return key[: MAX_WINDOW_KEY_CHARS - len(digest) - 1] + "#" + digest


def _check_key(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise InvalidArgumentError(
            f"{what} must be non-empty text of at most {limit} characters, got {value!r:.80}"
        )
    return value.strip()


def _summary(payload: Mapping[str, Any]) -> str:
    text = payload.get("text")
    if isinstance(text, str) and text.strip():
        return text
    return json.dumps(payload, default=str)[:2000]


def _record(store: Any, kind: str, window_key: str, message: str, status: str) -> None:
    try:
        store.record_alert(kind, window_key, message, status)
    except FakeScopeError as exc:
        # The alert itself went out (or failed) either way; a log that cannot be written must
        # not break the page. A "sent" that is not recorded may be sent again at a later check.
        logger.warning("alert %s/%s (%s) not recorded: %s", kind, window_key, status, exc)


def maybe_alert(
    store: Any,
    settings: Settings,
    *,
    kind: str,
    window_key: str,
    payload: Mapping[str, Any],
    retry_after: float = RETRY_AFTER_SECONDS,
) -> str:
    """Send ``payload`` to the webhook unless this ``(kind, window_key)`` was already sent.

    Every attempt is recorded in the store: ``sent`` with the payload's ``text``, ``failed`` with
    the reason. A failed alert is tried again at a later call, but no sooner than
    ``retry_after`` seconds after the failure in this process (calls in between return the
    failure without contacting the webhook or recording anything). Concurrent calls in one
    process are serialised, so two sessions rendering the same page send one alert; separate
    processes sharing a log may, rarely, both send.

    Args:
        store: a :class:`fakescope.store.PredictionStore` (``alert_sent``, ``record_alert``).
        settings: ``alert_webhook_url`` and ``alert_timeout_seconds`` are used.
        kind: what the alert is about, e.g. :data:`KIND_DRIFT` (at most 64 characters).
        window_key: which window (at most 200 characters; see :func:`alert_key`).
        payload: the JSON object to POST (:func:`drift_alert_payload`, ...).
        retry_after: seconds before a failed alert is tried again (0: at the next call).

    Returns:
        ``"sent"``, ``"already sent"``, ``"failed: <one-line reason>"``, or ``"off"`` when no
        webhook is configured.

    Raises:
        InvalidArgumentError: an empty or too long ``kind`` / ``window_key``, or a payload that
            is not strict JSON (programming errors, never network problems).
    """
    url = settings.alert_webhook_url
    if not url:
        return OFF
    kind = _check_key(kind, "kind", MAX_KIND_CHARS)
    window_key = _check_key(window_key, "window_key", MAX_WINDOW_KEY_CHARS)
    timeout = settings.alert_timeout_seconds
    memory_key = (str(getattr(store, "url", id(store))), kind, window_key)
    # Bounded: a webhook that hangs must not hold every page behind it.
    if not _send_lock.acquire(timeout=2 * timeout + 1):
        return "failed: another alert is still being sent; this one is tried at the next check"
    try:
        try:
            if store.alert_sent(kind, window_key):
                return ALREADY_SENT
        except FakeScopeError as exc:
            return f"failed: the alert log cannot be read: {exc}"
        failed = _failures.get(memory_key)
        if failed is not None:
            wait = retry_after - (time.monotonic() - failed[0])
            if wait > 0:
                return f"failed: {failed[1]} (next try in {math.ceil(wait)} s)"
        try:
            send_webhook(url, payload, timeout=timeout)
        except AlertError as exc:
            _failures[memory_key] = (time.monotonic(), str(exc))
            _failures.move_to_end(memory_key)
            while len(_failures) > _MAX_REMEMBERED_FAILURES:
                _failures.popitem(last=False)
            _record(store, kind, window_key, str(exc), "failed")
            return f"failed: {exc}"
        _failures.pop(memory_key, None)
        _record(store, kind, window_key, _summary(payload), "sent")
        return SENT
    finally:
        _send_lock.release()


# ------------------------------------------------------------------------ checks for the pages


def check_drift_alert(
    store: Any, settings: Settings, check: WindowCheck, model_version: str | None
) -> str | None:
    """Alert when ``check`` drifted; what the Monitor page shows beside the verdict.

    The window key is the model version, the reference and the :data:`DRIFT_REPEAT` block (UTC)
    of the window's last prediction, so drift that lasts sends one alert per block and a log
    that does not move sends one alert in all.

    Args:
        store: the prediction log (see :func:`maybe_alert`).
        settings: the alert settings.
        check: :func:`fakescope.drift_checks.check_window`'s result.
        model_version: the version the window's predictions came from.

    Returns:
        None when alerts are off or the window did not drift, else :func:`maybe_alert`'s status.
    """
    if not settings.alert_webhook_url or check.drifted is not True:
        return None
    alarmed = [r for r in check.results if r.drifted]
    end = _utc(check.window_end)
    block = f"{end.floor(DRIFT_REPEAT):%Y-%m-%dT%H:%MZ}" if end is not None else "no time"
    payload = drift_alert_payload(
        model_version=model_version,
        reference_name=check.reference_name,
        reference_description=check.reference_description,
        window_start=check.window_start,
        window_end=check.window_end,
        n=check.n,
        alarms={r.test: r.score for r in alarmed},
        thresholds={r.test: r.threshold for r in alarmed},
    )
    key = alert_key(model_version, check.reference_name, block)
    return maybe_alert(store, settings, kind=KIND_DRIFT, window_key=key, payload=payload)


def check_accuracy_alert(
    store: Any,
    settings: Settings,
    *,
    model_version: str | None,
    accuracy: float | None,
    window_start: Any,
    window_end: Any,
    n: int | None = None,
    estimated: bool = True,
) -> str | None:
    """Alert when a window's accuracy is below ``settings.alert_accuracy_floor``.

    The window key is the model version, ``estimated``/``measured`` and the window's start and
    end (fixed windows such as those of :func:`fakescope.feedback.estimated_performance_over_time`
    keep their key as rows arrive).

    Returns:
        None when alerts are off, the accuracy is unknown (None, NaN) or not below the floor,
        else :func:`maybe_alert`'s status.
    """
    if not settings.alert_webhook_url or accuracy is None:
        return None
    try:
        value = float(accuracy)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value >= settings.alert_accuracy_floor:
        return None
    start, end = _utc(window_start), _utc(window_end)
    payload = accuracy_alert_payload(
        model_version=model_version,
        accuracy=value,
        floor=settings.alert_accuracy_floor,
        window_start=start,
        window_end=end,
        n=n,
        estimated=estimated,
    )
    key = alert_key(
        model_version,
        "estimated" if estimated else "measured",
        start.isoformat() if start is not None else "",
        end.isoformat() if end is not None else "",
    )
    return maybe_alert(store, settings, kind=KIND_ACCURACY, window_key=key, payload=payload)
