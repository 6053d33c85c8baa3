"""Load on the real server: 8 concurrent clients x 50 ``POST /api/v1/predict`` with real images.

Asserts (not a timed test; the figures are reported): no errors, one logged row per request,
and the server's resident memory after the run within 10 % of before (measured after a warm-up,
so the first requests' one-time allocations do not count). p50/p95 client latencies go to
``benchmark.extra_info`` and are printed.
"""

from __future__ import annotations

import bench_support  # noqa: F401 - first: sets OMP_WAIT_POLICY before torch loads
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiServer, predict, running_api_server
from bench_support import record

from fakescope.store import PredictionStore

pytestmark = [pytest.mark.benchmark, pytest.mark.slow]

CLIENTS = 8
REQUESTS_PER_CLIENT = 50
WARM_UP_REQUESTS = 24
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "fakescope" / "samples"


def _images() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.*")) if p.suffix != ".md"]


def _api_rows(server: ApiServer) -> int:
    store = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    try:
        return len(store.predictions(source="api")) + len(store.rejections(source="api"))
    finally:
        store.close()


def _client(server: ApiServer, images: list[tuple[str, bytes]], offset: int) -> list[Any]:
    """One client's requests: (latency in s, status, verdict count)."""
    results = []
    for n in range(REQUESTS_PER_CLIENT):
        image = images[(offset + n) % len(images)]
        start = time.perf_counter()
        reply = predict(server, [image])
        elapsed = time.perf_counter() - start
        ok = reply.status == 200 and "verdict" in reply.json()["results"][0]
        results.append((elapsed, reply.status, ok))
    return results


def test_api_load_8_clients_x_50_requests(benchmark: Any, tmp_path: Path) -> None:
    env = {"FAKESCOPE_API_RATE_PER_MINUTE": "0"}  # the load is the point, not the limiter
    with running_api_server(tmp_path, env) as server:
        images = _images()
        for n in range(WARM_UP_REQUESTS):
            assert predict(server, [images[n % len(images)]]).status == 200
        rows_before = _api_rows(server)
        rss_before = server.rss_mb()

        def load() -> list[Any]:
            with ThreadPoolExecutor(CLIENTS) as pool:
                futures = [pool.submit(_client, server, images, c) for c in range(CLIENTS)]
                return [r for f in futures for r in f.result()]

        started = time.perf_counter()
        results = benchmark.pedantic(load, rounds=1, iterations=1)
        wall = time.perf_counter() - started
        rss_after = server.rss_mb()
        rows_after = _api_rows(server)

    total = CLIENTS * REQUESTS_PER_CLIENT
    errors = [r for r in results if r[1] != 200 or not r[2]]
    latencies_ms = sorted(r[0] * 1000 for r in results)
    p50 = statistics.median(latencies_ms)
    p95 = latencies_ms[int(0.95 * (len(latencies_ms) - 1))]
    figures = {
        "requests": total,
        "errors": len(errors),
        "rows_logged": rows_after - rows_before,
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "throughput_per_s": round(total / wall, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
    }
    record(benchmark, kind="api", variant=f"{CLIENTS} clients x {REQUESTS_PER_CLIENT}", **figures)
    print(f"\nAPI load: {figures}")
    assert len(results) == total
    assert not errors, errors[:5]
    assert rows_after - rows_before == total
    assert rss_after <= rss_before * 1.10, figures
