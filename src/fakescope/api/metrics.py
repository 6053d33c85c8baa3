"""FakeScope's Prometheus metrics, in a registry of their own.

Why a private ``CollectorRegistry``: Streamlit re-runs page scripts and may re-import a module
under a new name; registering on prometheus_client's global registry would then raise
"Duplicated timeseries". One :class:`ApiMetrics` per process (:func:`get_metrics`), created
under a lock, holds every metric; ``/metrics`` renders that registry only.
"""

from __future__ import annotations

import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

NAMESPACE = "fakescope"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 20, 32, 64)


class ApiMetrics:
    """Every FakeScope metric, registered on ``self.registry`` (a fresh registry per instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "http_requests",
            "HTTP requests to the API, health and metrics routes",
            ["route", "method", "status"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time from request to the end of the response",
            ["route"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.predictions = Counter(
            "predictions",
            "Images judged, by verdict and model version",
            ["verdict", "model_version", "source"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self.rejections = Counter(
            "rejections",
            "Uploads that could not be judged, by reason",
            ["reason", "source"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self.batch_size = Histogram(
            "predict_batch_size",
            "Files per prediction request",
            namespace=NAMESPACE,
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self.model_load_seconds = Gauge(
            "model_load_seconds",
            "Seconds the last model load and warm-up took",
            namespace=NAMESPACE,
            registry=reg,
        )
        self.model_loads = Counter(
            "model_loads",
            "Models loaded by this process (the pages and the API share each one)",
            namespace=NAMESPACE,
            registry=reg,
        )
        self.model_ready = Gauge(
            "model_ready",
            "1 when the model is loaded and the prediction log is writable (as /readyz)",
            namespace=NAMESPACE,
            registry=reg,
        )
        self.model_info = Gauge(
            "model_info",
            "The model being served (always 1; the labels carry the facts)",
            ["name", "version", "precision"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self.drift_share = Gauge(
            "drift_share",
            "Share of drifted features in the last drift summary (GET /api/v1/drift)",
            ["reference"],
            namespace=NAMESPACE,
            registry=reg,
        )
        self.drifted_features = Gauge(
            "drifted_features",
            "Number of drifted features in the last drift summary",
            ["reference"],
            namespace=NAMESPACE,
            registry=reg,
        )
        # process_resident_memory_bytes, process_cpu_seconds_total, open fds... (Linux /proc).
        ProcessCollector(registry=reg)

    def set_model(self, name: str, version: str, precision: str) -> None:
        """Show only the model now served in ``fakescope_model_info``."""
        self.model_info.clear()
        self.model_info.labels(name=name, version=version, precision=precision).set(1)

    def render(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


_LOCK = threading.Lock()
_METRICS: ApiMetrics | None = None


def get_metrics() -> ApiMetrics:
    """The process's one :class:`ApiMetrics` (created on first use, never twice)."""
    global _METRICS
    with _LOCK:
        if _METRICS is None:
            _METRICS = ApiMetrics()
        return _METRICS
