"""``fakescope reference build|save|list|delete`` and ``fakescope monitor``, run as real processes
on a copy of the committed registry, with traffic from the project's pool and a real local
webhook server for the alerts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from fakescope.registry import Registry
from fakescope.traffic import project_pool_folders

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
POOL = ("--pool", "tests/quality/generated", "--real", "tests/quality/heldout_photos")


class Cli:
    """The ``fakescope`` command on one registry and data folder."""

    def __init__(self, root: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")}
        self.env.update(
            FAKESCOPE_REGISTRY_DIR=str(root / "models"),
            FAKESCOPE_DATA_DIR=str(root / "data"),
            XDG_CACHE_HOME=str(root / "cache"),
            HF_HUB_OFFLINE="1",
            **env,
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "fakescope", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO_ROOT,
            timeout=300,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result


class Webhook:
    """A local HTTP server that records every POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if project_pool_folders() is None:
        pytest.skip("the project's pool (tests/quality) is not in this checkout")
    root = tmp_path_factory.mktemp("monitor")
    shutil.copytree(REPO_ROOT / "models", root / "models")
    return root


def test_reference_build_writes_a_served_reference_and_its_projection(workspace: Path) -> None:
    cli = Cli(workspace)
    active = Registry(workspace / "models").active_version()
    result = cli("reference", "build", "--count", "150", "--seed", "3", *POOL)
    assert result.returncode == 0, result.stderr
    assert f"{active}: reference of 150 images" in result.stdout
    registry = Registry(workspace / "models")
    profile = registry.read_json(active, "reference_profile.json")
    projection = registry.read_json(active, "embedding_projection.json")
    assert profile["n_images"] == 150 and profile["serving_conditions"] is True
    assert profile["embedding_space"] == projection["space"]
    assert len(profile["embeddings"]) == 100  # a third of the images fitted the projection
    # The weights were not touched: the version still loads and verifies.
    registry.verify(active)


def test_monitor_is_quiet_on_like_traffic_and_alarms_on_blurred_traffic(
    workspace: Path,
) -> None:
    cli = Cli(workspace)
    result = cli("simulate-traffic", "--count", "120", "--seed", "11", *POOL)
    assert result.returncode == 0, result.stderr
    assert "drift against" in result.stdout and "no drift" in result.stdout
    quiet = cli("monitor", "--window", "100")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "reference: " in quiet.stdout and "window: 100 predictions" in quiet.stdout
    assert "verdict: no drift" in quiet.stdout
    blurred = cli(
        "simulate-traffic",
        "--count",
        "100",
        "--seed",
        "12",
        "--shift",
        "blur",
        "--strength",
        "1",
        *POOL,
    )
    assert "DRIFT DETECTED" in blurred.stdout, blurred.stdout
    alarm = cli("monitor", "--window", "100", "--report", str(workspace / "report.html"))
    assert alarm.returncode == 4, alarm.stdout + alarm.stderr
    assert "verdict: DRIFT DETECTED" in alarm.stdout
    html = (workspace / "report.html").read_text(encoding="utf-8")
    assert "Tests on the newest window" in html and "Drift over time" in html
    cli("monitor", "--window", "100", "--report", str(workspace / "report.json"))
    report = json.loads((workspace / "report.json").read_text(encoding="utf-8"))
    assert report["window"]["n"] == 100
    assert any(section["title"] == "Drift over time" for section in report["sections"])


def test_named_reference_from_the_log_is_saved_listed_used_and_deleted(workspace: Path) -> None:
    cli = Cli(workspace)
    saved = cli("reference", "save", "blurry week", "--last", "100", "--description", "tests")
    assert saved.returncode == 0, saved.stderr
    listed = cli("reference", "list")
    assert "blurry week" in listed.stdout and "100 images" in listed.stdout
    # Against the blurred window itself, the blurred window does not drift.
    same = cli("monitor", "--window", "100", "--reference", "blurry week")
    assert "reference: blurry week (tests;" in same.stdout
    assert same.returncode == 0, same.stdout
    twice = cli("reference", "save", "blurry week", "--last", "100")
    assert twice.returncode != 0 and "blurry week" in twice.stderr
    assert cli("reference", "delete", "blurry week").returncode == 0
    assert "no named references" in cli("reference", "list").stdout


def test_monitor_alert_posts_once_per_window_to_the_webhook(workspace: Path) -> None:
    hook = Webhook()
    cli = Cli(workspace, FAKESCOPE_ALERT_WEBHOOK_URL=hook.url)
    first = cli("monitor", "--window", "100", "--alert")
    assert "alert (drift): sent" in first.stdout, first.stdout + first.stderr
    second = cli("monitor", "--window", "100", "--alert")
    assert "alert (drift): already sent" in second.stdout
    drift_posts = [b for b in hook.bodies if "drift" in b["text"].lower()]
    assert len(drift_posts) == 1
    assert drift_posts[0]["blocks"][0]["type"] == "section"
    hook.server.shutdown()
    hook.server.server_close()


def test_monitor_refuses_bad_options_with_a_clear_message(workspace: Path) -> None:
    cli = Cli(workspace)
    small = cli("monitor", "--window", "5")
    assert small.returncode == 2 and "at least 30" in small.stderr
    report = cli("monitor", "--report", str(workspace / "report.txt"))
    assert report.returncode == 2 and ".html or .json" in report.stderr
    unknown = cli("monitor", "--reference", "nope")
    assert unknown.returncode != 0 and "nope" in unknown.stderr
