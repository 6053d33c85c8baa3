"""API keys: FakeScope keeps SHA-256 digests of the keys, never the keys themselves.

A request names its key in ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``. The key's
digest is compared with every stored digest in constant time (``hmac.compare_digest``), so the
answer's timing says nothing about how close a wrong key was. The key id that logs and rate
limits use is the first 12 hex digits of the digest: enough to tell keys apart, useless to
reconstruct one.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fakescope.config import hash_api_key

KEY_ID_LENGTH = 12


@dataclass(frozen=True)
class KeyCheck:
    """The outcome of checking a request's key.

    Attributes:
        status: ``open`` (no keys configured), ``ok``, ``missing`` or ``wrong``.
        key_id: the matching key's id (``ok`` only), else None.
    """

    status: str
    key_id: str | None = None


def key_id(digest: str) -> str:
    """The short, loggable id of a key, from its digest."""
    return digest[:KEY_ID_LENGTH]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries: ``Authorization: Bearer KEY`` first, then ``X-API-Key``.

    Args:
        headers: request headers, looked up with lower-case names.
    """
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def check_key(presented: str | None, digests: Sequence[str]) -> KeyCheck:
    """Check a presented key against the stored digests.

    Every digest is compared (no early exit), each comparison in constant time.

    Args:
        presented: the key from the request, or None.
        digests: SHA-256 hex digests of the accepted keys; empty means the API is open.
    """
    if not digests:
        return KeyCheck("open")
    if presented is None:
        return KeyCheck("missing")
    candidate = hash_api_key(presented).encode("ascii")
    match = None
    for digest in digests:
        if hmac.compare_digest(candidate, digest.encode("ascii")):
            match = digest
    return KeyCheck("ok", key_id(match)) if match else KeyCheck("wrong")
