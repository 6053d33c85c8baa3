"""The Models page on a damaged registry: it says what is wrong, and Promote / Roll back still work.

A real registry in a temp folder (tiny random-weight models), damaged the way a crash, a hand edit
or an attacker would, and the real app driven through Streamlit's AppTest. Promote and roll back
are checked by reading registry.json back from disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from fakescope.auth import CLIENT_BUCKET, admin_limiter
from fakescope.registry import Registry
from tests.conftest import REPO_ROOT, build_vit_model

pytestmark = pytest.mark.integration

APP = str(REPO_ROOT / "streamlit_app" / "app.py")
TIMEOUT = 60  # the first run loads and warms a model
TOKEN = "s3cret-token"  # nosec B105 - a test token


@pytest.fixture(autouse=True)
def _app_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """`streamlit run` puts the app's folder on sys.path; AppTest does not. Fresh guess counts."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "streamlit_app"))
    admin_limiter().reset()
    yield
    admin_limiter().reset()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """v1 and v2 (v2 active, history v1 -> v2), each with a card and metrics; the app's env."""
    reg = Registry(tmp_path / "registry")
    for seed in range(2):
        folder = build_vit_model(
            tmp_path / f"model-{seed}", image_size=32, hidden_size=16, seed=seed
        )
        (folder / "README.md").write_text(f"# Detector {seed}\n\n## Limits\n\nA test model.\n")
        (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.8 + seed / 10}))
        reg.register(folder, activate=True)
    monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(reg.root))
    monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FAKESCOPE_THREADS", "1")  # 2 shared cores: threads only contend
    monkeypatch.setenv("FAKESCOPE_ADMIN_TOKEN", TOKEN)
    return reg


def _models_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("views/models.py").run()
    assert not at.exception, at.exception
    return at


def _promote_confirmed(at: AppTest) -> None:
    """Promote, then confirm (issue 12); v1 scores below v2, so the gate is overridden."""
    at.button(key="models_promote").click().run()
    if not any(b.key == "models_promote_confirm" for b in at.button):
        return  # the first step failed; its message is on the page
    if any(t.key == "models_force_reason" for t in at.text_input):
        at.text_input(key="models_force_reason").input("repairing a damaged registry")
    at.button(key="models_promote_confirm").click().run()


def _texts(elements: Any) -> list[str]:
    """What each element shows: its Markdown source with backslash escapes undone."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements]


def _everything(at: AppTest) -> str:
    """Every text the page shows (messages, captions, markdown, tables), one string."""
    parts: list[str] = []
    for kind in (
        "title",
        "subheader",
        "error",
        "warning",
        "info",
        "success",
        "caption",
        "markdown",
    ):
        parts += _texts(getattr(at, kind))
    parts += [t.value.to_csv() for t in at.table] + [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def _pointer(registry: Registry) -> dict[str, Any]:
    return json.loads((registry.root / "registry.json").read_text())


def _roll_back(at: AppTest, token: str = TOKEN) -> AppTest:
    at.text_input(key="models_admin_token").input(token)
    at.button(key="models_rollback").click().run()
    assert not at.exception, at.exception
    return at


def _assert_no_server_paths(at: AppTest, registry: Registry) -> None:
    shown = _everything(at)
    assert str(registry.root) not in shown
    assert str(registry.root.parent) not in shown


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt metrics.json": (
        lambda v2: (v2 / "metrics.json").write_text('{"accuracy": 0.9,'),
        "The metrics of v2 cannot be shown: v2/metrics.json is not valid JSON",
    ),
    "metrics.json a list": (
        lambda v2: (v2 / "metrics.json").write_text("[0.9]"),
        "v2/metrics.json must hold a JSON object",
    ),
    "README.md not UTF-8": (
        lambda v2: (v2 / "README.md").write_bytes(b"# Card\n\xff\xfe\xfa\n"),
        "The model card of v2 cannot be shown: v2/README.md is not UTF-8 text",
    ),
    "version.json not JSON": (
        lambda v2: (v2 / "version.json").write_text("{"),
        "Version v2 cannot be read: v2/version.json is not valid JSON",
    ),
    "swapped labels in config.json": (
        lambda v2: (v2 / "config.json").write_text(
            (v2 / "config.json").read_text().replace('"Fake"', '"tmp"').replace('"Real"', '"Fake"')
        ),
        "registry version v2: config.json changed since registration",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_broken_active_version_is_explained_and_can_be_rolled_back(
    registry: Registry, damage: str
) -> None:
    apply, message = DAMAGE[damage]
    apply(registry.root / "v2")
    at = _models_page()
    shown = _everything(at)
    assert message in shown, shown
    _assert_no_server_paths(at, registry)
    assert not at.button(key="models_rollback").disabled
    _roll_back(at)
    assert _pointer(registry) == {"active": "v1", "history": ["v1"]}
    assert _texts(at.success) == ["Rolled back: v1 (model-0) is active again."]
    assert _texts(at.subheader)[0] == "Active model: model-0 v1"


POINTERS = {
    "history a number": (
        {"active": "v2", "history": 5},
        "Registry problem: registry.json: 'history' must be a list of version names, got 5",
    ),
    "not JSON": ('{"active": ', "Registry problem: registry.json is not valid JSON"),
    "active outside the registry": (
        {"active": "../elsewhere/v1", "history": ["v1"]},
        "'active' must be a version name such as \"v1\" or null, got '../elsewhere/v1'",
    ),
    "active a number": ({"active": 3}, "got 3"),
}


@pytest.mark.parametrize("case", list(POINTERS))
def test_damaged_pointer_is_explained_and_promote_repairs_it(registry: Registry, case: str) -> None:
    content, message = POINTERS[case]
    raw = content if isinstance(content, str) else json.dumps(content)
    (registry.root / "registry.json").write_text(raw)
    at = _models_page()
    assert any(message in text for text in _texts(at.error)), _texts(at.error)
    _assert_no_server_paths(at, registry)
    at.text_input(key="models_admin_token").input(TOKEN)
    at.selectbox(key="models_promote_target").set_value("v1")
    _promote_confirmed(at)
    assert not at.exception, at.exception
    assert _pointer(registry)["active"] == "v1"
    assert _texts(at.success) == ["v1 (model-0) is now the active model."]
    assert not at.error  # the pointer was rewritten: nothing is wrong any more


def test_pointer_that_is_a_folder_says_so_and_keeps_the_controls(registry: Registry) -> None:
    (registry.root / "registry.json").unlink()
    (registry.root / "registry.json").mkdir()
    at = _models_page()
    assert any("registry.json is a folder" in text for text in _texts(at.error))
    at.text_input(key="models_admin_token").input(TOKEN)
    at.selectbox(key="models_promote_target").set_value("v1")
    _promote_confirmed(at)
    assert not at.exception, at.exception
    assert any(
        text.startswith("Promote failed: registry.json is a folder") for text in _texts(at.error)
    )
    _assert_no_server_paths(at, registry)


def test_wrong_tokens_are_rate_limited(registry: Registry) -> None:
    at = _models_page()
    for _ in range(CLIENT_BUCKET.capacity):
        _roll_back(at, "guess")
        assert _texts(at.error) == ["Wrong admin token: nothing was changed."]
    _roll_back(at, TOKEN)  # even the right token waits now: it is not compared
    (refused,) = _texts(at.error)
    assert refused.startswith("Too many wrong admin tokens: nothing was changed. Try again in ")
    assert _pointer(registry)["active"] == "v2"
    # Another browser session is not locked out by this one's guesses.
    other = _models_page()
    _roll_back(other, TOKEN)
    assert _pointer(registry)["active"] == "v1"


def test_untrusted_names_are_shown_as_text(registry: Registry) -> None:
    path = registry.root / "v2" / "version.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "name": "![x](https://example.invalid/x.png)"}))
    (registry.root / "registry.json").write_text('{"active": "v2", "history": ["[a](http://b)"]}')
    at = _models_page()
    raw = [str(e.value) for e in [*at.subheader, *at.error]]
    assert not any("![x](" in text or "[a](" in text for text in raw), raw
    assert _texts(at.subheader)[0] == "Active model: ![x](https://example.invalid/x.png) v2"
