"""The registry under damage: bad files, hostile names, tampered models, interrupted writes.

Every case uses a real registry in a temp folder (tiny random-weight models) and damages it the
way a crash, a hand edit or an attacker would; the CLI is driven through its real entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakescope.cli import main as cli_main
from fakescope.errors import ModelLoadError, RegistryError
from fakescope.registry import Registry, is_version_name

pytestmark = pytest.mark.unit


@pytest.fixture
def registry(tmp_path: Path, vit_dir: Path) -> Registry:
    """v1 and v2 of the same tiny model, v2 active (history v1 -> v2)."""
    reg = Registry(tmp_path / "models")
    trained = shutil.copytree(vit_dir, tmp_path / "trained")
    (trained / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    (trained / "README.md").write_text("# Tiny\n\n## Limits\nA test model.\n")
    reg.register(trained, name="tiny", activate=True)
    reg.register(trained, name="tiny", activate=True)
    return reg


def _pointer(registry: Registry) -> Path:
    return registry.root / "registry.json"


def _cli(registry: Registry, *args: str) -> tuple[int, str, str]:
    """Run `fakescope --registry ROOT ARGS` in this process; (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["--registry", str(registry.root), *args])
    return code, out.getvalue(), err.getvalue()


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fakescope: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- registry.json ------------------------------------------------------------------------------

BAD_POINTERS = {
    "not utf-8": (b'{"active": "v\xff1"}', "registry.json is not UTF-8 text"),
    "not json": (b'{"active": "v1",', "registry.json is not valid JSON"),
    "a list": (b'["v1"]', "must hold a JSON object"),
    "a string": (b'"v1"', "must hold a JSON object"),
    "active a number": (b'{"active": 3, "history": ["v1"]}', "'active' must be a version name"),
    "active a path": (b'{"active": "../elsewhere/v1"}', "'active' must be a version name"),
    "active absolute": (b'{"active": "/tmp/v1"}', "'active' must be a version name"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "registry.json"),
}


@pytest.mark.parametrize("raw, message", BAD_POINTERS.values(), ids=list(BAD_POINTERS))
def test_bad_pointer_is_a_one_line_registry_error(
    registry: Registry, raw: bytes, message: str
) -> None:
    _pointer(registry).write_bytes(raw)
    with pytest.raises(RegistryError, match=message.replace("(", r"\(")):
        registry.active_version()
    with pytest.raises(RegistryError):
        registry.load_active()
    state = registry.scan()  # never raises: the page and `models list` rely on it
    assert state.names == ["v1", "v2"] and state.active is None
    assert len(state.problems) == 1 and message in state.problems[0]
    assert "\n" not in state.problems[0] and str(registry.root) not in state.problems[0]
    # Promote is the way out: it rewrites the pointer.
    assert registry.promote("v1").version == "v1"
    assert registry.active_version() == "v1" and registry.scan().problems == []


@pytest.mark.parametrize(
    "history", [5, "v1", {"v1": 1}, None], ids=["number", "string", "object", "null"]
)
def test_history_of_the_wrong_type(registry: Registry, history: object) -> None:
    _pointer(registry).write_text(json.dumps({"active": "v2", "history": history}))
    assert registry.active_version() == "v2"  # serving goes on: the active entry is fine
    assert registry.load_active().info.version == "v2"
    with pytest.raises(RegistryError, match="'history' must be a list of version names"):
        registry.history()
    assert registry.scan().rollback_target is None
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    registry.promote("v1")
    assert registry.history() == ["v2", "v1"]


def test_history_entries_outside_the_registry_are_skipped(
    registry: Registry, tmp_path: Path
) -> None:
    pointer = {"active": "v2", "history": ["v1", "../elsewhere/v1", "/abs", 7, "v9", "v2"]}
    _pointer(registry).write_text(json.dumps(pointer))
    with pytest.raises(RegistryError, match=r"ignored '\.\./elsewhere/v1', '/abs', 7"):
        registry.history()
    state = registry.scan()
    assert state.history == ["v1", "v9", "v2"] and state.rollback_target == "v1"
    assert any("do not exist: v9" in p for p in state.problems)
    assert registry.rollback().version == "v1"
    assert json.loads(_pointer(registry).read_text()) == {"active": "v1", "history": ["v1"]}


def test_pointer_that_is_a_folder(registry: Registry) -> None:
    _pointer(registry).unlink()
    _pointer(registry).mkdir()
    with pytest.raises(RegistryError, match="registry.json is a folder; expected a JSON file"):
        registry.active_version()
    assert "is a folder" in registry.scan().problems[0]
    with pytest.raises(RegistryError, match="is a folder"):
        registry.promote("v1")
    code, _, err = _cli(registry, "models", "promote", "v1")
    assert code == 1 and "is a folder" in _one_line_error(err)


def test_registry_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    registry = Registry(tmp_path / "file")
    assert registry.scan().problems == [
        "the registry path is not a folder; expected a folder of versions"
    ]
    assert registry.versions() == []
    with pytest.raises(RegistryError, match="cannot write the registry"):
        registry.register_hub("hf://a/b@c")


def test_huge_pointer_is_refused_without_parsing(registry: Registry) -> None:
    _pointer(registry).write_bytes(b" " * (2 << 20) + b"{}")
    with pytest.raises(RegistryError, match="larger than 1 MiB"):
        registry.active_version()


# -- names and paths ------------------------------------------------------------------------------


def test_active_outside_the_registry_never_loads(registry: Registry, tmp_path: Path) -> None:
    outside = shutil.copytree(registry.root / "v1", tmp_path / "elsewhere" / "v1")
    for active in ("../elsewhere/v1", str(outside), "v1/../../elsewhere/v1"):
        _pointer(registry).write_text(json.dumps({"active": active, "history": []}))
        with pytest.raises(RegistryError, match="'active' must be a version name"):
            registry.load_active()
    for name in ("../elsewhere/v1", str(outside), "v1/..", ".", "", "v-1", "V1", "v1\n/x"):
        with pytest.raises(RegistryError, match="is not a version name"):
            registry.get(name)


def test_symlinked_version_folder_is_refused(registry: Registry, tmp_path: Path) -> None:
    outside = shutil.copytree(registry.root / "v1", tmp_path / "outside")
    (registry.root / "v3").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RegistryError, match="v3 resolves outside the registry"):
        registry.get("v3")
    with pytest.raises(RegistryError, match="outside the registry"):
        registry.promote("v3")
    assert registry.scan().broken == {"v3": "version v3 resolves outside the registry; refused"}


def test_version_names() -> None:
    assert is_version_name("v1") and is_version_name("12") and is_version_name(" v3 ")
    for bad in ("../v1", "/v1", "v", "v1a", "v٣", "x1", "v1/"):
        assert not is_version_name(bad), bad


# -- version.json ---------------------------------------------------------------------------------

BAD_METADATA = {
    "not utf-8": (b'{"name": "\xff"}', "v2/version.json is not UTF-8 text"),
    "not json": (b"{", "v2/version.json is not valid JSON"),
    "a list": (b"[]", "v2/version.json must hold a JSON object"),
    "metrics a list": (None, "'metrics' must be a JSON object"),
    "name a number": (None, "'name' must be a string"),
    "source a path": (None, "'source' must be \"local\" or hf://"),
    "unpinned hub": (None, "has no revision"),
    "other version": (None, "'version' is 'v7', expected 'v2'"),
    "manifest with a path": (None, "'../../etc/passwd' is not one of"),
    "short hash": (None, "'weights_sha256' must be 64 hex digits"),
}
EDITS = {
    "metrics a list": {"metrics": [1, 2]},
    "name a number": {"name": 5},
    "source a path": {"source": "/srv/other-model"},
    "unpinned hub": {"source": "hf://owner/name"},
    "other version": {"version": "v7"},
    "manifest with a path": {"files_sha256": {"../../etc/passwd": "0" * 64}},
    "short hash": {"weights_sha256": "abc"},
}


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_bad_version_metadata(registry: Registry, case: str) -> None:
    raw, message = BAD_METADATA[case]
    path = registry.root / "v2" / "version.json"
    if raw is None:
        path.write_text(json.dumps({**json.loads(path.read_text()), **EDITS[case]}))
    else:
        path.write_bytes(raw)
    with pytest.raises(RegistryError, match=_re(message)):
        registry.get("v2")
    with pytest.raises(RegistryError, match=_re(message)):
        registry.load_active()
    state = registry.scan()
    assert state.names == ["v1"] and message in state.broken["v2"]
    assert [v.version for v in registry.versions()] == ["v1"]  # the others stay usable
    assert str(registry.root) not in state.broken["v2"]
    # A broken active version can be rolled back from.
    assert state.rollback_target == "v1"
    assert registry.rollback().version == "v1"
    assert registry.load_active().info.version == "v1"


def test_version_folder_without_metadata_keeps_its_number(
    registry: Registry, vit_dir: Path
) -> None:
    (registry.root / "v3").mkdir()
    assert registry.scan().broken == {
        "v3": "v3/version.json is missing; every version folder needs one"
    }
    assert registry.register(vit_dir).version == "v4"  # v3's folder is not overwritten


def test_corrupt_version_files_are_registry_errors(registry: Registry) -> None:
    folder = registry.root / "v2"
    (folder / "metrics.json").write_text("{not json")
    with pytest.raises(RegistryError, match=r"v2/metrics.json is not valid JSON \(line 1"):
        registry.read_json("v2", "metrics.json")
    (folder / "metrics.json").write_text("[1, 2]")
    with pytest.raises(RegistryError, match="v2/metrics.json must hold a JSON object"):
        registry.read_json("v2", "metrics.json")
    (folder / "README.md").write_bytes(b"# Card \xff\xfe\n")
    with pytest.raises(RegistryError, match="v2/README.md is not UTF-8 text"):
        registry.model_card("v2")
    # The card only gives the limits text: the model still loads.
    assert registry.load("v2").info.limits == ""
    (folder / "reference_profile.json").mkdir()
    with pytest.raises(RegistryError, match="v2/reference_profile.json is a folder"):
        registry.read_json("v2", "reference_profile.json")
    with pytest.raises(RegistryError, match="not a version file"):
        registry.read_json("v2", "../../etc/passwd")


# -- model file hashes ----------------------------------------------------------------------------


def test_manifest_covers_every_model_file(registry: Registry) -> None:
    info = registry.get("v1")
    assert sorted(info.files_sha256) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert info.files_sha256["model.safetensors"] == info.weights_sha256
    recorded = json.loads((info.path / "version.json").read_text())
    assert recorded["files_sha256"] == info.files_sha256


def test_swapped_labels_in_config_are_caught(registry: Registry) -> None:
    config_path = registry.root / "v2" / "config.json"
    config = json.loads(config_path.read_text())
    config["id2label"] = {"0": config["id2label"]["1"], "1": config["id2label"]["0"]}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="registry version v2: config.json changed since") as e:
        registry.load_active()
    assert str(registry.root) not in str(e.value)
    code, out, err = _cli(registry, "predict", str(config_path))
    assert code == 1 and out == ""
    assert "config.json changed since registration" in _one_line_error(err)


def test_edited_preprocessor_is_caught(registry: Registry) -> None:
    path = registry.root / "v2" / "preprocessor_config.json"
    path.write_text(path.read_text().replace("0.5", "0.45"))
    with pytest.raises(ModelLoadError, match="preprocessor_config.json changed since registration"):
        registry.load("v2")
    registry.verify("v1")  # the other version is untouched


def test_missing_model_file_is_named(registry: Registry) -> None:
    (registry.root / "v2" / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="registry version v2 is missing model.safetensors"):
        registry.load("v2")


def test_manifest_without_an_entry_is_refused(registry: Registry) -> None:
    path = registry.root / "v2" / "version.json"
    data = json.loads(path.read_text())
    del data["files_sha256"]["config.json"]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="records no sha256 for config.json"):
        registry.load("v2")


def test_version_registered_before_the_manifest_still_loads(registry: Registry) -> None:
    path = registry.root / "v2" / "version.json"
    data = json.loads(path.read_text())
    del data["files_sha256"]  # what a version.json written by FakeScope before this looked like
    path.write_text(json.dumps(data))
    assert registry.load("v2").info.version == "v2"
    weights = registry.root / "v2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelLoadError, match="model.safetensors changed since registration"):
        registry.load("v2")


def test_committed_demo_registry_records_every_file() -> None:
    from tests.conftest import REPO_ROOT

    registry = Registry(REPO_ROOT / "models")
    assert registry.scan().problems == [] and registry.scan().broken == {}
    active = registry.active()
    assert sorted(active.files_sha256) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    registry.verify(active.version)


def test_hub_version_keeps_a_checked_manifest(registry: Registry) -> None:
    digest = "a" * 64
    info = registry.register_hub("hf://owner/name@abc123", files_sha256={"config.json": digest})
    assert registry.get(info.version).files_sha256 == {"config.json": digest}
    with pytest.raises(RegistryError, match="not one of"):
        registry.register_hub("hf://owner/name@abc123", files_sha256={"../x": digest})


# -- interrupted writes ---------------------------------------------------------------------------


def test_leftovers_of_interrupted_writes_are_cleaned_on_the_next_write(registry: Registry) -> None:
    script = textwrap.dedent(f"""
        import os, shutil
        from fakescope.registry import Registry
        registry = Registry({str(registry.root)!r})
        os.replace = lambda *a: os._exit(3)    # dies with the new pointer written, not swapped
        registry.promote("v1")
        """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 3
    assert [p.name[:15] for p in _leftovers(registry)] == [".registry.json."]
    script = textwrap.dedent(f"""
        import os, shutil
        from fakescope.registry import Registry
        shutil.copy2 = lambda *a, **k: os._exit(4)  # dies half way through staging a version
        Registry({str(registry.root)!r}).register({str(registry.root / "v1")!r})
        """)
    assert subprocess.run([sys.executable, "-c", script]).returncode == 4
    # That writer took the lock, so it removed the first one's temp file; its own folder stays.
    assert [p.name[:9] for p in _leftovers(registry)] == [".staging-"]
    assert registry.active_version() == "v2" and registry.scan().names == ["v1", "v2"]
    registry.promote("v1")  # the next write
    assert _leftovers(registry) == []
    assert registry.active_version() == "v1"


def test_cleaning_happens_under_the_lock_only(registry: Registry) -> None:
    (registry.root / ".registry.json.abc").write_text("{}")
    registry.scan()
    registry.load("v1")
    assert len(_leftovers(registry)) == 1  # readers never delete anything
    registry.rollback()
    assert _leftovers(registry) == []


def _leftovers(registry: Registry) -> list[Path]:
    return [
        p for p in registry.root.iterdir() if p.name.startswith((".registry.json.", ".staging-"))
    ]


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_models_commands_on_a_damaged_registry(registry: Registry) -> None:
    (registry.root / "v2" / "version.json").write_text('{"metrics": [')
    code, out, err = _cli(registry, "models", "list")
    assert code == 1 and "v1" in out and "Traceback" not in err
    assert err.splitlines() == [
        "fakescope: error: v2/version.json is not valid JSON (line 1: Expecting value); "
        "expected an object like {...}",
        "fakescope: error: registry.json: the active version v2 cannot be read",
    ]
    code, _, err = _cli(registry, "models", "show")
    assert code == 1 and "v2/version.json is not valid JSON" in _one_line_error(err)
    code, out, err = _cli(registry, "models", "rollback")
    assert (code, out.strip()) == (0, "rolled back: v1 is now active")
    _pointer(registry).write_bytes(b"\xff\xfe")
    code, _, err = _cli(registry, "models", "show")
    assert code == 1 and "registry.json is not UTF-8 text" in _one_line_error(err)
    code, _, err = _cli(registry, "predict", str(registry.root / "v1" / "config.json"))
    assert code == 1 and "registry.json is not UTF-8" in _one_line_error(err)
    code, _, err = _cli(registry, "models", "promote", "../v1")
    assert code == 2 and "is not a version name" in _one_line_error(err)
    code, _, err = _cli(registry, "models", "show", "/etc")
    assert code == 2
    code, out, _ = _cli(registry, "models", "promote", "v1")
    assert code == 0 and registry.active_version() == "v1"


def test_cli_register_with_a_corrupt_metrics_file(registry: Registry, tmp_path: Path) -> None:
    model = shutil.copytree(registry.root / "v1", tmp_path / "to-register")
    (model / "metrics.json").write_bytes(b"\xff")
    code, _, err = _cli(registry, "models", "register", str(model))
    assert code == 1 and "metrics.json is not UTF-8 text" in _one_line_error(err)
    assert registry.scan().names == ["v1", "v2"]


def test_cli_list_escapes_names(registry: Registry) -> None:
    path = registry.root / "v1" / "version.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "name": "evil\x1b[2J\rname"}))
    code, out, _ = _cli(registry, "models", "list")
    assert code == 0 and "\x1b" not in out and "\r" not in out


def _re(text: str) -> str:
    import re

    return re.escape(text)


def test_registry_is_fine_after_all_that(registry: Registry) -> None:
    assert os.path.isdir(registry.root) and registry.scan().problems == []


@pytest.mark.slow
def test_hub_download_is_checked_against_the_recorded_manifest(
    registry: Registry, tmp_path: Path
) -> None:
    """A pinned hub version with a manifest: the downloaded files are hashed like local ones.

    The hub cache is built by hand (what huggingface_hub stores after a download), and the CLI
    runs offline against it in a real process, so the real download path is taken.
    """
    from fakescope.model import files_sha256
    from tests.conftest import build_vit_model, encode, photo_like

    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--owner--tiny"
    snapshot = build_vit_model(repo / "snapshots" / revision, image_size=32, hidden_size=16)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    info = registry.register_hub(
        f"hf://owner/tiny@{revision}", files_sha256=files_sha256(snapshot), activate=True
    )
    image = tmp_path / "a.jpg"
    image.write_bytes(encode(photo_like()))
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    env.update(FAKESCOPE_RUNTIME="torch", FAKESCOPE_THREADS="1")  # no graph export: faster
    command = [sys.executable, "-m", "fakescope", "--registry", str(registry.root)]
    command += ["predict", str(image), "--json", "--no-log"]
    ok = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)[0]["model_version"] == info.version
    config = snapshot / "config.json"
    config.write_text(config.read_text().replace('"Fake"', '"x"').replace('"Real"', '"Fake"'))
    tampered = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert tampered.returncode == 1 and tampered.stdout == ""
    assert "config.json changed since registration" in _one_line_error(tampered.stderr)
