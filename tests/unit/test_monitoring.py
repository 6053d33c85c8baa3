"""Unit tests of the latency, throughput and rejection summaries (hand-computed values)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.errors import ConfigError
from fakescope.monitoring import (
    LATENCY_OVER_TIME_COLUMNS,
    REJECTION_REASON_COLUMNS,
    latency_over_time,
    latency_summary,
    rejection_reasons,
)
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction, Rejection

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def prediction(latency_ms: float, version: str = "v1") -> Prediction:
    return Prediction(
        verdict="real",
        fake_probability=0.1,
        scores={"Fake": 0.1, "Real": 0.9},
        model_name="demo",
        model_version=version,
        latency_ms=latency_ms,
        sha256="0" * 64,
    )


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    return PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_latency_summary_exact_values(store: PredictionStore) -> None:
    for minute, latency in enumerate([10.0, 20.0, 30.0, 40.0, 50.0]):
        store.record_prediction(prediction(latency), source="cli", recorded_at=at(minute))
    store.record_rejection(Rejection("empty", "empty"), source="cli", recorded_at=at(2))

    summary = latency_summary(store.predictions(), store.rejections())

    assert summary["count"] == 5
    assert summary["p50"] == 30.0
    assert summary["p95"] == pytest.approx(48.0)  # linear: 40 + 0.8 * (50 - 40)
    assert summary["p99"] == pytest.approx(49.6)
    assert summary["mean"] == 30.0
    assert summary["max"] == 50.0
    assert summary["span_minutes"] == 4.0
    assert summary["throughput_per_min"] == 1.25
    assert summary["rejections"] == 1
    assert summary["rejection_rate"] == pytest.approx(1 / 6)


def test_latency_summary_without_rejections_has_no_rate(store: PredictionStore) -> None:
    store.record_prediction(prediction(5.0), source="cli", recorded_at=T0)

    summary = latency_summary(store.predictions())

    assert summary["count"] == 1 and summary["p99"] == 5.0
    assert summary["rejection_rate"] is None and summary["rejections"] is None
    assert summary["throughput_per_min"] is None  # one instant: no span to divide by


def test_latency_summary_empty_log_gives_none_values(store: PredictionStore) -> None:
    summary = latency_summary(store.predictions(), store.rejections())

    assert summary["count"] == 0
    assert [summary[k] for k in ("p50", "p95", "p99", "mean", "throughput_per_min")] == [None] * 5
    assert summary["rejection_rate"] is None and summary["rejections"] == 0


def test_latency_summary_only_rejections_gives_rate_one(store: PredictionStore) -> None:
    store.record_rejection(Rejection("corrupt", "bad"), source="cli")

    summary = latency_summary(store.predictions(), store.rejections())

    assert summary["count"] == 0 and summary["rejection_rate"] == 1.0


def test_latency_over_time_per_window_and_version(store: PredictionStore) -> None:
    store.record_prediction(prediction(10.0), source="cli", recorded_at=at(0))
    store.record_prediction(prediction(30.0), source="cli", recorded_at=at(1))
    store.record_prediction(prediction(7.0), source="cli", recorded_at=at(6))
    store.record_prediction(prediction(9.0, "v2"), source="cli", recorded_at=at(7))
    store.record_rejection(
        Rejection("empty", "e"), source="cli", model_version="v1", recorded_at=at(2)
    )
    store.record_rejection(Rejection("empty", "e"), source="cli", recorded_at=at(8))

    table = latency_over_time(store.predictions(), store.rejections(), window="5min")

    assert list(table.columns) == list(LATENCY_OVER_TIME_COLUMNS)
    assert table["window_start"].tolist() == [pd.Timestamp(at(0))] + [pd.Timestamp(at(5))] * 3
    assert table["model_version"].tolist() == ["v1", "v1", "v2", None]
    assert table["count"].tolist() == [2, 1, 1, 0]
    assert table["rejections"].tolist() == [1, 0, 0, 1]
    assert table["p50"].tolist()[:3] == [20.0, 7.0, 9.0] and np.isnan(table["p50"].iloc[3])
    assert table["p95"].iloc[0] == pytest.approx(29.0)
    assert table["mean"].iloc[0] == 20.0
    assert table["throughput_per_min"].tolist() == [0.4, 0.2, 0.2, 0.0]
    assert table["rejection_rate"].tolist() == pytest.approx([1 / 3, 0.0, 0.0, 1.0])


def test_latency_over_time_without_rejections_leaves_rate_empty(store: PredictionStore) -> None:
    store.record_prediction(prediction(10.0), source="cli", recorded_at=at(0))
    store.record_prediction(prediction(20.0), source="cli", recorded_at=at(65))

    table = latency_over_time(store.predictions(), window="1h")

    assert table["window_start"].tolist() == [pd.Timestamp(at(0)), pd.Timestamp(at(60))]
    assert table["count"].tolist() == [1, 1]
    assert table["rejection_rate"].isna().all()


def test_latency_over_time_empty_input_gives_empty_frame(store: PredictionStore) -> None:
    table = latency_over_time(store.predictions(), store.rejections())

    assert table.empty and list(table.columns) == list(LATENCY_OVER_TIME_COLUMNS)


@pytest.mark.parametrize("window", ["soon", "0min", "-5min"])
def test_latency_over_time_bad_window_names_accepted_forms(
    store: PredictionStore, window: str
) -> None:
    with pytest.raises(ConfigError, match="window must be a"):
        latency_over_time(store.predictions(), window=window)


def test_rejection_reasons_counts_and_shares(store: PredictionStore) -> None:
    store.record_rejection(Rejection("corrupt", "old message"), source="cli", recorded_at=at(0))
    store.record_rejection(Rejection("empty", "empty file"), source="cli", recorded_at=at(1))
    store.record_rejection(Rejection("corrupt", "new message"), source="cli", recorded_at=at(2))

    table = rejection_reasons(store.rejections())

    assert list(table.columns) == list(REJECTION_REASON_COLUMNS)
    assert table["reason"].tolist() == ["corrupt", "empty"]
    assert table["count"].tolist() == [2, 1]
    assert table["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert table["example_message"].tolist() == ["new message", "empty file"]
    assert table["last_seen"].tolist() == [pd.Timestamp(at(2)), pd.Timestamp(at(1))]


def test_rejection_reasons_empty_input_gives_empty_frame(store: PredictionStore) -> None:
    assert list(rejection_reasons(store.rejections()).columns) == list(REJECTION_REASON_COLUMNS)
    assert rejection_reasons(None).empty
