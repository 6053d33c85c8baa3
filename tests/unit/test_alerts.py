"""Alerts against a real local HTTP server and a real prediction log on a temporary SQLite file."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from fakescope import alerts
from fakescope.alerts import (
    AlertError,
    accuracy_alert_payload,
    alert_key,
    check_accuracy_alert,
    check_drift_alert,
    drift_alert_payload,
    maybe_alert,
    send_webhook,
)
from fakescope.config import Settings
from fakescope.errors import ConfigError, InvalidArgumentError, StoreError
from fakescope.store import PredictionStore

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
END = datetime(2026, 1, 1, 10, 12, tzinfo=timezone.utc)
SECRET_PATH = "/services/T000/B000/SECRETxyz"


@dataclass
class Webhook:
    """A local webhook: records every request; answers from ``plan``, then 200 ``ok``."""

    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Each entry answers one request: (status, body, seconds to wait before answering).
    plan: list[tuple[int, str, float]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{SECRET_PATH}"


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.requests.append(
                {"path": self.path, "headers": dict(self.headers.items()), "body": body}
            )
            status, text, wait = hook.plan.pop(0) if hook.plan else (200, "ok", 0.0)
            if wait:
                hook.release.wait(wait)
            try:
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())
            except OSError:  # the client gave up (the timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    hook = Webhook(server)
    server.RequestHandlerClass = _handler(hook)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield hook
    hook.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PredictionStore]:
    with PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}") as opened:
        yield opened


def settings_for(url: str, timeout: float = 3.0) -> Settings:
    return Settings(alert_webhook_url=url, alert_timeout_seconds=timeout)


def a_drift_payload(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        model_version="v3",
        reference_name="model",
        reference_description="validation images sent through the serving path",
        window_start=START,
        window_end=END,
        n=200,
        alarms={"prediction": 0.000123, "embedding_mmd": 0.004},
        thresholds={"prediction": "p <= 0.0167"},
    )
    values.update(changes)
    return drift_alert_payload(**values)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------------- settings


def test_settings_read_alert_variables() -> None:
    url = "https://hooks.slack.com" + SECRET_PATH
    settings = Settings.from_env(
        {
            "FAKESCOPE_ALERT_WEBHOOK_URL": url,
            "FAKESCOPE_ALERT_ACCURACY_FLOOR": "0.9",
            "FAKESCOPE_ALERT_TIMEOUT": "2.5",
        }
    )
    assert settings.alert_webhook_url == url
    assert settings.alert_accuracy_floor == 0.9
    assert settings.alert_timeout_seconds == 2.5
    assert "SECRET" not in repr(settings)


def test_settings_alerts_are_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.alert_webhook_url == ""
    assert settings.alert_accuracy_floor == 0.75
    assert settings.alert_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://example.com/SECRET", "must be an http:// or https:// URL, got scheme 'ftp'"),
        ("file:///etc/passwd", "must be an http:// or https:// URL, got scheme 'file'"),
        ("hooks.slack.com/SECRET", "got no scheme"),
        ("https:///SECRET", "must name a host"),
        ("https://example.com:port/SECRET", "not a valid URL"),
        ("https://example.com/SECRET b", "spaces or control characters"),
    ],
)
def test_settings_refuse_a_webhook_url_that_is_not_http(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Settings.from_env({"FAKESCOPE_ALERT_WEBHOOK_URL": value})
    assert "FAKESCOPE_ALERT_WEBHOOK_URL" in str(caught.value)
    assert "SECRET" not in str(caught.value)  # the URL's path (its secret) is not repeated


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FAKESCOPE_ALERT_ACCURACY_FLOOR", "1.5", "alert_accuracy_floor must be between 0 and 1"),
        ("FAKESCOPE_ALERT_ACCURACY_FLOOR", "nan", "alert_accuracy_floor must be between 0 and 1"),
        ("FAKESCOPE_ALERT_ACCURACY_FLOOR", "high", "must be a number"),
        ("FAKESCOPE_ALERT_TIMEOUT", "0", "alert_timeout_seconds must be more than 0"),
        ("FAKESCOPE_ALERT_TIMEOUT", "61", "at most 60"),
        ("FAKESCOPE_ALERT_TIMEOUT", "inf", "alert_timeout_seconds"),
    ],
)
def test_settings_refuse_bad_alert_numbers(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


# ----------------------------------------------------------------------------------- payloads


def test_drift_payload_is_a_slack_message() -> None:
    payload = a_drift_payload()

    assert set(payload) == {"text", "blocks"}
    assert "\n" not in payload["text"]
    assert payload["text"].startswith("FakeScope drift alert: model v3 vs reference model")
    assert "2026-01-01 09:00 - 10:12 UTC, 200 predictions" in payload["text"]
    assert "prediction 0.000123 (alarm when p &lt;= 0.0167)" in payload["text"]
    assert "embedding_mmd 0.004" in payload["text"]
    [block] = payload["blocks"]
    assert block["type"] == "section"
    assert block["text"]["type"] == "mrkdwn"
    text = block["text"]["text"]
    assert "*Model version:* v3" in text
    assert "*Reference:* model (validation images sent through the serving path)" in text
    assert "\u2022 prediction 0.000123" in text
    json.dumps(payload, allow_nan=False)


def test_payload_escapes_slack_markup_from_people() -> None:
    payload = a_drift_payload(
        reference_name="<!channel>",
        reference_description="a & b <https://evil.example|click>\nline two",
        model_version="v<1>",
    )

    sent = json.dumps(payload)
    assert "<!channel>" not in sent and "<https://evil" not in sent
    block = payload["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt;" in block
    assert "a &amp; b &lt;https://evil.example|click&gt;\\nline two" in block
    assert "v&lt;1&gt;" in payload["text"]


def test_drift_payload_without_scores_or_times_still_reads() -> None:
    payload = a_drift_payload(window_start=None, window_end=None, n=None, alarms={"x": None})
    assert "unknown window" in payload["text"]
    assert "x no score" in payload["text"]


def test_accuracy_payload_compares_with_the_floor() -> None:
    payload = accuracy_alert_payload(
        model_version="v3",
        accuracy=0.7123,
        floor=0.8,
        window_start="2026-01-01T09:00:00",
        window_end="2026-01-01T10:00:00+01:00",
        n=150,
    )

    assert payload["text"] == (
        "FakeScope accuracy alert: model v3, estimated accuracy 71.2% < floor 80.0%, "
        "2026-01-01 09:00 - 09:00 UTC, 150 predictions"
    )
    block = payload["blocks"][0]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert "*Estimated accuracy:* 71.2% (floor 80.0%)" in block["text"]["text"]
    measured = accuracy_alert_payload(model_version="v3", accuracy=0.5, floor=0.8, estimated=False)
    assert "measured accuracy 50.0%" in measured["text"]
    assert "confidence" not in measured["blocks"][0]["text"]["text"]


def test_alert_key_is_stable_and_fits_the_log() -> None:
    assert alert_key("v3", "model", "2026-01-01T08:00Z") == "v3|model|2026-01-01T08:00Z"
    long = alert_key("v" * 150, "r" * 64, "2026-01-01T08:00Z")
    assert len(long) == alerts.MAX_WINDOW_KEY_CHARS
    assert long == alert_key("v" * 150, "r" * 64, "2026-01-01T08:00Z")
    assert long != alert_key("v" * 150, "r" * 64, "2026-01-01T12:00Z")


# -------------------------------------------------------------------------------- send_webhook


def test_send_webhook_posts_json(webhook: Webhook) -> None:
    payload = a_drift_payload()

    send_webhook(webhook.url, payload, timeout=3)

    [request] = webhook.requests
    assert request["path"] == SECRET_PATH
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("FakeScope/")
    assert json.loads(request["body"]) == payload


def test_send_webhook_raises_one_line_without_the_secret(webhook: Webhook) -> None:
    webhook.plan.append((500, "internal\nerror", 0.0))

    with pytest.raises(AlertError, match="answered HTTP 500 Internal Server Error: internal error"):
        send_webhook(webhook.url, {"text": "x"}, timeout=3)
    webhook.plan.append((404, "no_service", 0.0))
    with pytest.raises(AlertError) as caught:
        send_webhook(webhook.url, {"text": "x"}, timeout=3)
    message = str(caught.value)
    assert "\n" not in message and "SECRET" not in message and "no_service" in message


def test_send_webhook_does_not_follow_redirects(webhook: Webhook) -> None:
    webhook.plan.append((302, "", 0.0))

    with pytest.raises(AlertError, match="HTTP 302"):
        send_webhook(webhook.url, {"text": "x"}, timeout=3)
    assert len(webhook.requests) == 1


def test_send_webhook_refuses_other_schemes_and_bad_payloads(webhook: Webhook) -> None:
    with pytest.raises(InvalidArgumentError, match="http:// or https://"):
        send_webhook("file:///etc/passwd", {"text": "x"}, timeout=3)
    with pytest.raises(InvalidArgumentError, match="cannot be sent as JSON"):
        send_webhook(webhook.url, {"score": float("nan")}, timeout=3)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        send_webhook(webhook.url, {"text": "x"}, timeout=0)
    assert webhook.requests == []


# --------------------------------------------------------------------------------- maybe_alert


def test_maybe_alert_is_off_without_a_webhook(store: PredictionStore) -> None:
    status = maybe_alert(store, Settings(), kind="drift", window_key="w1", payload={"text": "x"})
    assert status == "off"
    assert store.alerts().empty


def test_maybe_alert_sends_once_per_window(webhook: Webhook, store: PredictionStore) -> None:
    settings = settings_for(webhook.url)
    payload = a_drift_payload()

    first = maybe_alert(store, settings, kind="drift", window_key="w1", payload=payload)
    second = maybe_alert(store, settings, kind="drift", window_key="w1", payload=payload)

    assert (first, second) == ("sent", "already sent")
    assert len(webhook.requests) == 1
    assert json.loads(webhook.requests[0]["body"]) == payload
    log = store.alerts()
    assert list(log["status"]) == ["sent"]
    assert log["message"].iloc[0] == payload["text"]
    assert store.alert_sent("drift", "w1")


def test_maybe_alert_sends_again_for_a_new_window_or_kind(
    webhook: Webhook, store: PredictionStore
) -> None:
    settings = settings_for(webhook.url)

    statuses = [
        maybe_alert(store, settings, kind=kind, window_key=key, payload={"text": key})
        for kind, key in [("drift", "w1"), ("drift", "w2"), ("accuracy", "w1"), ("drift", "w1")]
    ]

    assert statuses == ["sent", "sent", "sent", "already sent"]
    assert [json.loads(r["body"])["text"] for r in webhook.requests] == ["w1", "w2", "w1"]


def test_failed_alert_is_recorded_then_retried(webhook: Webhook, store: PredictionStore) -> None:
    settings = settings_for(webhook.url)
    webhook.plan.append((500, "boom", 0.0))

    first = maybe_alert(
        store, settings, kind="drift", window_key="w1", payload={"text": "x"}, retry_after=0
    )
    assert first.startswith("failed: ") and "HTTP 500" in first
    assert not store.alert_sent("drift", "w1")
    assert list(store.alerts()["status"]) == ["failed"]
    assert "HTTP 500" in store.alerts()["message"].iloc[0]

    second = maybe_alert(
        store, settings, kind="drift", window_key="w1", payload={"text": "x"}, retry_after=0
    )

    assert second == "sent"
    assert len(webhook.requests) == 2
    assert list(store.alerts()["status"]) == ["sent", "failed"]  # newest first
    assert store.alert_sent("drift", "w1")


def test_failed_alert_waits_before_the_next_try(webhook: Webhook, store: PredictionStore) -> None:
    settings = settings_for(webhook.url)
    webhook.plan.append((503, "down", 0.0))

    first = maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})
    again = maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})

    assert first.startswith("failed: ") and "HTTP 503" in first
    assert again.startswith("failed: ") and "next try in" in again
    assert len(webhook.requests) == 1
    assert len(store.alerts()) == 1  # the skipped try is not recorded


def test_refused_connection_fails_without_raising(store: PredictionStore) -> None:
    settings = settings_for(f"http://127.0.0.1:{closed_port()}{SECRET_PATH}")

    status = maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})

    assert status.startswith("failed: ") and "refused the connection" in status
    assert "SECRET" not in status
    [row] = store.alerts().itertuples()
    assert (row.status, row.kind, row.window_key) == ("failed", "drift", "w1")


def test_slow_webhook_fails_within_about_the_timeout(
    webhook: Webhook, store: PredictionStore
) -> None:
    settings = settings_for(webhook.url, timeout=0.5)
    webhook.plan.append((200, "ok", 5.0))

    began = time.monotonic()
    status = maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})
    took = time.monotonic() - began

    assert status.startswith("failed: ") and "timed out after 0.5 s" in status
    assert took < 2.0
    assert list(store.alerts()["status"]) == ["failed"]


def test_unknown_host_fails_without_raising(
    store: PredictionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_host(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    # No real lookup: a resolver without network could take longer than any timeout.
    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    settings = settings_for("http://fakescope-no-such-host.invalid/hook", timeout=2)

    status = maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})

    assert status == "failed: webhook http://fakescope-no-such-host.invalid host not found"


def test_concurrent_checks_send_one_alert(webhook: Webhook, store: PredictionStore) -> None:
    settings = settings_for(webhook.url)
    webhook.plan.append((200, "ok", 0.3))  # the first send is slow: the others wait for it
    statuses: list[str] = []

    def check() -> None:
        statuses.append(
            maybe_alert(store, settings, kind="drift", window_key="w1", payload={"text": "x"})
        )

    threads = [threading.Thread(target=check) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(statuses) == ["already sent"] * 3 + ["sent"]
    assert len(webhook.requests) == 1


class BrokenLog:
    url = "broken://"

    def __init__(self, *, read: bool) -> None:
        self.read = read

    def alert_sent(self, kind: str, window_key: str) -> bool:
        if not self.read:
            raise StoreError("database is locked")
        return False

    def record_alert(self, kind: str, window_key: str, message: str, status: str) -> int:
        raise StoreError("disk full")


def test_a_log_that_fails_never_breaks_the_caller(webhook: Webhook) -> None:
    settings = settings_for(webhook.url)

    unread = maybe_alert(
        BrokenLog(read=False), settings, kind="drift", window_key="w1", payload={"text": "x"}
    )
    unrecorded = maybe_alert(
        BrokenLog(read=True), settings, kind="drift", window_key="w1", payload={"text": "x"}
    )

    assert unread == "failed: the alert log cannot be read: database is locked"
    assert unrecorded == "sent"  # it went out; the log could not say so
    assert len(webhook.requests) == 1


@pytest.mark.parametrize(("kind", "key"), [("", "w1"), ("drift", " "), ("k" * 65, "w1")])
def test_maybe_alert_refuses_bad_keys(store: PredictionStore, kind: str, key: str) -> None:
    settings = settings_for("http://127.0.0.1:9/hook")
    with pytest.raises(InvalidArgumentError):
        maybe_alert(store, settings, kind=kind, window_key=key, payload={"text": "x"})


# ------------------------------------------------------------------------------ page helpers


def a_check(drifted: bool | None, end: datetime = END) -> SimpleNamespace:
    results = [
        SimpleNamespace(test="features", score=0.1, threshold="share >= 50%", drifted=False),
        SimpleNamespace(test="prediction", score=0.0001, threshold="p <= 0.0167", drifted=drifted),
    ]
    return SimpleNamespace(
        reference_name="model",
        reference_description="validation images",
        window_start=START,
        window_end=end,
        n=200,
        results=results,
        drifted=drifted,
    )


def test_check_drift_alert_alerts_once_per_block(webhook: Webhook, store: PredictionStore) -> None:
    settings = settings_for(webhook.url)

    assert check_drift_alert(store, Settings(), a_check(True), "v3") is None  # off
    assert check_drift_alert(store, settings, a_check(False), "v3") is None
    assert check_drift_alert(store, settings, a_check(None), "v3") is None
    first = check_drift_alert(store, settings, a_check(True), "v3")
    later_same_block = check_drift_alert(
        store, settings, a_check(True, END.replace(hour=11, minute=59)), "v3"
    )
    next_block = check_drift_alert(store, settings, a_check(True, END.replace(hour=12)), "v3")

    assert (first, later_same_block, next_block) == ("sent", "already sent", "sent")
    payload = json.loads(webhook.requests[0]["body"])
    assert "prediction 0.0001 (alarm when p &lt;= 0.0167)" in payload["text"]
    assert "features" not in payload["text"]  # only the tests that alarmed
    assert list(store.alerts()["window_key"]) == [
        "v3|model|2026-01-01T12:00Z",
        "v3|model|2026-01-01T08:00Z",
    ]


def test_check_accuracy_alert_only_below_the_floor(
    webhook: Webhook, store: PredictionStore
) -> None:
    settings = settings_for(webhook.url).replace(alert_accuracy_floor=0.8)

    def check(accuracy: float | None) -> str | None:
        return check_accuracy_alert(
            store,
            settings,
            model_version="v3",
            accuracy=accuracy,
            window_start=START,
            window_end=END,
            n=120,
        )

    assert [check(0.85), check(0.8), check(None), check(float("nan"))] == [None] * 4
    assert check(0.79) == "sent"
    assert check(0.5) == "already sent"
    assert (
        "estimated accuracy 79.0% < floor 80.0%" in json.loads(webhook.requests[0]["body"])["text"]
    )
    assert store.alert_sent(
        "accuracy", "v3|estimated|2026-01-01T09:00:00+00:00|2026-01-01T10:12:00+00:00"
    )
