"""The HTTP layer: FastAPI routes under ``/api``, ops routes, and one middleware for all of them.

:class:`ApiServer` is built once per process by ``streamlit_app/server.py`` and hands
``st.App`` its routes, middleware and lifespan. It gets the shared objects through callables
(``predictor``, ``store``), so it never loads a second model or opens a second log: the
dashboard's ``@st.cache_resource`` functions answer both.

Errors are always JSON ``{"code": ..., "message": ...}``; a traceback goes to the server log
under the request id, never to the client.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fakescope.api import service
from fakescope.api.jsonlog import log_event
from fakescope.api.keys import check_key, presented_key
from fakescope.api.metrics import ApiMetrics, get_metrics
from fakescope.api.ratelimit import RateLimiter, retry_after_header
from fakescope.api.service import ApiError
from fakescope.config import Settings
from fakescope.errors import FakeScopeError
from fakescope.registry import Registry
from fakescope.store import PredictionStore
from fakescope.watch import Watcher

API_PREFIX = "/api"
OPS_PATHS = ("/healthz", "/readyz", "/metrics")
KNOWN_ROUTES = (
    "/api/v1/predict",
    "/api/v1/model",
    "/api/v1/drift",
    "/api/v1/labels",
    "/api/docs",
    "/api/openapi.json",
    *OPS_PATHS,
)
MAX_FORM_FIELDS = 16
MAX_FIELD_BYTES = 1024  # threshold and band are short numbers; nothing else is a plain field
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "one or more images (any field name works)",
                    },
                    "threshold": {"type": "number", "description": "overrides ?threshold="},
                    "band": {"type": "number", "description": "overrides ?band="},
                },
                "required": ["files"],
            }
        }
    },
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The API's one error shape."""
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class _BodyTooLarge(MultiPartException):
    """Raised by the counting stream; a MultiPartException so the parser closes its temp files."""


class ApiServer:
    """The API, its ops routes and its middleware, around shared objects.

    Args:
        settings: the settings (keys, limits, rate limits).
        predictor: returns the shared, warmed-up Predictor (raises FakeScopeError when it
            cannot load).
        store: returns the shared PredictionStore (raises FakeScopeError when it cannot open).
        metrics: the metrics; default the process's one set (:func:`get_metrics`).
    """

    def __init__(
        self,
        settings: Settings,
        predictor: Callable[[], Any],
        store: Callable[[], PredictionStore],
        metrics: ApiMetrics | None = None,
    ) -> None:
        self.settings = settings
        self._predictor = predictor
        self._store = store
        self.metrics = metrics or get_metrics()
        self.limiter = RateLimiter(settings.api_rate_per_minute, settings.api_rate_burst)
        self.model_error: str | None = "the model is still loading"
        self.api = self._build_api()

    # -- shared objects ----------------------------------------------------------------------

    def predictor(self) -> Any:
        """The shared predictor; records readiness and the model in the metrics."""
        try:
            predictor = self._predictor()
        except FakeScopeError as exc:
            self.model_error = f"the model cannot be loaded: {exc}"
            raise ApiError(503, "model_unavailable", self.model_error) from None
        self.model_error = None
        info = predictor.info
        self.metrics.set_model(info.name, info.version, info.precision)
        return predictor

    def store(self) -> PredictionStore | None:
        """The shared prediction log, or None when it cannot be opened."""
        try:
            return self._store()
        except FakeScopeError:
            return None

    def registry(self) -> Registry:
        """The registry (cheap: a folder read on use)."""
        return Registry(self.settings.registry_dir)

    # -- starlette pieces for st.App ---------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """``/api`` (FastAPI) and the ops routes, for ``st.App(routes=...)``."""
        return [
            Mount(API_PREFIX, app=self.api),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics_route, methods=["GET"]),
        ]

    def middleware(self) -> list[Middleware]:
        """The request middleware, for ``st.App(middleware=...)``."""
        return [Middleware(ApiMiddleware, server=self)]

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[dict[str, Any]]:
        """Load the model at start (in a thread: the dashboard answers meanwhile); with a
        webhook set, check the newest window for alerts on a timer (:mod:`fakescope.watch`)."""
        task = asyncio.get_running_loop().run_in_executor(None, self.load_model)
        watcher = None
        if self.settings.alert_webhook_url and self.settings.alert_check_minutes > 0:
            watcher = Watcher(self._store, self.registry, self.settings)
            watcher.start()
        yield {"fakescope_api": self}
        if watcher is not None:
            watcher.stop()
        if not task.done():
            task.cancel()

    def load_model(self) -> None:
        """Load (or find cached) the shared predictor and time it."""
        start = time.perf_counter()
        try:
            predictor = self.predictor()
        except ApiError as exc:
            log_event("model_load", outcome="failed", message=exc.message)
            return
        seconds = time.perf_counter() - start
        self.metrics.model_load_seconds.set(seconds)
        self.metrics.model_ready.set(0 if self._readiness_problems() else 1)
        log_event(
            "model_load",
            outcome="ok",
            model=predictor.info.name,
            model_version=predictor.info.version,
            seconds=round(seconds, 3),
        )

    # -- ops routes --------------------------------------------------------------------------

    async def healthz(self, _request: Request) -> Response:
        """The process is alive and serving HTTP."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, _request: Request) -> Response:
        """Ready: the model is loaded and the prediction log takes writes (503 with reasons)."""
        problems = await run_in_threadpool(self._readiness_problems)
        self.metrics.model_ready.set(0 if problems else 1)
        if problems:
            return JSONResponse(
                {"status": "not ready", "code": "not_ready", "message": "; ".join(problems)},
                status_code=503,
            )
        return JSONResponse({"status": "ready"})

    def _readiness_problems(self) -> list[str]:
        problems = []
        if self.model_error is not None:
            problems.append(self.model_error)
        problem = service.log_writable(self.store(), self.settings)
        if problem:
            problems.append(problem)
        return problems

    async def metrics_route(self, _request: Request) -> Response:
        """Prometheus text format."""
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    # -- the FastAPI app ---------------------------------------------------------------------

    def _build_api(self) -> FastAPI:
        api = FastAPI(
            title="FakeScope API",
            version="1",
            description=(
                "Tell real photographs from AI-generated images. Keys: `Authorization: Bearer KEY`"
                " or `X-API-Key: KEY` when FAKESCOPE_API_KEYS is set. Errors: "
                '`{"code", "message"}`.'
            ),
            docs_url="/docs",
            redoc_url=None,
            openapi_url="/openapi.json",
        )

        @api.exception_handler(ApiError)
        async def _api_error(_request: Request, exc: ApiError) -> Response:
            return error_response(exc.status, exc.code, exc.message, exc.headers)

        @api.exception_handler(RequestValidationError)
        async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
            parts = [
                f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                for e in exc.errors()
            ]
            return error_response(422, "invalid_parameter", "; ".join(parts))

        @api.exception_handler(StarletteHTTPException)
        async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
            return error_response(exc.status_code, code, str(exc.detail))

        @api.post(
            "/v1/predict",
            summary="Judge one or more images",
            openapi_extra={"requestBody": PREDICT_BODY},
            responses={
                401: {"description": "no key"},
                403: {"description": "wrong key"},
                413: {"description": "too many files or too large"},
                429: {"description": "rate limited (Retry-After)"},
            },
        )
        async def predict(
            request: Request,
            threshold: float | None = Query(None, description="fake threshold for this request"),
            band: float | None = Query(None, description="uncertain band for this request"),
        ) -> Response:
            files, fields = await self._read_upload(request)
            threshold = _number(fields, "threshold", threshold)
            band = _number(fields, "band", band)
            chosen = service.check_overrides(self.settings, threshold, band)
            if not files:
                raise ApiError(
                    400, "no_files", "send one or more images as multipart/form-data file fields"
                )
            predictor = await run_in_threadpool(self.predictor)
            store = await run_in_threadpool(self.store)
            result = await run_in_threadpool(
                service.predict_files,
                predictor,
                store,
                files,
                threshold=chosen[0],
                band=chosen[1],
            )
            self._observe_predictions(request, result.outcomes)
            return JSONResponse(result.body)

        @api.get("/v1/model", summary="The model being served")
        async def model() -> Response:
            predictor = await run_in_threadpool(self.predictor)
            body = await run_in_threadpool(
                service.model_summary, predictor, self.registry(), self.settings
            )
            return JSONResponse(body)

        @api.post(
            "/v1/labels",
            summary="Record what an image really is (ground truth for accuracy monitoring)",
            responses={404: {"description": "no such prediction"}, 422: {"description": "bad"}},
        )
        async def labels(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            store = await run_in_threadpool(self.store)
            answer = await run_in_threadpool(service.record_label, store, body)
            return JSONResponse(answer, status_code=201)

        @api.get("/v1/drift", summary="Drift summary, as the Monitor page computes it")
        async def drift(
            window: str = Query("24h", description="1h, 24h, 7d, 30d or all"),
            reference: str = Query("profile", description="profile or baseline"),
            version: str | None = Query(None, description="model version (default: active)"),
            baseline_rows: int | None = Query(None, ge=1, description="with reference=baseline"),
        ) -> Response:
            store = await run_in_threadpool(self.store)
            if store is None:
                raise ApiError(503, "log_unavailable", "the prediction log cannot be opened")
            try:
                body = await run_in_threadpool(
                    lambda: service.drift_summary(
                        store,
                        self.registry(),
                        window=window,
                        reference=reference,
                        version=version,
                        baseline_rows=baseline_rows,
                    )
                )
            except FakeScopeError as exc:
                raise ApiError(409, "drift_unavailable", f"drift cannot be computed: {exc}")
            if body["drift_share"] is not None:
                self.metrics.drift_share.labels(reference=reference).set(body["drift_share"])
            self.metrics.drifted_features.labels(reference=reference).set(
                len(body["drifted_features"])
            )
            return JSONResponse(body)

        return api

    async def _read_upload(self, request: Request) -> tuple[list[tuple[str, bytes]], dict]:
        """Read the multipart body, refusing it (413) as soon as a limit is passed.

        The byte count is checked on every chunk as it arrives, and the file count as each
        part's headers are parsed, so an oversized request is never read to its end, let alone
        decoded.
        """
        limit = self.settings.api_max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type", "send the images as multipart/form-data")

        async def counted() -> AsyncIterator[bytes]:
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise _BodyTooLarge("too large")
                yield chunk

        parser = MultiPartParser(
            Headers(scope=request.scope),
            counted(),
            max_files=self.settings.api_max_files,
            max_fields=MAX_FORM_FIELDS,
            max_part_size=MAX_FIELD_BYTES,
        )
        try:
            form = await parser.parse()
        except _BodyTooLarge:
            raise _too_large(limit) from None
        except MultiPartException as exc:
            if "Too many files" in exc.message:
                raise ApiError(
                    413,
                    "too_many_files",
                    f"at most {self.settings.api_max_files} files per request "
                    "(FAKESCOPE_API_MAX_FILES)",
                ) from None
            raise ApiError(400, "bad_multipart", exc.message) from None
        files: list[tuple[str, bytes]] = []
        fields: dict[str, str] = {}
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files.append((value.filename or key, await value.read()))
                else:
                    fields[key] = value
        finally:
            await form.close()
        return files, fields

    def _observe_predictions(self, request: Request, outcomes: list[Any]) -> None:
        """Metrics and one JSON log line per judged or rejected file."""
        from fakescope.verdicts import Prediction

        self.metrics.batch_size.observe(len(outcomes))
        state = request.scope.get("state", {})
        for outcome in outcomes:
            if isinstance(outcome, Prediction):
                self.metrics.predictions.labels(
                    verdict=outcome.verdict, model_version=outcome.model_version, source="api"
                ).inc()
                log_event(
                    "prediction",
                    request_id=state.get("request_id"),
                    key_id=state.get("key_id"),
                    outcome=outcome.verdict,
                    fake_probability=round(outcome.fake_probability, 6),
                    model_version=outcome.model_version,
                    latency_ms=round(outcome.latency_ms, 3),
                    sha256=outcome.sha256,
                )
            else:
                self.metrics.rejections.labels(reason=outcome.reason, source="api").inc()
                log_event(
                    "prediction",
                    request_id=state.get("request_id"),
                    key_id=state.get("key_id"),
                    outcome="rejected",
                    reason=outcome.reason,
                    sha256=outcome.sha256,
                )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "request_too_large",
        f"the request is larger than {limit / 1_000_000:g} MB (FAKESCOPE_API_MAX_REQUEST_MB)",
    )


def _number(fields: dict[str, str], name: str, default: float | None) -> float | None:
    """A numeric form field (it wins over the query parameter), or ``default``."""
    raw = fields.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ApiError(422, "invalid_parameter", f"{name} must be a number, got {raw!r}") from None


def route_label(path: str) -> str | None:
    """The metrics/log label of a path, or None for paths this middleware leaves alone."""
    if path in KNOWN_ROUTES:
        return path
    if path == API_PREFIX or path.startswith(API_PREFIX + "/") or path in OPS_PATHS:
        return "/api/other"
    return None


class ApiMiddleware:
    """Request id, keys, rate limit, error shape, metrics and a JSON log line per request.

    Pure ASGI: Streamlit's own paths (pages, websocket, ``/_stcore``) pass straight through.
    """

    def __init__(self, app: ASGIApp, server: ApiServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = route_label(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        server = self.server
        start = time.perf_counter()
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = {"code": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"x-request-id", request_id.encode("ascii"))
                ]
            await send(message)

        try:
            early = self._gate(scope, headers, route, state)
            if early is not None:
                await early(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:  # the last line of defence: JSON, never a traceback
            log_event(
                "error",
                request_id=request_id,
                route=route,
                error=type(exc).__name__,
                message=str(exc)[:500],
            )
            if not status["started"]:
                response = error_response(
                    500, "internal", f"internal error; quote request id {request_id}"
                )
                await response(scope, receive, send_wrapper)
        finally:
            seconds = time.perf_counter() - start
            method = scope.get("method", "GET")
            server.metrics.requests.labels(
                route=route, method=method, status=str(status["code"])
            ).inc()
            server.metrics.latency.labels(route=route).observe(seconds)
            log_event(
                "request",
                request_id=request_id,
                method=method,
                route=route,
                status=status["code"],
                latency_ms=round(seconds * 1000, 3),
                key_id=state.get("key_id"),
                client=(scope.get("client") or ("?", 0))[0],
            )

    def _gate(self, scope: Scope, headers: Headers, route: str, state: dict) -> Response | None:
        """The 401/403/429 answer for this request, or None to let it through."""
        settings = self.server.settings
        path = scope.get("path", "")
        guarded = path.startswith(API_PREFIX + "/v1/") or (
            settings.api_protect_ops and path in OPS_PATHS
        )
        if not guarded:
            return None
        check = check_key(presented_key(headers), settings.api_key_hashes)
        if check.status == "missing":
            return error_response(
                401,
                "unauthorized",
                "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                {"WWW-Authenticate": "Bearer"},
            )
        if check.status == "wrong":
            return error_response(403, "forbidden", "the API key is not valid")
        state["key_id"] = check.key_id
        if not path.startswith(API_PREFIX + "/v1/"):
            return None
        client = check.key_id or "ip:" + (scope.get("client") or ("unknown", 0))[0]
        wait = self.server.limiter.acquire(client)
        if wait > 0:
            return error_response(
                429,
                "rate_limited",
                f"too many requests; retry in {wait:.1f} s (FAKESCOPE_API_RATE_PER_MINUTE)",
                {"Retry-After": retry_after_header(wait)},
            )
        return None
