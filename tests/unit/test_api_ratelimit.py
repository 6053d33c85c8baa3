"""Token buckets with a hand-driven clock: no sleeping."""

from __future__ import annotations

import pytest

from fakescope.api.ratelimit import RateLimiter, retry_after_header

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_wait_then_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=3, clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("a") == 0.0


def test_clients_have_separate_buckets() -> None:
    limiter = RateLimiter(rate_per_minute=60, burst=1, clock=Clock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_zero_rate_disables_the_limit() -> None:
    limiter = RateLimiter(rate_per_minute=0, burst=1, clock=Clock())
    assert not limiter.enabled
    assert all(limiter.acquire("a") == 0.0 for _ in range(100))


def test_full_buckets_are_swept() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_minute=60, burst=2, clock=clock)
    for n in range(50):
        limiter.acquire(f"ip:{n}")
    assert len(limiter) == 50
    clock.now += 10
    limiter.acquire("late")
    assert len(limiter) == 1


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_rounds_up(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
