"""The admin token check: constant-time comparison and the limit on wrong guesses."""

from __future__ import annotations

import threading

import pytest

from fakescope.auth import (
    GLOBAL_KEY,
    WRONG_GUESS,
    AttemptLimiter,
    BucketSpec,
    admin_limiter,
    tokens_match,
)

pytestmark = pytest.mark.unit


class Clock:
    """A clock the test moves by hand (the limiter takes any monotonic seconds source)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(clock: Clock, client: int = 3, overall: int = 10) -> AttemptLimiter:
    return AttemptLimiter(BucketSpec(client, 30.0), BucketSpec(overall, 10.0), clock=clock)


def test_tokens_match_compares_bytes() -> None:
    assert tokens_match("s3cret", "s3cret")
    assert not tokens_match("s3cre", "s3cret")
    assert tokens_match("pässwörd", "pässwörd")  # non-ASCII works (compare_digest on str would not)
    assert not tokens_match("passwörd", "passwerd")


def test_right_token_is_allowed_and_wrong_is_counted() -> None:
    limiter = _limiter(Clock())
    assert limiter.check("tok", "tok", ["s1"]).allowed
    wrong = limiter.check("nope", "tok", ["s1"])
    assert (wrong.allowed, wrong.reason, wrong.message) == (False, "wrong", WRONG_GUESS)


def test_disabled_and_empty_tokens_are_not_guesses() -> None:
    limiter = _limiter(Clock(), client=1)
    assert limiter.check("x", None, ["s1"]).reason == "disabled"
    assert limiter.check("x", "", ["s1"]).reason == "disabled"
    for _ in range(5):
        assert limiter.check("", "tok", ["s1"]).reason == "empty"
    assert limiter.check("tok", "tok", ["s1"]).allowed  # empty attempts cost nothing


def test_client_is_limited_after_capacity_wrong_guesses_then_recovers() -> None:
    clock = Clock()
    limiter = _limiter(clock, client=3)
    for _ in range(3):
        assert limiter.check("bad", "tok", ["s1"]).reason == "wrong"
    limited = limiter.check("tok", "tok", ["s1"])  # even the right token: not compared now
    assert limited.reason == "limited" and not limited.allowed
    assert limited.retry_after == pytest.approx(30.0)
    assert "Try again in 30 s" in limited.message
    assert limiter.check("tok", "tok", ["s2"]).allowed  # another client is not affected
    clock.now += 29.0
    assert limiter.check("tok", "tok", ["s1"]).retry_after == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.check("tok", "tok", ["s1"]).allowed


def test_refused_attempts_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = _limiter(clock, client=1)
    limiter.check("bad", "tok", ["s1"])
    for _ in range(50):
        limiter.check("bad", "tok", ["s1"])
    clock.now += 30.0
    assert limiter.check("tok", "tok", ["s1"]).allowed


def test_global_bucket_caps_many_clients() -> None:
    clock = Clock()
    limiter = _limiter(clock, client=3, overall=10)
    for i in range(10):  # ten fresh sessions, one guess each
        assert limiter.check("bad", "tok", [f"s{i}"]).reason == "wrong"
    refused = limiter.check("tok", "tok", ["fresh-session"])
    assert refused.reason == "limited" and refused.retry_after == pytest.approx(10.0)
    clock.now += 10.0
    assert limiter.check("tok", "tok", ["fresh-session"]).allowed


def test_any_key_of_a_client_limits_it() -> None:
    limiter = _limiter(Clock(), client=2)
    limiter.check("bad", "tok", ["session:a", "ip:10.0.0.1"])
    limiter.check("bad", "tok", ["session:b", "ip:10.0.0.1"])
    # A new session from the same address is still limited by the address's bucket.
    assert limiter.check("tok", "tok", ["session:c", "ip:10.0.0.1"]).reason == "limited"


def test_memory_is_bounded() -> None:
    clock = Clock()
    limiter = AttemptLimiter(
        BucketSpec(3, 1.0), BucketSpec(10_000, 0.001), clock=clock, max_clients=50
    )
    for i in range(500):
        limiter.check("bad", "tok", [f"s{i}"])
        clock.now += 0.01
    assert len(limiter._buckets) <= 51
    assert GLOBAL_KEY in limiter._buckets


def test_concurrent_guesses_are_all_counted() -> None:
    limiter = _limiter(Clock(), client=1000, overall=40)
    results: list[str] = []

    def guess() -> None:
        for _ in range(10):
            results.append(limiter.check("bad", "tok", ["same"]).reason)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("wrong") == 40 and results.count("limited") == 40


def test_admin_limiter_is_one_per_process() -> None:
    assert admin_limiter() is admin_limiter()
