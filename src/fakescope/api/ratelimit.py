"""Token-bucket rate limits, one bucket per client (an API key's id, else the client address).

A bucket holds up to ``burst`` tokens and refills at ``rate_per_minute / 60`` tokens a second;
each request takes one. An empty bucket answers how long until the next token, which the API
sends as ``Retry-After``. Buckets idle long enough to be full again are dropped, so a stream of
distinct addresses cannot grow memory without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Per-client token buckets (thread-safe).

    Args:
        rate_per_minute: sustained requests per minute per client; 0 disables the limit.
        burst: the bucket size: requests a client may make at once.
        clock: seconds, monotonic (injectable so tests need not sleep).
    """

    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    @property
    def enabled(self) -> bool:
        """False when the rate is 0 (no limit)."""
        return self.rate > 0

    def acquire(self, client: str) -> float:
        """Take a token for ``client``.

        Returns:
            0.0 when the request may go ahead, else the seconds until a token is free.
        """
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            self._sweep(now)
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no state worth keeping)."""
        full_after = self.burst / self.rate
        if now - self._last_sweep < full_after:
            return
        self._last_sweep = now
        for client in [c for c, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[client]

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_seconds: float) -> str:
    """``Retry-After`` wants whole seconds; round up so a client that obeys it gets through."""
    return str(max(1, math.ceil(wait_seconds)))
