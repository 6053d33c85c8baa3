"""API keys: hashed in the settings, checked in constant time, never kept in plain text."""

from __future__ import annotations

import hashlib

import pytest

from fakescope.api.keys import check_key, key_id, presented_key
from fakescope.config import Settings, hash_api_key, parse_api_keys
from fakescope.errors import ConfigError

pytestmark = pytest.mark.unit


def test_settings_keep_digests_not_keys() -> None:
    settings = Settings.from_env({"FAKESCOPE_API_KEYS": "alpha-key, beta-key"})
    assert settings.api_key_hashes == (
        hashlib.sha256(b"alpha-key").hexdigest(),
        hashlib.sha256(b"beta-key").hexdigest(),
    )
    assert "alpha-key" not in repr(settings)
    assert "api_key_hashes" not in repr(settings)


def test_sha256_entries_are_taken_as_digests() -> None:
    digest = hash_api_key("secret")
    assert parse_api_keys(f"sha256:{digest.upper()},secret") == (digest,)


@pytest.mark.parametrize("raw", ["a,,b", "sha256:1234", "sha256:" + "g" * 64])
def test_bad_key_lists_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="FAKESCOPE_API_KEYS"):
        parse_api_keys(raw)


def test_presented_key_reads_bearer_then_x_api_key() -> None:
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"authorization": "bearer  abc "}) == "abc"
    assert presented_key({"x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Basic Zm9v", "x-api-key": "xyz"}) == "xyz"
    assert presented_key({"authorization": "Bearer "}) is None
    assert presented_key({}) is None


def test_check_key_statuses() -> None:
    digests = parse_api_keys("one,two")
    assert check_key(None, ()).status == "open"
    assert check_key("anything", ()).status == "open"
    assert check_key(None, digests).status == "missing"
    assert check_key("three", digests).status == "wrong"
    ok = check_key("two", digests)
    assert ok.status == "ok"
    assert ok.key_id == key_id(hash_api_key("two"))
    assert ok.key_id != "two" and len(ok.key_id) == 12
