"""A registered version keeps the MLflow run that trained it (metrics.json -> version.json)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from fakescope.cli import main as cli_main
from fakescope.errors import RegistryError
from fakescope.registry import Registry

pytestmark = pytest.mark.unit

RUN_ID = "0123456789abcdef0123456789abcdef"


def _trained(tmp_path: Path, vit_dir: Path, training: dict | None) -> Path:
    folder = shutil.copytree(vit_dir, tmp_path / "trained")
    metrics: dict = {"accuracy": 0.9}
    if training is not None:
        metrics["training"] = {"seed": 0, **training}
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    return folder


def _cli(registry: Registry, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["--registry", str(registry.root), *args])
    return code, out.getvalue()


def test_run_id_survives_register_list_show_and_verify(tmp_path: Path, vit_dir: Path) -> None:
    uri = "https://alice:s3cret@mlflow.example.org:5000/tracking"
    folder = _trained(tmp_path, vit_dir, {"mlflow_run_id": RUN_ID, "mlflow_tracking_uri": uri})
    registry = Registry(tmp_path / "models")
    info = registry.register(folder, activate=True)

    assert info.mlflow_run_id == RUN_ID
    assert info.mlflow_tracking_uri == "https://mlflow.example.org:5000/tracking"  # no password
    stored = json.loads((registry.root / "v1" / "version.json").read_text(encoding="utf-8"))
    assert stored["mlflow_run_id"] == RUN_ID and "s3cret" not in json.dumps(stored)
    assert [v.mlflow_run_id for v in registry.scan().versions] == [RUN_ID]
    assert registry.get("v1").mlflow_run_id == RUN_ID
    registry.verify("v1")  # the model files' hashes are untouched by the new fields

    code, out = _cli(registry, "models", "list")
    assert code == 0 and f"mlflow_run={RUN_ID}" in out
    code, out = _cli(registry, "models", "list", "--json")
    assert code == 0 and json.loads(out)[0]["mlflow_run_id"] == RUN_ID
    code, out = _cli(registry, "models", "show", "v1")
    assert code == 0 and json.loads(out)["mlflow_run_id"] == RUN_ID


@pytest.mark.parametrize(
    "training", [None, {}, {"mlflow_run_id": None, "mlflow_tracking_uri": None}]
)
def test_untracked_model_registers_without_a_run(
    tmp_path: Path, vit_dir: Path, training: dict | None
) -> None:
    registry = Registry(tmp_path / "models")
    info = registry.register(_trained(tmp_path, vit_dir, training))
    assert info.mlflow_run_id is None and info.mlflow_tracking_uri is None
    code, out = _cli(registry, "models", "list")
    assert code == 0 and "mlflow_run" not in out


@pytest.mark.parametrize(
    "bad", [42, "", "../../etc/passwd", "run id with spaces", "abc\n", "x" * 200]
)
def test_malformed_run_id_is_refused_before_anything_is_written(
    tmp_path: Path, vit_dir: Path, bad: object
) -> None:
    registry = Registry(tmp_path / "models")
    folder = _trained(tmp_path, vit_dir, {"mlflow_run_id": bad})
    with pytest.raises(RegistryError, match=r"metrics.json: training.mlflow_run_id must be"):
        registry.register(folder)
    assert not registry.root.exists()  # refused before the registry was touched


def test_version_json_with_a_bad_run_id_is_reported_not_loaded(
    tmp_path: Path, vit_dir: Path
) -> None:
    registry = Registry(tmp_path / "models")
    registry.register(_trained(tmp_path, vit_dir, {"mlflow_run_id": RUN_ID}), activate=True)
    path = registry.root / "v1" / "version.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["mlflow_run_id"] = "![x](https://evil.example/p.png)"
    path.write_text(json.dumps(data), encoding="utf-8")
    state = registry.scan()
    assert state.versions == [] and "v1/version.json: 'mlflow_run_id' must be" in state.broken["v1"]


def test_version_registered_before_tracking_reads_without_a_run(
    tmp_path: Path, vit_dir: Path
) -> None:
    registry = Registry(tmp_path / "models")
    registry.register(_trained(tmp_path, vit_dir, None), activate=True)
    path = registry.root / "v1" / "version.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in ("mlflow_run_id", "mlflow_tracking_uri"):
        del data[key]  # as in the committed models/v1
    path.write_text(json.dumps(data), encoding="utf-8")
    info = registry.get("v1")
    assert info.mlflow_run_id is None and info.mlflow_tracking_uri is None
    registry.verify("v1")
