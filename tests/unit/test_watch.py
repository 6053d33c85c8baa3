"""Unattended monitoring: the server's timer checks the newest window and alerts once per window,
against a real local webhook server, a real registry and a real SQLite log."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from conftest import build_vit_model

from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope.registry import Registry
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction
from fakescope.watch import Watcher, check_and_alert

pytestmark = pytest.mark.unit

SPACE = "pca4-000000000000"
FEATURES = ("brightness", "contrast", "saturation", "sharpness")


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict]]]:
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()
    server.server_close()


def profile(n: int = 200) -> dict:
    rng = np.random.default_rng(0)
    return {
        "features": {name: rng.normal(0.5, 0.05, n).tolist() for name in FEATURES},
        "fake_probability": rng.uniform(0, 1, n).tolist(),
        "embeddings": rng.normal(0, 1, (n, 4)).tolist(),
        "embedding_space": SPACE,
        "n_images": n,
        "name": "test reference",
    }


def fill(store: PredictionStore, n: int, *, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = [
        Prediction(
            "real",
            float(rng.uniform()),
            {},
            "m",
            "v1",
            5.0,
            f"{seed}{i:063x}"[:64],
            {name: float(rng.normal(0.5 + shift, 0.05)) for name in FEATURES},
            embedding=tuple(rng.normal(shift * 5, 1, 4)),
            embedding_space=SPACE,
        )
        for i in range(n)
    ]
    store.record_predictions(rows, source="api")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[PredictionStore, Registry]:
    folder = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
    (folder / "reference_profile.json").write_text(json.dumps(profile()))
    registry = Registry(tmp_path / "registry")
    registry.register(folder, activate=True)
    return PredictionStore(f"sqlite:///{tmp_path / 'log.db'}"), registry


def test_check_and_alert_is_quiet_on_like_traffic_and_alerts_once_on_drift(setup, hook) -> None:
    store, registry = setup
    url, bodies = hook
    settings = Settings.from_env({"FAKESCOPE_ALERT_WEBHOOK_URL": url})
    fill(store, 120, shift=0.0, seed=1)
    quiet = check_and_alert(store, registry, settings, window=100)
    assert quiet.version == "v1" and quiet.check.drifted is False
    assert quiet.alerts["drift"] is None
    fill(store, 100, shift=0.3, seed=2)
    loud = check_and_alert(store, registry, settings, window=100)
    assert loud.check.drifted is True and loud.alerts["drift"] == "sent"
    again = check_and_alert(store, registry, settings, window=100)
    assert again.alerts["drift"] == "already sent"
    drift_posts = [b for b in bodies if "drift" in b["text"].lower()]
    assert len(drift_posts) == 1 and "test reference" in json.dumps(drift_posts[0])


def test_watcher_checks_on_its_own_and_sends_one_alert(setup, hook) -> None:
    store, registry = setup
    url, bodies = hook
    fill(store, 200, shift=0.3, seed=3)
    settings = Settings.from_env({"FAKESCOPE_ALERT_WEBHOOK_URL": url})
    watcher = Watcher(lambda: store, lambda: registry, settings, interval_seconds=0.05)
    watcher.start()
    deadline = time.monotonic() + 20
    while watcher.rounds < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.stop()
    assert watcher.rounds >= 3
    assert len([b for b in bodies if "drift" in b["text"].lower()]) == 1


def test_watcher_survives_a_version_without_reference(tmp_path: Path) -> None:
    folder = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
    registry = Registry(tmp_path / "registry")
    registry.register(folder, activate=True)
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    watcher = Watcher(lambda: store, lambda: registry, Settings.from_env({}), interval_seconds=1)
    assert watcher.run_once() is None  # logged, not raised
    assert watcher.interval_seconds == 1


def test_check_interval_setting() -> None:
    assert Settings.from_env({}).alert_check_minutes == 5.0
    watcher = Watcher(lambda: None, lambda: None, Settings.from_env({}))
    assert watcher.interval_seconds == 300
    assert Settings.from_env({"FAKESCOPE_ALERT_CHECK_MINUTES": "0"}).alert_check_minutes == 0
    with pytest.raises(ConfigError, match="alert_check_minutes must be 0"):
        Settings.from_env({"FAKESCOPE_ALERT_CHECK_MINUTES": "-1"})


def test_api_server_lifespan_runs_the_watcher_when_a_webhook_is_set(setup, hook) -> None:
    import asyncio

    from fakescope.api.app import ApiServer

    store, registry = setup
    url, bodies = hook
    fill(store, 200, shift=0.3, seed=4)
    settings = Settings.from_env(
        {
            "FAKESCOPE_ALERT_WEBHOOK_URL": url,
            "FAKESCOPE_ALERT_CHECK_MINUTES": "0.001",  # every 60 ms
            "FAKESCOPE_REGISTRY_DIR": str(registry.root),
        }
    )

    def no_model() -> None:
        raise ConfigError("no model in this test")

    server = ApiServer(settings, predictor=no_model, store=lambda: store)

    async def serve_briefly() -> None:
        async with server.lifespan(None):
            await asyncio.sleep(1.0)

    asyncio.run(serve_briefly())
    assert len([b for b in bodies if "drift" in b["text"].lower()]) == 1
