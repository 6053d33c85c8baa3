"""Runtimes behind one interface: one choice function, one module per runtime, no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO_ROOT, encode, photo_like
from cpus import SPR_AMX, ZEN3_AVX2, ZEN4_BF16

import fakescope.openvino_runtime as ov_runtime
from fakescope import Predictor
from fakescope.acceleration import CpuInfo
from fakescope.backends import choose_backend
from fakescope.backends.openvino_backend import OpenVINOBackend
from fakescope.backends.torch_backend import TorchBackend
from fakescope.config import Settings
from fakescope.model import load_model
from fakescope.openvino_runtime import GraphError

pytestmark = pytest.mark.unit

PACKAGE = REPO_ROOT / "src" / "fakescope"


def fakescope_imports(path: Path) -> set[str]:
    """Every fakescope module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("fakescope")}
    return found


def imports_module(path: Path, module: str) -> bool:
    return any(n == module or n.startswith(module + ".") for n in fakescope_imports(path))


def test_runtime_modules_do_not_import_each_other() -> None:
    acceleration, openvino = PACKAGE / "acceleration.py", PACKAGE / "openvino_runtime.py"
    assert not imports_module(acceleration, "fakescope.openvino_runtime")
    assert not imports_module(openvino, "fakescope.acceleration")
    for runtime in (acceleration, openvino):
        assert not imports_module(runtime, "fakescope.backends")


def test_predictor_knows_runtimes_only_through_the_backend_interface() -> None:
    predictor = PACKAGE / "predictor.py"
    assert imports_module(predictor, "fakescope.backends")
    assert not imports_module(predictor, "fakescope.openvino_runtime")
    assert "fakescope.acceleration.accelerate" not in fakescope_imports(predictor)


@pytest.mark.parametrize(
    ("described_cpu", "mode"), [(ZEN3_AVX2, "fp32"), (ZEN4_BF16, "bf16"), (SPR_AMX, "bf16")]
)
@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_choose_backend_per_cpu_class_and_runtime(
    vit_dir: Path, tmp_path: Path, described_cpu: CpuInfo, mode: str, runtime: str
) -> None:
    settings = Settings.from_env(
        {"FAKESCOPE_RUNTIME": runtime, "FAKESCOPE_CACHE_DIR": str(tmp_path)}
    )
    selection = choose_backend(load_model(str(vit_dir)), settings, described_cpu)
    expected = OpenVINOBackend if runtime == "openvino" else TorchBackend
    assert isinstance(selection.backend, expected)
    assert selection.choice.mode == mode
    assert selection.details["runtime"] == runtime
    assert selection.details["cpu"] == described_cpu.describe()
    assert selection.backend.report.requested_mode == mode


def test_a_graph_that_cannot_be_exported_falls_back_to_torch_with_the_reason(
    vit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise GraphError("OpenVINO could not export the model: test")

    monkeypatch.setattr(ov_runtime, "export_graph", refuse)
    # fp32 by name: auto would run this CPU (no bfloat16) in int8 on ONNX Runtime.
    settings = Settings.from_env(
        {"FAKESCOPE_CACHE_DIR": str(tmp_path), "FAKESCOPE_PRECISION": "fp32"}
    )
    selection = choose_backend(load_model(str(vit_dir)), settings, ZEN3_AVX2)
    assert isinstance(selection.backend, TorchBackend)
    assert selection.details["runtime"] == "torch"
    assert "openvino: OpenVINO could not export the model: test" in (
        selection.details["fallback_reason"]
    )


def test_both_backends_give_the_predictor_the_same_answers(vit_dir: Path, tmp_path: Path):
    images = [encode(photo_like(96, 80, seed=s)) for s in range(3)]
    answers = {}
    for runtime in ("torch", "openvino"):
        settings = Settings.from_env(
            {
                "FAKESCOPE_RUNTIME": runtime,
                "FAKESCOPE_PRECISION": "fp32",
                "FAKESCOPE_CACHE_DIR": str(tmp_path),
            }
        )
        predictor = Predictor(load_model(str(vit_dir)), settings)
        assert predictor.backend.runtime == runtime
        answers[runtime] = [(p.fake_probability, p.embedding) for p in predictor.predict(images)]
    for (p_torch, e_torch), (p_ov, e_ov) in zip(answers["torch"], answers["openvino"]):
        assert p_torch == pytest.approx(p_ov, abs=1e-4)
        assert e_torch == pytest.approx(e_ov, abs=1e-3)
