"""ONNX Runtime int8: chosen by ``auto`` without native bfloat16, kept only where it keeps the
answers, cached per model version and CPU class, and falling back with the reason otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, build_resnet_model, build_vit_model, encode, photo_like
from cpus import SKYLAKE_AVX512, SPR_AMX, ZEN3_AVX2, ZEN4_BF16, described

import fakescope.onnx_runtime as onnx_runtime
from fakescope import Predictor
from fakescope.acceleration import CpuInfo, cpu_class
from fakescope.backends import choose_backend
from fakescope.backends.onnx_backend import OnnxInt8Backend
from fakescope.backends.openvino_backend import OpenVINOBackend
from fakescope.config import Settings
from fakescope.model import load_model

pytestmark = pytest.mark.unit

# An AVX-512 CPU with VNNI but no bfloat16 (Intel Cascade Lake): int8 keeps 8-bit weights there.
VNNI_AVX512 = described(
    "Intel Xeon Platinum 8275CL",
    "fpu avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni",
    "AVX512",
)


def settings(tmp_path: Path, **env: str) -> Settings:
    values = {"FAKESCOPE_CACHE_DIR": str(tmp_path / "cache")}
    values.update({f"FAKESCOPE_{k.upper()}": v for k, v in env.items()})
    return Settings.from_env(values)


@pytest.mark.parametrize("described_cpu", [ZEN3_AVX2, SKYLAKE_AVX512])
def test_auto_runs_a_transformer_in_int8_where_there_is_no_native_bf16(
    vit_dir: Path, tmp_path: Path, described_cpu: CpuInfo
) -> None:
    selection = choose_backend(load_model(str(vit_dir)), settings(tmp_path), described_cpu)
    assert isinstance(selection.backend, OnnxInt8Backend)
    assert selection.choice.mode == "int8" and selection.choice.requested == "auto"
    details = selection.details
    assert details["runtime"] == "onnxruntime" and details["kernel"] == "onnxruntime-int8"
    assert details["cpu_class"] == cpu_class(described_cpu)
    fidelity = details["int8_fidelity"]
    assert fidelity["inputs"] == 1 + len(list((REPO_ROOT / "src/fakescope/samples").glob("*.*g")))
    assert fidelity["max_change"] <= 0.01 and fidelity["flips"] == 0
    assert "int8 keeps the answers" in details["reason"]
    assert details["fallback_reason"] is None


@pytest.mark.parametrize("described_cpu", [ZEN4_BF16, SPR_AMX])
def test_auto_keeps_bf16_where_the_cpu_has_it(
    vit_dir: Path, tmp_path: Path, described_cpu: CpuInfo
) -> None:
    selection = choose_backend(load_model(str(vit_dir)), settings(tmp_path), described_cpu)
    assert isinstance(selection.backend, OpenVINOBackend)
    assert selection.choice.mode == "bf16"


def test_a_cnn_never_runs_int8(resnet_dir: Path, tmp_path: Path) -> None:
    """int8 moved the demo CNN's fake probability by up to 0.56: a CNN stays fp32."""
    selection = choose_backend(load_model(str(resnet_dir)), settings(tmp_path), ZEN3_AVX2)
    assert selection.backend.runtime != "onnxruntime"
    assert selection.backend.report.mode == "fp32"
    assert not (tmp_path / "cache" / "onnx").exists()


@pytest.mark.parametrize(
    ("env", "mode"), [({"precision": "fp32"}, "fp32"), ({"runtime": "torch"}, "fp32")]
)
def test_settings_that_ask_for_another_path_are_kept(
    vit_dir: Path, tmp_path: Path, env: dict[str, str], mode: str
) -> None:
    selection = choose_backend(load_model(str(vit_dir)), settings(tmp_path, **env), ZEN3_AVX2)
    assert selection.backend.runtime != "onnxruntime" and selection.backend.report.mode == mode


def outlier_vit(folder: Path, outlier: float = 80.0) -> Path:
    """A ViT whose head has one large weight per label: per-channel int8 then keeps too few
    levels for the other weights, and the fake probability moves (0.26 here, one flip)."""
    import torch
    from transformers import ViTForImageClassification

    build_vit_model(folder, seed=3)
    model = ViTForImageClassification.from_pretrained(folder)
    with torch.no_grad():
        weight = model.classifier.weight
        weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(0)) * 2)
        weight[:, 0] = outlier
        model.classifier.bias.zero_()
    model.save_pretrained(folder)
    return folder


def test_int8_that_would_change_answers_is_refused_and_fp32_runs_with_the_reason(
    tmp_path: Path,
) -> None:
    model = load_model(str(outlier_vit(tmp_path / "outlier")))
    selection = choose_backend(model, settings(tmp_path), ZEN3_AVX2)
    assert selection.backend.runtime in ("openvino", "torch")
    assert selection.backend.report.mode == "fp32" and selection.choice.mode == "fp32"
    reason = selection.details["fallback_reason"]
    assert reason.startswith("onnxruntime: ")
    # Refused by the fidelity check (with its figures), or already by the noise probe.
    assert "int8 would change the answers (max |delta p|" in reason or "probe" in reason


def test_a_refusal_is_remembered_and_no_session_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model(str(outlier_vit(tmp_path / "outlier")))
    first = choose_backend(model, settings(tmp_path), ZEN3_AVX2)
    if "would change the answers" not in first.details["fallback_reason"]:
        pytest.skip("this CPU's kernels refused the graph at the probe already")
    sessions: list[Path] = []
    real_init = onnx_runtime.Int8Graph.__init__

    def counting(self: onnx_runtime.Int8Graph, folder: Path, threads: int) -> None:
        sessions.append(folder)
        real_init(self, folder, threads)

    monkeypatch.setattr(onnx_runtime.Int8Graph, "__init__", counting)
    again = choose_backend(load_model(str(tmp_path / "outlier")), settings(tmp_path), ZEN3_AVX2)
    assert again.backend.report.mode == "fp32"
    assert again.details["fallback_reason"] == first.details["fallback_reason"]
    assert sessions == []


def test_int8_asked_for_by_name_runs_and_reports_its_fidelity(tmp_path: Path) -> None:
    model = load_model(str(outlier_vit(tmp_path / "outlier")))
    selection = choose_backend(model, settings(tmp_path, precision="int8"), ZEN4_BF16)
    if selection.backend.runtime == "onnxruntime":
        fidelity = selection.details["int8_fidelity"]
        assert fidelity["max_change"] > 0.01 or fidelity["flips"] > 0
    else:  # a broken graph (the noise probe moved) is not run even when asked for
        assert selection.backend.runtime == "torch" and selection.backend.report.mode == "int8"
        assert "probe probability moved" in selection.details["fallback_reason"]


def test_the_int8_graph_is_cached_per_model_version_and_cpu_class(
    vit_dir: Path, tmp_path: Path
) -> None:
    first = choose_backend(load_model(str(vit_dir)), settings(tmp_path), ZEN3_AVX2).details
    again = choose_backend(load_model(str(vit_dir)), settings(tmp_path), ZEN3_AVX2).details
    assert first["graph_cache"] == "exported" and again["graph_cache"] == "hit"
    assert again["graph_folder"] == first["graph_folder"]
    # The first check's int8 logits are stored: later starts judge them without running them.
    assert first["int8_fidelity"]["measured"] == "now"
    assert again["int8_fidelity"]["measured"] == "cached"
    assert again["int8_fidelity"]["max_change"] == first["int8_fidelity"]["max_change"]
    other = choose_backend(load_model(str(vit_dir)), settings(tmp_path), SKYLAKE_AVX512).details
    assert other["graph_cache"] == "exported" and other["graph_folder"] != first["graph_folder"]
    model = load_model(str(vit_dir))
    keys = {
        onnx_runtime.graph_key(model, onnx_runtime.Int8Target(cpu, reduced))
        for cpu in ("AVX2", "AVX-512")
        for reduced in (False, True)
    }
    assert len(keys) == 4


@pytest.mark.parametrize(
    ("described_cpu", "reduced"), [(ZEN3_AVX2, True), (SKYLAKE_AVX512, True), (VNNI_AVX512, False)]
)
def test_weights_keep_7_bits_where_the_cpu_has_no_vnni(
    vit_dir: Path, tmp_path: Path, described_cpu: CpuInfo, reduced: bool
) -> None:
    """Without VNNI, u8 x s8 pair sums saturate 16 bits with 8-bit weights (vpmaddubsw)."""
    details = choose_backend(load_model(str(vit_dir)), settings(tmp_path), described_cpu).details
    assert details["int8_target"].endswith("7-bit weights" if reduced else "8-bit weights")
    manifest = json.loads((Path(details["graph_folder"]) / onnx_runtime.MANIFEST_FILE).read_text())
    assert manifest["target"] == details["int8_target"]


def test_a_damaged_cached_graph_is_exported_again(vit_dir: Path, tmp_path: Path) -> None:
    first = choose_backend(load_model(str(vit_dir)), settings(tmp_path), ZEN3_AVX2).details
    graph = Path(first["graph_folder"]) / onnx_runtime.GRAPH_FILE
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 3])
    again = choose_backend(load_model(str(vit_dir)), settings(tmp_path), ZEN3_AVX2)
    assert isinstance(again.backend, OnnxInt8Backend)
    assert again.details["graph_cache"] == "exported"


def test_int8_gives_the_predictor_the_answers_of_fp32(vit_dir: Path, tmp_path: Path) -> None:
    images = [encode(photo_like(200, 150, seed=s)) for s in range(4)]
    fp32 = Predictor(load_model(str(vit_dir)), settings(tmp_path, precision="fp32"))
    int8 = Predictor(load_model(str(vit_dir)), settings(tmp_path), cpu=ZEN3_AVX2)
    assert int8.info.precision == "int8"
    assert int8.info.extra["acceleration"]["runtime"] == "onnxruntime"
    for a, b in zip(fp32.predict(images), int8.predict(images)):
        assert b.fake_probability == pytest.approx(a.fake_probability, abs=0.01)
        assert b.verdict == a.verdict
        # The pooled features come out of the same int8 graph (embeddings for drift).
        assert np.corrcoef(a.embedding, b.embedding)[0, 1] > 0.99


def test_without_onnxruntime_auto_runs_fp32_with_the_reason(vit_dir: Path, tmp_path: Path) -> None:
    """ONNX Runtime listed as installed but not importable (a broken wheel): fp32, not a crash."""
    code = f"""
import sys
sys.modules["onnxruntime"] = None
sys.path.insert(0, {str(REPO_ROOT / "tests")!r})
from cpus import ZEN3_AVX2
from fakescope.backends import choose_backend
from fakescope.config import Settings
from fakescope.model import load_model
selection = choose_backend(
    load_model({str(vit_dir)!r}),
    Settings.from_env({{"FAKESCOPE_CACHE_DIR": {str(tmp_path)!r}}}),
    ZEN3_AVX2,
)
print(selection.backend.runtime, selection.backend.report.mode)
print(selection.details["fallback_reason"])
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    runtime_line, reason = done.stdout.strip().splitlines()[-2:]
    assert runtime_line in ("openvino fp32", "torch fp32")
    assert "ONNX Runtime is not installed" in reason


def test_fidelity_compares_fake_probabilities_and_verdicts() -> None:
    expected = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.5], [0.0, 1.0]], dtype=np.float32)
    shift = np.array([[0.0, 0.02], [0.0, 0.0], [0.0, -0.5], [0.0, -2.0]], dtype=np.float32)

    def fake(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, 1]

    def verdict(p: float) -> str:
        return "fake" if p >= 0.55 else "real" if p < 0.45 else "uncertain"

    fidelity = onnx_runtime.compare(expected + shift, expected, fake, verdict)
    # Row 3 moves from p=0.622 (fake) to 0.5 (uncertain): a band crossing, not a flip.
    # Row 4 moves from 0.731 (fake) to 0.269 (real): a flip, and the largest change.
    assert fidelity.flips == 1 and fidelity.band_crossings == 2 and fidelity.inputs == 4
    assert fidelity.max_change == pytest.approx(2 / (1 + np.exp(-1.0)) - 1, abs=1e-6)
    assert not fidelity.passed
    with pytest.raises(onnx_runtime.OnnxError, match="shape"):
        onnx_runtime.compare(expected[:, :1], expected, fake, verdict)


def test_runtime_modules_do_not_import_each_other() -> None:
    from test_backends import imports_module

    package = REPO_ROOT / "src" / "fakescope"
    onnx = package / "onnx_runtime.py"
    for other in ("fakescope.openvino_runtime", "fakescope.acceleration", "fakescope.backends"):
        assert not imports_module(onnx, other)
    for runtime in ("openvino_runtime.py", "acceleration.py"):
        assert not imports_module(package / runtime, "fakescope.onnx_runtime")


def test_manifest_records_float32_logits_of_every_fidelity_input(
    vit_dir: Path, tmp_path: Path
) -> None:
    details = choose_backend(load_model(str(vit_dir)), settings(tmp_path), ZEN3_AVX2).details
    folder = Path(details["graph_folder"])
    manifest = json.loads((folder / onnx_runtime.MANIFEST_FILE).read_text())
    inputs = np.load(folder / onnx_runtime.INPUTS_FILE)
    assert len(manifest["float32_logits"]) == len(inputs) == details["int8_fidelity"]["inputs"]
    assert not list(folder.glob("model_fp32.onnx*"))  # only the int8 graph is kept


def test_a_resnet_graph_is_never_written(tmp_path: Path) -> None:
    folder = build_resnet_model(tmp_path / "cnn", labels={0: "fake", 1: "real"})
    choose_backend(load_model(str(folder)), settings(tmp_path, precision="int8"), ZEN3_AVX2)
    # int8 asked for by name on a CNN still runs fp32 (NO_LINEAR_REASON), never an ONNX export.
    assert not (tmp_path / "cache" / "onnx").exists()
