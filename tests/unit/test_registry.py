from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakescope.errors import ModelLoadError, RegistryError
from fakescope.registry import Registry

pytestmark = pytest.mark.unit


@pytest.fixture
def registry(tmp_path: Path, vit_dir: Path) -> Registry:
    reg = Registry(tmp_path / "models")
    vit_dir = shutil.copytree(vit_dir, tmp_path / "trained")
    (vit_dir / "metrics.json").write_text(json.dumps({"accuracy": 0.91, "confusion": [[1, 2]]}))
    reg.register(vit_dir, name="tiny-vit", activate=True)
    reg.register(vit_dir, name="tiny-vit", notes="second")
    return reg


def test_register_numbers_versions_and_keeps_metadata(registry: Registry) -> None:
    versions = registry.versions()
    assert [v.version for v in versions] == ["v1", "v2"]
    first = versions[0]
    assert first.name == "tiny-vit" and first.source == "local"
    assert first.metrics == {"accuracy": 0.91}  # summary keeps scalars only
    assert first.input_mode == "resize" and len(first.weights_sha256 or "") == 64
    assert (first.path / "model.safetensors").is_file() and (first.path / "metrics.json").is_file()
    assert registry.active_version() == "v1"
    assert versions[1].notes == "second"


def test_promote_and_rollback(registry: Registry) -> None:
    registry.promote("v2")
    assert registry.active_version() == "v2"
    assert registry.history() == ["v1", "v2"]
    assert registry.rollback().version == "v1"
    assert registry.active_version() == "v1"
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()


def test_unknown_version_lists_known(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"no version 'v9'.*known: v1, v2"):
        registry.promote("v9")
    assert registry.get("2").version == "v2"


def test_empty_registry_has_no_active(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="has no active version"):
        Registry(tmp_path / "empty").active()


def test_failure_mid_promote_keeps_previous_active(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(
        RegistryError, match="cannot write registry.json in the registry: disk full"
    ):
        registry.promote("v2")
    monkeypatch.undo()
    assert registry.active_version() == "v1"
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".registry.json.")]


def test_crash_mid_promote_keeps_previous_active(registry: Registry) -> None:
    # A real process dies between writing the new pointer and swapping it in.
    script = textwrap.dedent(f"""
        import os
        from fakescope.registry import Registry
        os.replace = lambda *a: os._exit(3)
        Registry({str(registry.root)!r}).promote("v2")
        """)
    result = subprocess.run([sys.executable, "-c", script])
    assert result.returncode == 3
    assert registry.active_version() == "v1"
    assert registry.active().version == "v1"


def test_failure_mid_register_leaves_no_version(
    registry: Registry, vit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_copy = shutil.copy2

    def flaky_copy(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copy2", flaky_copy)
    with pytest.raises(RegistryError, match="cannot write version v3 in the registry: disk full"):
        registry.register(vit_dir)
    assert [v.version for v in registry.versions()] == ["v1", "v2"]
    assert not [p for p in registry.root.iterdir() if p.name.startswith(".staging-")]


def test_register_refuses_a_folder_that_does_not_load(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        registry.register(tmp_path / "missing")
    assert len(registry.versions()) == 2


def test_load_checks_weights_hash(registry: Registry) -> None:
    loaded = registry.load("v1")
    assert loaded.info.version == "v1" and loaded.info.name == "tiny-vit"
    weights = registry.get("v1").path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="changed since registration"):
        registry.load("v1")


def test_register_hub_entry_without_download(registry: Registry) -> None:
    info = registry.register_hub(
        "hf://dima806/deepfake_vs_real_image_detection@abc123", notes="prod", activate=True
    )
    assert info.version == "v3" and info.is_hub
    assert info.name == "dima806/deepfake_vs_real_image_detection"
    assert registry.active_version() == "v3"
    assert not (info.path / "model.safetensors").exists()
    with pytest.raises(ModelLoadError, match="has no revision"):
        registry.register_hub("hf://dima806/deepfake_vs_real_image_detection")


def test_limits_come_from_the_model_card(registry: Registry) -> None:
    card = "# Model\n\n## Limits\nIt has never seen a real GAN.\nDemo only.\n\n## Training\nx\n"
    (registry.get("v1").path / "README.md").write_text(card)
    assert registry.load("v1").info.limits == "It has never seen a real GAN. Demo only."


def test_fallback_model_when_the_primary_cannot_load(registry: Registry) -> None:
    from fakescope.config import Settings
    from fakescope.registry import load_configured_model

    settings = Settings(
        model_source="hf://dima806/deepfake_vs_real_image_detection@main",  # offline in tests
        fallback_model_source="registry",
        registry_dir=registry.root,
    )
    loaded = load_configured_model(settings)
    assert loaded.info.version == "v1"
    assert "cannot download" in loaded.info.extra["fallback_reason"]
    with pytest.raises(ModelLoadError, match="cannot download"):
        load_configured_model(settings.replace(fallback_model_source=None))
