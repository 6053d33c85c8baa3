"""The prediction log and drift monitoring: insert, query, and a drift report over 10,000 rows.

SQLite on a temporary file, as in production (WAL, BEGIN IMMEDIATE on every write).
"""

from __future__ import annotations

import bench_support  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch loads
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench_support import record, rounds

from fakescope.drift import ReferenceProfile, drift_report
from fakescope.images import FEATURE_NAMES
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction, verdict_for

pytestmark = pytest.mark.benchmark

LOGGED_ROWS = 10_000
START = datetime(2025, 1, 1)


def make_predictions(count: int, seed: int, shift: float = 0.0) -> list[Prediction]:
    """Predictions with realistic features; ``shift`` moves brightness (to induce drift)."""
    rng = np.random.default_rng(seed)
    probabilities = rng.beta(2, 5, count)
    out = []
    for i, p in enumerate(probabilities):
        features = {
            "width": float(rng.choice([640, 1024, 4000])),
            "height": float(rng.choice([480, 768, 3000])),
            "brightness": float(np.clip(rng.normal(0.45 + shift, 0.1), 0, 1)),
            "contrast": float(abs(rng.normal(0.2, 0.05))),
            "saturation": float(rng.uniform(0.1, 0.6)),
            "sharpness": float(rng.gamma(2, 200)),
            "high_freq_energy": float(rng.uniform(0.01, 0.3)),
            "jpeg_quality": float(rng.integers(60, 100)),
        }
        out.append(
            Prediction(
                verdict=verdict_for(float(p)),
                fake_probability=float(p),
                scores={"Fake": float(p), "Real": float(1 - p)},
                model_name="bench",
                model_version="v1",
                latency_ms=float(rng.gamma(4, 10)),
                sha256=f"{seed:08x}{i:056x}",
                features=features,
                name=f"img{i}.jpg",
            )
        )
    assert set(out[0].features) == set(FEATURE_NAMES)
    return out


def test_store_insert_one(benchmark: Any, tmp_path: Path) -> None:
    """One prediction per transaction, as the dashboard logs an upload."""
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    rows = make_predictions(400, seed=1)
    written: list[str] = []

    def insert() -> None:
        prediction = rows[len(written)]
        store.record_prediction(prediction, source="bench")
        written.append(prediction.sha256)

    benchmark.pedantic(insert, rounds=rounds(200, 50))
    record(benchmark, kind="store", variant="insert 1 row (own transaction)", images=1)
    assert store.count() == len(written) > 0
    assert list(store.predictions()["sha256"]) == written


def test_store_insert_batch_of_100(benchmark: Any, tmp_path: Path) -> None:
    """100 predictions in one transaction, as the CLI logs a folder."""
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    batch = make_predictions(100, seed=2)
    calls: list[int] = []

    def insert() -> None:
        store.record_predictions(batch, source="bench")
        calls.append(1)

    benchmark.pedantic(insert, rounds=rounds(20, 5))
    record(benchmark, kind="store", variant="insert 100 rows (one transaction)", images=100)
    assert store.count() == 100 * len(calls) > 0


@pytest.fixture(scope="module")
def logged_store(tmp_path_factory: pytest.TempPathFactory) -> PredictionStore:
    """10,000 logged predictions over 10,000 minutes, the last half much brighter."""
    folder = tmp_path_factory.mktemp("store")
    store = PredictionStore(f"sqlite:///{folder / 'log.db'}")
    half = LOGGED_ROWS // 2
    for part, shift in ((0, 0.0), (1, 0.25)):
        predictions = make_predictions(half, seed=10 + part, shift=shift)
        for start in range(0, half, 1000):
            chunk = predictions[start : start + 1000]
            when = START + timedelta(minutes=part * half + start)
            store.record_predictions(chunk, source="bench", recorded_at=when)
    assert store.count() == LOGGED_ROWS
    return store


def test_store_query_10000_rows(benchmark: Any, logged_store: PredictionStore) -> None:
    """Read back the whole log as a DataFrame (what the Monitor page does)."""
    frame = benchmark.pedantic(logged_store.predictions, rounds=rounds(5, 2), warmup_rounds=1)
    record(benchmark, kind="store", variant=f"query {LOGGED_ROWS:,} rows", rows=LOGGED_ROWS)
    assert len(frame) == LOGGED_ROWS
    assert set(FEATURE_NAMES) <= set(frame.columns)


def test_drift_report_10000_rows(benchmark: Any, logged_store: PredictionStore) -> None:
    """Query 10,000 rows and run KS + PSI on every feature and on the fake probability."""
    reference = ReferenceProfile.from_frame(logged_store.predictions(limit=LOGGED_ROWS)[:2000])

    def run() -> Any:
        return drift_report(reference, logged_store.predictions(limit=LOGGED_ROWS))

    report = benchmark.pedantic(run, rounds=rounds(5, 2), warmup_rounds=1)
    record(benchmark, kind="drift", variant=f"drift report over {LOGGED_ROWS:,} rows")
    assert report.n_current == LOGGED_ROWS and report.n_reference == 2000
    # The second half is brighter by 0.25: brightness must be flagged, sizes must not.
    assert report.feature_drifted["brightness"] is True
    assert report.feature_drifted["width"] is not True
