"""The API middleware's gate (keys, protected ops routes, per-address rate limit) and its error
shape, driven through the real Starlette app over the ASGI interface (no network, no model)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette

from fakescope.api.app import ApiServer, route_label
from fakescope.api.metrics import ApiMetrics
from fakescope.config import Settings, parse_api_keys
from fakescope.errors import ModelLoadError, StoreError

pytestmark = pytest.mark.unit


def _no_model() -> Any:
    raise ModelLoadError("no model here")


def _no_store() -> Any:
    raise StoreError("no log here")


def build(settings: Settings) -> Starlette:
    server = ApiServer(settings, predictor=_no_model, store=_no_store, metrics=ApiMetrics())
    return Starlette(routes=server.routes(), middleware=server.middleware())


def get(app: Starlette, path: str, headers: dict[str, str] | None = None, client: str = "1.2.3.4"):
    """One GET through the ASGI app: (status, headers, JSON body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 5000),
        "server": ("test", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], names, json.loads(body) if body.startswith(b"{") else body


def test_ops_routes_are_open_by_default() -> None:
    app = build(Settings(api_key_hashes=parse_api_keys("k")))
    assert get(app, "/healthz")[0] == 200
    status, _, body = get(app, "/readyz")
    assert status == 503
    assert "model" in body["message"] or "log" in body["message"]
    assert get(app, "/metrics")[0] == 200


def test_protected_ops_routes_need_a_key() -> None:
    app = build(Settings(api_key_hashes=parse_api_keys("k"), api_protect_ops=True))
    assert get(app, "/healthz")[0] == 401
    assert get(app, "/metrics", {"X-API-Key": "wrong"})[0] == 403
    assert get(app, "/healthz", {"X-API-Key": "k"})[0] == 200


def test_without_keys_the_limit_is_per_address() -> None:
    app = build(Settings(api_rate_per_minute=60, api_rate_burst=2))
    statuses = [get(app, "/api/v1/model")[0] for _ in range(3)]
    # The model cannot load here (503), but the first two got past the limiter.
    assert statuses[:2] == [503, 503]
    status, headers, body = get(app, "/api/v1/model")
    assert status == 429 and body["code"] == "rate_limited" and headers["retry-after"] == "1"
    assert get(app, "/api/v1/model", client="5.6.7.8")[0] == 503


def test_errors_are_json_with_a_request_id() -> None:
    app = build(Settings())
    status, headers, body = get(app, "/api/v1/model", {"X-Request-ID": "abc-123"})
    assert status == 503 and body["code"] == "model_unavailable"
    assert headers["x-request-id"] == "abc-123"
    status, headers, body = get(app, "/api/v1/nope", {"X-Request-ID": "bad id\u00e9"})
    assert status == 404 and set(body) == {"code", "message"}
    assert headers["x-request-id"] != "bad id\u00e9"


def test_route_labels_are_bounded() -> None:
    assert route_label("/api/v1/predict") == "/api/v1/predict"
    assert route_label("/api/v1/anything/else") == "/api/other"
    assert route_label("/monitor") is None
    assert route_label("/_stcore/health") is None
