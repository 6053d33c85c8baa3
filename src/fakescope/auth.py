"""The dashboard's admin token: constant-time comparison and a limit on wrong guesses.

Promote and roll back on the Models page need ``FAKESCOPE_ADMIN_TOKEN``. Without a limit a script
can try about nine tokens a second through the browser, so wrong guesses are counted in token
buckets: one per client key (the page passes its session and, when known, the client's address)
and one for the whole process. A wrong guess takes a token from every bucket it belongs to; while
any of them is empty, every attempt from that client is refused *before* the token is compared
(so a refused attempt reveals nothing), with the time to wait. Buckets refill at a steady rate,
so an honest typo costs nothing lasting.

The process-wide bucket also caps an attacker who opens many sessions or addresses; the price is
that such an attack can lock the admin out of the browser for a while. The command line
(``fakescope models promote``) on the server is never limited.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

GLOBAL_KEY = "*"
WRONG_GUESS = "Wrong admin token: nothing was changed."
NO_GUESS = "Type the admin token first: nothing was changed."
DISABLED = "No admin token is configured (FAKESCOPE_ADMIN_TOKEN): nothing was changed."


@dataclass(frozen=True)
class BucketSpec:
    """A token bucket's shape.

    Attributes:
        capacity: wrong guesses allowed in a burst.
        refill_seconds: one guess comes back every this many seconds.
    """

    capacity: int
    refill_seconds: float


# Per client: 5 wrong guesses, then one every 30 s. Whole process: 20, then one every 10 s
# (at most ~6 guesses a minute for everyone together, against ~9 a second without a limit).
CLIENT_BUCKET = BucketSpec(capacity=5, refill_seconds=30.0)
GLOBAL_BUCKET = BucketSpec(capacity=20, refill_seconds=10.0)


@dataclass(frozen=True)
class Decision:
    """The answer to one admin attempt.

    Attributes:
        allowed: the token was right and the attempt was not rate-limited.
        reason: ``ok``, ``wrong``, ``empty``, ``disabled`` or ``limited``.
        message: one line for the user (empty when allowed).
        retry_after: seconds to wait before the next attempt (``limited`` only).
    """

    allowed: bool
    reason: str
    message: str = ""
    retry_after: float = 0.0


def tokens_match(typed: str, configured: str) -> bool:
    """Whether two tokens are equal, in time that does not depend on where they differ."""
    return hmac.compare_digest(typed.encode("utf-8"), configured.encode("utf-8"))


class AttemptLimiter:
    """Token buckets of wrong guesses, keyed by client; safe to share between threads.

    Args:
        client: the bucket shape for each client key.
        overall: the bucket shape for the process-wide key.
        clock: seconds, monotonic (tests pass their own to move time).
        max_clients: client buckets kept at most; full buckets are dropped first.
    """

    def __init__(
        self,
        client: BucketSpec = CLIENT_BUCKET,
        overall: BucketSpec = GLOBAL_BUCKET,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self._specs = {"client": client, "overall": overall}
        self._clock = clock
        self._max_clients = max_clients
        # key -> (tokens, time of that count); a key absent is a full bucket.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, typed: str, configured: str | None, clients: Sequence[str]) -> Decision:
        """Decide one attempt: refuse while limited, else compare and count a wrong guess.

        Args:
            typed: the token the user typed.
            configured: the configured token (None or empty: admin actions are disabled).
            clients: keys naming the client (session id, address); the process-wide key is added.
        """
        if not configured:
            return Decision(False, "disabled", DISABLED)
        if not typed:
            return Decision(False, "empty", NO_GUESS)  # no guess was made: nothing to count
        keys = [*dict.fromkeys(clients), GLOBAL_KEY]
        with self._lock:
            now = self._clock()
            wait = max(self._wait(key, now) for key in keys)
            if wait > 0:
                return Decision(False, "limited", _limited_message(wait), retry_after=wait)
            if tokens_match(typed, configured):
                return Decision(True, "ok")
            for key in keys:
                tokens = self._tokens(key, now)
                self._buckets[key] = (tokens - 1.0, now)
                self._buckets.move_to_end(key)
            self._prune(now)
        return Decision(False, "wrong", WRONG_GUESS)

    def reset(self) -> None:
        """Forget every count (a restart does the same)."""
        with self._lock:
            self._buckets.clear()

    def _spec(self, key: str) -> BucketSpec:
        return self._specs["overall" if key == GLOBAL_KEY else "client"]

    def _tokens(self, key: str, now: float) -> float:
        spec = self._spec(key)
        if key not in self._buckets:
            return float(spec.capacity)
        tokens, since = self._buckets[key]
        refilled = tokens + max(0.0, now - since) / spec.refill_seconds
        return min(float(spec.capacity), refilled)

    def _wait(self, key: str, now: float) -> float:
        """Seconds until ``key``'s bucket holds one whole token again (0 when it does)."""
        missing = 1.0 - self._tokens(key, now)
        return missing * self._spec(key).refill_seconds if missing > 0 else 0.0

    def _prune(self, now: float) -> None:
        """Keep memory bounded: drop refilled buckets, then the oldest, past ``max_clients``."""
        if len(self._buckets) <= self._max_clients:
            return
        for key in list(self._buckets):
            if key != GLOBAL_KEY and self._tokens(key, now) >= self._spec(key).capacity:
                del self._buckets[key]
        while len(self._buckets) > self._max_clients:
            oldest = next(k for k in self._buckets if k != GLOBAL_KEY)
            del self._buckets[oldest]


def _limited_message(wait: float) -> str:
    seconds = max(1, math.ceil(wait))
    return (
        f"Too many wrong admin tokens: nothing was changed. Try again in {seconds} s "
        "(or use `fakescope models promote` / `rollback` on the server)."
    )


_ADMIN_LIMITER = AttemptLimiter()


def admin_limiter() -> AttemptLimiter:
    """The process-wide limiter the dashboard uses (shared by every session and thread)."""
    return _ADMIN_LIMITER
