"""``fakescope predict --server URL``: score local files through a running FakeScope server.

Only the standard library (urllib), so the client works wherever the package is installed. The
files are read here with the same checks as local prediction (a missing or oversized file gets
the same reason without being sent), sent in requests that respect the server's limits (from
``GET /api/v1/model``), and each answer row gets back its local path, so the output is the one
``fakescope predict`` prints for local prediction. The server logs the predictions (source
``api``); the client logs nothing itself.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakescope.config import Settings
from fakescope.errors import FakeScopeError, InvalidImageError

TIMEOUT_S = 300.0
MULTIPART_OVERHEAD = 512  # bytes of part headers per file, generously


class ServerError(FakeScopeError):
    """The server could not be reached or answered with an error (the message says which)."""


@dataclass(frozen=True)
class RemoteModel:
    """What the table's footer shows about the server's model (as ``Predictor.info``)."""

    name: str
    version: str
    source: str
    limits: str


@dataclass(frozen=True)
class RemotePredictor:
    """Stands in for a Predictor where the CLI only prints ``.info``."""

    info: RemoteModel


def _request(
    url: str, *, api_key: str | None, data: bytes | None = None, content_type: str | None = None
) -> dict[str, Any]:
    """One HTTP call; the JSON answer, or ServerError with the server's own message."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise ServerError(f"--server must be an http:// or https:// URL, got {url!r}")
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # nosec B310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read())
            message = f"{body.get('code')}: {body.get('message')}"
        except (ValueError, AttributeError):
            message = exc.reason
        raise ServerError(f"the server answered {exc.code} ({message})") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServerError(f"cannot reach the server at {url}: {exc}") from None


def _multipart(files: Sequence[tuple[str, bytes]], fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body with one ``files`` part per file, and its content type."""
    boundary = "fakescope-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for name, data in files:
        # The file name is data: quotes and line breaks would break the header.
        safe = name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{safe}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode("utf-8", "surrogateescape")
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def predict_remote(
    server: str,
    files: Sequence[Path],
    *,
    api_key: str | None = None,
    threshold: float | None = None,
    settings: Settings | None = None,
) -> tuple[list[dict[str, Any]], RemotePredictor]:
    """Score ``files`` on the server at ``server``.

    Args:
        server: the server's base URL (``http://127.0.0.1:8501``).
        files: local files, in output order.
        api_key: sent as ``Authorization: Bearer``; default FAKESCOPE_API_KEY from the env.
        threshold: the fake threshold for these files (the server's when None).
        settings: local limits for reading files (default from the environment).

    Returns:
        One ``fakescope predict --json`` row per file (with its local path), and the model.

    Raises:
        ServerError: the server cannot be reached, refuses the key, or answers an error.
    """
    from fakescope.cli import _outcome_row
    from fakescope.images import _read_path
    from fakescope.verdicts import Rejection

    settings = settings or Settings.from_env()
    api_key = api_key or os.environ.get("FAKESCOPE_API_KEY") or None
    base = server.rstrip("/")
    model = _request(f"{base}/api/v1/model", api_key=api_key)
    limits = model.get("api_limits", {})
    max_files = int(limits.get("max_files", 20))
    max_bytes = int(limits.get("max_request_bytes", 50_000_000))
    # The server's per-file limit decides, not this machine's.
    local = settings.replace(
        max_file_bytes=int(limits.get("max_file_bytes", settings.max_file_bytes))
    )

    rows: list[dict[str, Any] | None] = [None] * len(files)
    batch: list[tuple[int, bytes]] = []
    size = 0
    fields = {} if threshold is None else {"threshold": repr(float(threshold))}

    def send() -> None:
        if not batch:
            return
        body, content_type = _multipart([(files[i].name, data) for i, data in batch], fields)
        answer = _request(
            f"{base}/api/v1/predict", api_key=api_key, data=body, content_type=content_type
        )
        for (index, _), row in zip(batch, answer["results"]):
            rows[index] = {**row, "path": str(files[index])}
        batch.clear()

    for index, path in enumerate(files):
        try:
            data = _read_path(path, local)
        except InvalidImageError as exc:
            rows[index] = _outcome_row(path, Rejection(exc.reason, str(exc), name=str(path)))
            continue
        cost = len(data) + MULTIPART_OVERHEAD
        if batch and (len(batch) >= max_files or size + cost > max_bytes):
            send()
            size = 0
        batch.append((index, data))
        size += cost
    send()
    info = RemoteModel(
        name=str(model.get("name")),
        version=str(model.get("version")),
        source=f"{model.get('source')} via {base}",
        limits=str(model.get("limits") or ""),
    )
    return [r for r in rows if r is not None], RemotePredictor(info)
