"""The dashboard and the API while the model loads: pages draw at once and say the model is
loading, then show verdicts when it is ready; a failed load is shown and the next run retries.

Real app (AppTest), real tiny models, real log. Only the load is made slow or failing, by
wrapping ``Predictor.from_source`` so that it waits on an event or raises once; everything the
pages and the API do around it is the code under test.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import streamlit.config
from api_support import multipart
from streamlit.testing.v1 import AppTest

from fakescope.config import Settings
from fakescope.errors import ModelLoadError
from fakescope.predictor import Predictor
from fakescope.registry import Registry
from tests.conftest import REPO_ROOT, build_vit_model, encode, photo_like

pytestmark = pytest.mark.integration

APP = str(REPO_ROOT / "streamlit_app" / "app.py")
TIMEOUT = 60
LOADING = "The model is loading (prepared for this CPU) — started "


@pytest.fixture
def resources(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The pages' ``resources`` module (``streamlit run`` puts its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "streamlit_app"))
    return importlib.import_module("resources")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A registry with one tiny active model and the app's env vars."""
    registry = Registry(tmp_path / "registry")
    model = build_vit_model(tmp_path / "model", image_size=32, hidden_size=16)
    registry.register(model, activate=True)
    monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(registry.root))
    monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAKESCOPE_THREADS", "1")
    return Settings.from_env()


class Loader:
    """``Predictor.from_source`` made to wait for :attr:`gate` (and to fail ``fail`` times)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.calls = 0
        self.fail = 0
        original = Predictor.from_source

        def from_source(_cls: type, *args: Any, **kwargs: Any) -> Predictor:
            self.calls += 1
            if self.fail:
                self.fail -= 1
                raise ModelLoadError("the weights file is unreadable (test)")
            assert self.gate.wait(TIMEOUT), "the test never let the load finish"
            return original(*args, **kwargs)

        monkeypatch.setattr(Predictor, "from_source", classmethod(from_source))


@pytest.fixture
def loader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    slow = Loader(monkeypatch)
    yield slow
    slow.gate.set()  # never leave a load thread waiting after the test


def _texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def _loading(at: AppTest) -> list[str]:
    return [text for text in _texts(at.info) if text.startswith(LOADING)]


def _wait_until_loaded(resources: ModuleType, settings: Settings) -> None:
    deadline = time.monotonic() + TIMEOUT
    while resources.model_loading(settings):
        assert time.monotonic() < deadline, "the model did not load"
        time.sleep(0.05)


def test_app_pages_draw_while_the_model_loads_then_show_verdicts(
    resources: ModuleType,
    settings: Settings,
    loader: Loader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Stop waiting in the page almost at once, so the run ends on the self-refreshing notice.
    monkeypatch.setattr(resources, "PAGE_WAIT_S", 0.5)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert _texts(at.title) == ["Detect"]
    assert at.file_uploader(key="detect_uploads")
    assert at.slider(key="detect_threshold")
    (notice,) = _loading(at)
    assert notice.endswith(" s ago; this page updates when it is ready.")
    assert not at.error

    at.file_uploader(key="detect_uploads").upload(
        "cat.jpg", encode(photo_like(), quality=90), "image/jpeg"
    )
    at.run()
    assert not at.exception, at.exception
    assert _loading(at) and not at.subheader  # still loading: no verdicts yet
    assert len(at.file_uploader(key="detect_uploads").value) == 1  # the upload is kept

    # Another session meanwhile: the Models page draws everything but the running model.
    models = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    models.switch_page("views/models.py").run()
    assert not models.exception, models.exception
    assert "All versions" in _texts(models.subheader) and not models.table
    assert _loading(models) and not any("Roll back" in c for c in _texts(models.caption))
    # The Monitor page does not need the model at all.
    models.switch_page("views/monitor.py").run()
    assert not models.exception and _texts(models.title) == ["Monitor"]

    loader.gate.set()
    _wait_until_loaded(resources, settings)
    at.run()
    assert not at.exception, at.exception
    assert not _loading(at)
    assert _texts(at.subheader)[0].startswith("1 image: ")
    assert loader.calls == 1  # one load for every run and both sessions


def test_app_a_short_load_ends_in_the_same_run(
    resources: ModuleType, settings: Settings, loader: Loader
) -> None:
    timer = threading.Timer(1.5, loader.gate.set)
    timer.start()
    started = time.monotonic()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    timer.join()
    assert not at.exception, at.exception
    assert time.monotonic() - started >= 1.5  # the run waited for the model in the page...
    assert not _loading(at)  # ...and the notice is gone once it was ready
    assert any("Drop one or more images" in text for text in _texts(at.info))


def test_app_a_failed_load_is_shown_and_the_next_run_tries_again(
    resources: ModuleType, settings: Settings, loader: Loader
) -> None:
    loader.fail = 1
    loader.gate.set()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    (error,) = _texts(at.error)
    assert error.startswith("The model cannot be loaded: the weights file is unreadable (test).")
    assert error.endswith(resources.MODEL_HELP)
    assert "Traceback" not in error
    assert at.file_uploader(key="detect_uploads")  # files can be chosen for the retry

    at.file_uploader(key="detect_uploads").upload(
        "cat.jpg", encode(photo_like(), quality=90), "image/jpeg"
    )
    at.run()
    assert not at.exception, at.exception
    assert not at.error
    assert _texts(at.subheader)[0].startswith("1 image: ")
    assert loader.calls == 2


# ------------------------------------------------------------------------------------------ API


@pytest.fixture
def server(
    resources: ModuleType, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """``streamlit_app/server.py`` imported here, its API driven without a network."""
    # st.App pins the process's script folder once; put it back for later AppTests.
    monkeypatch.setattr(streamlit.config, "_main_script_path", streamlit.config._main_script_path)
    sys.modules.pop("server", None)
    module = importlib.import_module("server")
    monkeypatch.setattr(module, "API_WAIT_S", 0.2)
    yield module
    sys.modules.pop("server", None)


def _call(
    server: ModuleType, method: str, path: str, files: list[tuple[str, bytes]] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One request through the API's routes and middleware (ASGI, in process)."""
    from starlette.applications import Starlette

    app = Starlette(routes=server.api.routes(), middleware=server.api.middleware())
    body, headers = multipart(files) if files else (b"", {})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    reply = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers_out = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers_out, json.loads(reply)


def test_api_says_loading_with_retry_after_then_answers(
    server: ModuleType, resources: ModuleType, settings: Settings, loader: Loader
) -> None:
    image = ("cat.jpg", encode(photo_like(), quality=90))
    status, _, body = _call(server, "GET", "/readyz")
    assert status == 503 and body["message"].startswith("the model is loading (started ")
    assert _call(server, "GET", "/healthz")[:1] == (200,)

    started = time.monotonic()
    status, headers, body = _call(server, "POST", "/api/v1/predict", [image])
    assert status == 503 and body["code"] == "model_loading"
    assert headers["retry-after"] == str(server.RETRY_AFTER_S)
    assert body["message"].startswith("the model is loading (started ")
    assert time.monotonic() - started < 5  # waited API_WAIT_S, not for the load

    loader.gate.set()
    _wait_until_loaded(resources, settings)
    status, _, body = _call(server, "POST", "/api/v1/predict", [image])
    assert status == 200 and body["results"][0]["verdict"] in {"real", "fake", "uncertain"}
    assert _call(server, "GET", "/readyz")[:1] == (200,)
    assert loader.calls == 1


def test_api_failed_load_is_503_and_the_next_request_tries_again(
    server: ModuleType, settings: Settings, loader: Loader
) -> None:
    loader.fail = 1
    loader.gate.set()
    image = ("cat.jpg", encode(photo_like(), quality=90))
    status, _, body = _call(server, "POST", "/api/v1/predict", [image])
    assert status == 503 and body["code"] == "model_unavailable"
    assert "the weights file is unreadable (test)" in body["message"]
    status, _, body = _call(server, "POST", "/api/v1/predict", [image])
    assert status == 200, body
    assert loader.calls == 2


def test_clear_predictor_loads_again(
    resources: ModuleType, settings: Settings, loader: Loader
) -> None:
    loader.gate.set()
    first = resources.shared_predictor(settings)
    assert resources.shared_predictor(settings) is first
    resources.clear_predictor()
    assert resources.shared_predictor(settings) is not first
    assert loader.calls == 2
