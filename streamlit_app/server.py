"""FakeScope's one server: the dashboard's pages and the HTTP API on the same port.

Start it with ``streamlit run streamlit_app/server.py`` (``make run``; the serving image's
command): Streamlit finds the ``st.App`` below and serves it with uvicorn, pages from
``app.py`` and, beside them, ``/api/v1/*``, ``/api/docs``, ``/healthz``, ``/readyz`` and
``/metrics`` (see docs/api.md). ``streamlit run streamlit_app/app.py`` still serves the pages
alone.

This module is imported once per process (by uvicorn, not re-run like a page), so the routes,
the metrics and the rate-limit buckets are built once. ``resources`` is the same module the
pages import (this folder is on ``sys.path`` in both cases), so the API and the pages share one
model load and one PredictionStore.

While the model loads (in the background, from the server's start): ``/healthz`` answers 200,
``/readyz`` answers 503 with "the model is loading (started N s ago)", and a request that needs
the model waits up to ``API_WAIT_S`` for it, then answers 503 ``model_loading`` with
``Retry-After``: a client never hangs on a load of unknown length, and knows when to come back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import resources
import streamlit as st

from fakescope.api.app import ApiServer
from fakescope.api.jsonlog import log_event
from fakescope.api.service import ApiError
from fakescope.config import Settings
from fakescope.errors import ConfigError

if TYPE_CHECKING:
    from fakescope.predictor import Predictor

# A request that arrives while the model loads waits this long (a load about to end costs no
# error), then gets 503 model_loading and comes back after RETRY_AFTER_S.
API_WAIT_S = 5.0
RETRY_AFTER_S = 5


class DashboardApi(ApiServer):
    """The API on the pages' background model load (:func:`resources.start_loading`)."""

    def load_model(self) -> None:
        """At start, in the lifespan's thread: wait for the load however long it takes (the
        pages and the ops routes answer meanwhile), then record it as ``ApiServer`` does."""
        load = resources.start_loading(self.settings)
        load.wait()
        try:
            predictor = self.predictor()
        except ApiError as exc:
            log_event("model_load", outcome="failed", message=exc.message)
            return
        self.metrics.model_load_seconds.set(load.seconds)
        self.metrics.model_ready.set(0 if self._readiness_problems() else 1)
        log_event(
            "model_load",
            outcome="ok",
            model=predictor.info.name,
            model_version=predictor.info.version,
            seconds=round(load.seconds, 3),
        )

    def _readiness_problems(self) -> list[str]:
        # The load now, not the last request's: after a promote (from any replica or the CLI)
        # this starts the new model's load and says "loading" until it is ready; a failure is
        # reported once and the next probe tries again.
        load = resources.start_loading(self.settings)
        if load.done.is_set():
            try:
                self.predictor()  # ready: records the model; failed: records why (model_error)
            except ApiError:
                pass
        else:
            self.model_error = resources.loading_reason(load)
        return super()._readiness_problems()


def shared_predictor(settings: Settings) -> Predictor:
    """The pages' predictor for a request: waits up to ``API_WAIT_S`` while it loads.

    Raises:
        ApiError: 503 ``model_loading`` with ``Retry-After`` when it is still loading.
        FakeScopeError: the model cannot be loaded (``ApiServer`` answers 503
            ``model_unavailable``; the next request tries again).
    """
    try:
        return resources.shared_predictor(settings, wait_s=API_WAIT_S)
    except resources.ModelLoading as exc:
        raise ApiError(
            503,
            "model_loading",
            f"{exc}; retry in {RETRY_AFTER_S} s",
            {"Retry-After": str(RETRY_AFTER_S)},
        ) from None


# Read once: a bad FAKESCOPE_* value stops the server at start with a one-line reason, before
# it answers anything (the pages would show the same reason on every rerun).
try:
    _settings = Settings.from_env()
except ConfigError as exc:
    raise SystemExit(f"fakescope: error: FakeScope is misconfigured: {exc}") from None

api = DashboardApi(
    _settings,
    predictor=lambda: shared_predictor(_settings),
    store=lambda: resources.shared_store(_settings),
)

app = st.App(
    "app.py",
    routes=api.routes(),
    middleware=api.middleware(),
    lifespan=api.lifespan,
)
