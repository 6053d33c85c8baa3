"""The real FakeScope server (``streamlit run streamlit_app/server.py``) for API tests.

Started as a subprocess on a free loopback port with its own prediction log, on the committed
demo model (it has a reference profile, so drift has something to compare with). Used by the
API integration tests and the API load benchmark; nothing here is mocked.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server_support import streamlit_server

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180  # the first start exports the model for OpenVINO


@dataclass(frozen=True)
class ApiServer:
    """A running server: its URL, its prediction log's folder, its process id and log file."""

    url: str
    data_dir: Path
    pid: int
    log: Path

    def rss_mb(self) -> float:
        """The server's resident memory now (VmRSS), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS line in /proc/PID/status")


@dataclass
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Reply:
    """One real HTTP request (urllib); an error status is returned, not raised."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # nosec B310
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def multipart(
    files: Sequence[tuple[str, bytes]], fields: Mapping[str, str] | None = None
) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body and its headers."""
    boundary = "test-" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in (fields or {}).items()
    ]
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def predict(
    server: ApiServer,
    files: Sequence[tuple[str, bytes]],
    *,
    key: str | None = None,
    fields: Mapping[str, str] | None = None,
    query: str = "",
) -> Reply:
    """``POST /api/v1/predict`` with ``files``."""
    body, headers = multipart(files, fields)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return call(f"{server.url}/api/v1/predict{query}", method="POST", data=body, headers=headers)


@contextmanager
def running_api_server(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[ApiServer]:
    """``streamlit run streamlit_app/server.py`` on a free loopback port, ready to predict."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")},
        "FAKESCOPE_REGISTRY_DIR": str(REPO_ROOT / "models"),
        "FAKESCOPE_DATA_DIR": str(data_dir),
        "FAKESCOPE_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **(env or {}),
    }
    log = tmp_path / "server.log"
    with streamlit_server("streamlit_app/server.py", full_env, log, "/readyz", START_TIMEOUT_S) as (
        url,
        process,
    ):
        yield ApiServer(url, data_dir, process.pid, log)
