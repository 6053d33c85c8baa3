"""Support for the browser tests: Chromium's path and flags, and a real dashboard server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server_support import streamlit_server

import pytest

from fakescope.registry import Registry
from tests.conftest import REPO_ROOT, build_vit_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHARED_SCREENSHOT = Path("/tmp/fakescope-screenshot.png")
START_TIMEOUT_S = 90


@dataclass(frozen=True)
class Server:
    """A running dashboard: its URL, its prediction log's folder and its process id."""

    url: str
    data_dir: Path
    pid: int

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM line in /proc/PID/status")


@contextmanager
def running_server(
    tmp_path: Path, extra_env: dict[str, str] | None = None, demo_registry: bool = False
) -> Iterator[Server]:
    """`streamlit run streamlit_app/app.py` on a free loopback port, on a temp registry and log.

    The registry holds a tiny random ViT as the active model, or with ``demo_registry`` a copy of
    the committed registry (the demo model: real verdicts, for screenshots). ``extra_env`` adds
    settings (an admin token).
    """
    registry = Registry(tmp_path / "registry")
    if demo_registry:
        shutil.copytree(REPO_ROOT / "models", registry.root)
    else:
        model = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
        (model / "README.md").write_text(
            "# Test model\n\n## Limits\n\nRandom weights: a coin toss.\n"
        )
        registry.register(model, activate=True)
    data_dir = tmp_path / "data"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")},
        "FAKESCOPE_REGISTRY_DIR": str(registry.root),
        "FAKESCOPE_DATA_DIR": str(data_dir),
        "FAKESCOPE_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        **(extra_env or {}),
    }
    with streamlit_server(
        "streamlit_app/app.py", env, tmp_path / "streamlit.log", "/_stcore/health", START_TIMEOUT_S
    ) as (url, process):
        yield Server(url, data_dir, process.pid)


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A real dashboard server on a temp registry and log, stopped after the test (a browser
    test module imports this fixture by name; its ``SERVER_ENV`` dict, if any, adds settings, and
    ``SERVER_DEMO_REGISTRY = True`` serves a copy of the committed registry)."""
    module = request.module
    demo = bool(getattr(module, "SERVER_DEMO_REGISTRY", False))
    with running_server(tmp_path, getattr(module, "SERVER_ENV", None), demo) as running:
        yield running
