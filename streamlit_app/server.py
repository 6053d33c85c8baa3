"""FakeScope's one server: the dashboard's pages and the HTTP API on the same port.

Start it with ``streamlit run streamlit_app/server.py`` (``make run``; the serving image's
command): Streamlit finds the ``st.App`` below and serves it with uvicorn, pages from
``app.py`` and, beside them, ``/api/v1/*``, ``/api/docs``, ``/healthz``, ``/readyz`` and
``/metrics`` (see docs/api.md). ``streamlit run streamlit_app/app.py`` still serves the pages
alone.

This module is imported once per process (by uvicorn, not re-run like a page), so the routes,
the metrics and the rate-limit buckets are built once. ``resources`` is the same module the
pages import (this folder is on ``sys.path`` in both cases), so the API and the pages share one
cached Predictor and one PredictionStore.
"""

from __future__ import annotations

import resources
import streamlit as st

from fakescope.api.app import ApiServer
from fakescope.config import Settings
from fakescope.errors import ConfigError

# Read once: a bad FAKESCOPE_* value stops the server at start with a one-line reason, before
# it answers anything (the pages would show the same reason on every rerun).
try:
    _settings = Settings.from_env()
except ConfigError as exc:
    raise SystemExit(f"fakescope: error: FakeScope is misconfigured: {exc}") from None

api = ApiServer(
    _settings,
    predictor=lambda: resources.shared_predictor(_settings),
    store=lambda: resources.shared_store(_settings),
)

app = st.App(
    "app.py",
    routes=api.routes(),
    middleware=api.middleware(),
    lifespan=api.lifespan,
)
