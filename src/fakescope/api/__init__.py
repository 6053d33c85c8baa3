"""FakeScope's HTTP API: prediction, model, drift, health and Prometheus metrics.

The API runs inside the dashboard's own server (``streamlit_app/server.py`` builds an
``st.App`` with these routes), so pages and API share one port, one Predictor and one
prediction log. Modules, one job each:

* :mod:`fakescope.api.keys` - API keys: hashed, compared in constant time.
* :mod:`fakescope.api.ratelimit` - per-client token buckets.
* :mod:`fakescope.api.metrics` - the Prometheus metrics, in their own registry.
* :mod:`fakescope.api.jsonlog` - one JSON log line per request and per prediction.
* :mod:`fakescope.api.service` - what the routes do, without HTTP.
* :mod:`fakescope.api.app` - the routes and the middleware (FastAPI / Starlette).
* :mod:`fakescope.api.client` - ``fakescope predict --server URL``.

Importing this package imports nothing heavy: FastAPI is imported by :mod:`fakescope.api.app`.
"""

from __future__ import annotations
