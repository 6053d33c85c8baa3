"""The metrics live in their own registry, once per process, whatever re-imports them."""

from __future__ import annotations

import importlib

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import fakescope.api.metrics as metrics_module
from fakescope.api.metrics import ApiMetrics, get_metrics

pytestmark = pytest.mark.unit


def test_get_metrics_is_one_object() -> None:
    assert get_metrics() is get_metrics()


def test_two_instances_do_not_collide() -> None:
    # A Streamlit rerun that built the metrics again must not raise "Duplicated timeseries".
    first, second = ApiMetrics(), ApiMetrics()
    first.requests.labels(route="/healthz", method="GET", status="200").inc()
    assert first.registry is not second.registry


def test_reimport_keeps_the_global_registry_clean() -> None:
    importlib.reload(metrics_module)
    metrics_module.get_metrics()
    names = {m.name for m in REGISTRY.collect()}
    assert not any(name.startswith("fakescope_") for name in names)


def test_render_is_parseable_and_names_every_metric() -> None:
    m = ApiMetrics()
    m.requests.labels(route="/api/v1/predict", method="POST", status="200").inc()
    m.predictions.labels(verdict="fake", model_version="v1", source="api").inc(2)
    m.rejections.labels(reason="too_large", source="api").inc()
    m.batch_size.observe(3)
    m.model_load_seconds.set(1.5)
    m.set_model("demo", "v1", "fp32")
    m.set_model("demo", "v2", "fp32")
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    for name in (
        "fakescope_http_requests",
        "fakescope_http_request_duration_seconds",
        "fakescope_predictions",
        "fakescope_rejections",
        "fakescope_predict_batch_size",
        "fakescope_model_load_seconds",
        "fakescope_model_ready",
        "fakescope_model_loads",
        "fakescope_model_info",
        "fakescope_drift_share",
        "fakescope_drifted_features",
        "process_resident_memory_bytes",
    ):
        assert name in families, name
    served = [s.labels["version"] for s in families["fakescope_model_info"].samples]
    assert served == ["v2"]
    fake = [
        s.value
        for s in families["fakescope_predictions"].samples
        if s.name.endswith("_total") and s.labels["verdict"] == "fake"
    ]
    assert fake == [2.0]
