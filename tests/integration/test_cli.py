"""The `fakescope` command, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import encode, photo_like

from fakescope.registry import Registry

pytestmark = pytest.mark.integration


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fakescope", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "photo.jpg").write_bytes(encode(photo_like(seed=1), "JPEG", quality=90))
    (folder / "named-wrong.txt").write_bytes(encode(photo_like(seed=2), "JPEG"))
    (folder / "sub").mkdir()
    (folder / "sub" / "graphic.png").write_bytes(encode(photo_like(seed=3), "PNG"))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(encode(photo_like(seed=4), "JPEG")[:900])
    (folder / "notes.txt").write_text("hello, I am text")
    (folder / "tiny.png").write_bytes(encode(photo_like(8, 8), "PNG"))
    return folder


def test_predict_json_gives_a_verdict_or_a_reason_per_file(
    mixed_folder: Path, vit_dir: Path
) -> None:
    result = run_cli("predict", str(mixed_folder), "--model", str(vit_dir), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == {
        "photo.jpg",
        "named-wrong.txt",
        "graphic.png",
        "empty.jpg",
        "truncated.jpg",
        "notes.txt",
        "tiny.png",
    }
    for name in ("photo.jpg", "named-wrong.txt", "graphic.png"):
        row = rows[name]
        assert row["verdict"] in ("fake", "real", "uncertain")
        assert 0 <= row["fake_probability"] <= 1
        assert set(row["scores"]) == {"Real", "Fake"}
        assert {"model", "latency_ms", "sha256"} <= set(row)
    assert rows["empty.jpg"]["reason"] == "empty"
    assert rows["truncated.jpg"]["reason"] == "truncated"
    assert rows["notes.txt"]["reason"] == "unsupported_type"
    assert rows["tiny.png"]["reason"] == "too_small"
    for name in ("empty.jpg", "truncated.jpg", "notes.txt", "tiny.png"):
        assert "verdict" not in rows[name] and rows[name]["error"]


def test_predict_csv_and_table(mixed_folder: Path, vit_dir: Path) -> None:
    result = run_cli("predict", str(mixed_folder / "photo.jpg"), "--model", str(vit_dir), "--csv")
    assert result.returncode == 0
    header, row = result.stdout.strip().splitlines()
    assert header.startswith("path,verdict,fake_probability")
    assert row.startswith(str(mixed_folder / "photo.jpg"))
    table = run_cli("predict", str(mixed_folder / "notes.txt"), "--model", str(vit_dir))
    assert table.returncode == 0 and "REJECTED" in table.stdout


def test_missing_file_is_reported_per_file(vit_dir: Path, tmp_path: Path) -> None:
    result = run_cli("predict", str(tmp_path / "nope.jpg"), "--model", str(vit_dir), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["reason"] == "unreadable"


def test_model_that_cannot_load_is_one_line_exit_1(tmp_path: Path, mixed_folder: Path) -> None:
    result = run_cli("predict", str(mixed_folder), "--model", str(tmp_path / "no-model"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_unpinned_hub_model_is_refused(mixed_folder: Path) -> None:
    result = run_cli(
        "predict", str(mixed_folder), "--model", "hf://dima806/deepfake_vs_real_image_detection"
    )
    assert result.returncode == 1 and "has no revision" in result.stderr


def test_usage_errors_exit_2(vit_dir: Path) -> None:
    assert run_cli("predict").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    bad = run_cli("predict", "x.jpg", "--threshold", "7", "--model", str(vit_dir))
    assert bad.returncode == 2 and "--threshold" in bad.stderr


def test_models_commands(tmp_path: Path, vit_dir: Path) -> None:
    registry = tmp_path / "registry"
    env = {"FAKESCOPE_REGISTRY_DIR": str(registry)}
    assert run_cli("models", "register", str(vit_dir), "--activate", env=env).returncode == 0
    assert run_cli("models", "register", str(vit_dir), env=env).returncode == 0
    listing = json.loads(run_cli("models", "list", "--json", env=env).stdout)
    assert [(v["version"], v["active"]) for v in listing] == [("v1", True), ("v2", False)]
    assert run_cli("models", "promote", "v2", env=env).returncode == 0
    assert Registry(registry).active_version() == "v2"
    shown = json.loads(run_cli("models", "show", env=env).stdout)
    assert shown["version"] == "v2" and shown["active"] is True
    assert "v1 is now active" in run_cli("models", "rollback", env=env).stdout
    assert Registry(registry).active_version() == "v1"
    failed = run_cli("models", "rollback", env=env)
    assert failed.returncode == 1 and "nothing to roll back to" in failed.stderr
    unknown = run_cli("models", "promote", "v7", env=env)
    assert unknown.returncode == 1 and "known: v1, v2" in unknown.stderr


def test_predict_uses_the_registry_active_version(tmp_path: Path, vit_dir: Path) -> None:
    registry = tmp_path / "registry"
    Registry(registry).register(vit_dir, name="tiny", activate=True)
    image = tmp_path / "a.jpg"
    image.write_bytes(encode(photo_like(seed=9)))
    result = run_cli("predict", str(image), "--json", env={"FAKESCOPE_REGISTRY_DIR": str(registry)})
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)[0]
    assert (row["model"], row["model_version"]) == ("tiny", "v1")


def test_predict_folder_skips_hidden_folders_and_files(tmp_path: Path, vit_dir: Path) -> None:
    image = encode(photo_like(seed=5), "JPEG")
    for relative in (
        "top.jpg",
        "sub/inner.jpg",
        ".hidden.jpg",
        ".git/objects/blob.jpg",
        ".venv/lib/site.jpg",
        "sub/.cache/thumb.jpg",
        "sub/.x/deeper/more.jpg",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(image)
    result = run_cli("predict", str(tmp_path), "--model", str(vit_dir), "--json", "--no-log")
    assert result.returncode == 0, result.stderr
    found = sorted(
        Path(row["path"]).relative_to(tmp_path).as_posix() for row in json.loads(result.stdout)
    )
    assert found == ["sub/inner.jpg", "top.jpg"]
    # A hidden folder named on the command line is the user's choice: it is searched.
    named = run_cli(
        "predict", str(tmp_path / ".git"), "--model", str(vit_dir), "--json", "--no-log"
    )
    assert [Path(row["path"]).name for row in json.loads(named.stdout)] == ["blob.jpg"]
