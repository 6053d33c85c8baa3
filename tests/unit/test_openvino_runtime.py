"""The OpenVINO runtime: choosing it, exporting and caching graphs, checking them, falling back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_vit_model, encode, photo_like
from cpus import ZEN4_BF16

import fakescope.openvino_runtime as ov_runtime
from fakescope import Predictor
from fakescope.acceleration import describe_runtime, read_cpu_info
from fakescope.backends import choose_runtime
from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope.model import load_model
from fakescope.openvino_runtime import (
    MANIFEST_FILE,
    CompiledGraph,
    GraphError,
    cached_graph,
    graph_key,
    prepare_graph,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vit_model(tmp_path_factory.mktemp("ov-vit") / "model", seed=3)


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    return [encode(photo_like(320, 240, seed=seed)) for seed in range(3)]


def probabilities(predictor: Predictor, images: list[bytes]) -> np.ndarray:
    return np.asarray([p.fake_probability for p in predictor.predict(images)])


# --------------------------------------------------------------------------- choosing


def test_choose_runtime_auto_picks_openvino_for_fp32_and_bf16() -> None:
    for mode in ("fp32", "bf16"):
        choice = choose_runtime("auto", mode)
        assert choice.runtime == "openvino" and choice.reason.startswith("auto: OpenVINO 20")


def test_choose_runtime_int8_stays_on_torch_and_says_why() -> None:
    choice = choose_runtime("openvino", "int8")
    assert choice.runtime == "torch" and "int8 runs on torch" in choice.reason


def test_choose_runtime_torch_is_honoured() -> None:
    assert choose_runtime("torch", "bf16").runtime == "torch"


def test_choose_runtime_without_openvino_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry makes the real import statement fail, as on a machine without the package.
    monkeypatch.setitem(sys.modules, "openvino", None)
    choice = choose_runtime("auto", "bf16")
    assert choice.runtime == "torch" and choice.reason == "OpenVINO is not installed"


def test_choose_runtime_unknown_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="auto, torch, openvino"):
        choose_runtime("tensorrt", "fp32")
    with pytest.raises(ConfigError, match="runtime must be one of"):
        Settings(runtime="tensorrt")
    assert Settings.from_env({"FAKESCOPE_RUNTIME": "TORCH"}).runtime == "torch"
    assert Settings.from_env({"FAKESCOPE_CACHE_DIR": "/x/y"}).cache_dir == Path("/x/y")


# --------------------------------------------------------------------------- the graph


def test_graph_key_follows_the_weights_and_input_size(vit_dir: Path, tmp_path: Path) -> None:
    assert graph_key(load_model(vit_dir)) == graph_key(load_model(vit_dir))
    other = build_vit_model(tmp_path / "other", seed=4)
    assert graph_key(load_model(other)) != graph_key(load_model(vit_dir))
    smaller = build_vit_model(tmp_path / "smaller", seed=3, image_size=160)
    assert graph_key(load_model(smaller)) != graph_key(load_model(vit_dir))


def test_fp32_graph_matches_torch_and_is_cached(
    vit_dir: Path, images: list[bytes], tmp_path: Path
) -> None:
    settings = Settings(precision="fp32", cache_dir=tmp_path / "cache")
    first = Predictor(load_model(vit_dir), settings)
    details = first.info.extra["acceleration"]
    assert details["runtime"] == "openvino" and details["kernel"] == "openvino"
    assert details["graph_cache"] == "exported" and first.info.precision == "fp32"
    folder = Path(details["graph_folder"])
    assert folder.parent == tmp_path / "cache" / "openvino"
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST_FILE, "model.bin", "model.xml"]
    # No staging folder is left beside the graph.
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]

    second = Predictor(load_model(vit_dir), settings)
    assert second.info.extra["acceleration"]["graph_cache"] == "hit"
    reference = Predictor(load_model(vit_dir), settings.replace(runtime="torch"))
    np.testing.assert_allclose(
        probabilities(second, images), probabilities(reference, images), atol=1e-5
    )


def test_graph_output_is_not_overwritten_by_the_next_call(vit_dir: Path, tmp_path: Path) -> None:
    cached = cached_graph(load_model(vit_dir), tmp_path)
    graph = CompiledGraph(cached.folder, "fp32", threads=1)
    generator = torch.Generator().manual_seed(0)
    first_input = torch.rand((2, 3, 224, 224), generator=generator).numpy()
    first = graph(first_input)
    kept = first.copy()
    graph(np.zeros((5, 3, 224, 224), dtype=np.float32))  # another batch size, same graph
    np.testing.assert_array_equal(first, kept)
    assert first.shape == (2, 2) and first.dtype == np.float32


def test_a_tampered_cached_graph_is_exported_again(
    vit_dir: Path, images: list[bytes], tmp_path: Path
) -> None:
    settings = Settings(precision="fp32", cache_dir=tmp_path)
    expected = probabilities(Predictor(load_model(vit_dir), settings), images)
    folder = Path(
        Predictor(load_model(vit_dir), settings).info.extra["acceleration"]["graph_folder"]
    )
    # Different weights under the same key: the probe answer no longer matches the manifest.
    other = build_vit_model(tmp_path / "other", seed=9)
    cached_graph(load_model(other), tmp_path / "other-cache")
    other_folder = next((tmp_path / "other-cache" / "openvino").iterdir())
    (folder / "model.bin").write_bytes((other_folder / "model.bin").read_bytes())

    predictor = Predictor(load_model(vit_dir), settings)
    assert predictor.info.extra["acceleration"]["graph_cache"] == "exported"
    np.testing.assert_allclose(probabilities(predictor, images), expected, atol=1e-6)


def test_a_truncated_cached_graph_is_exported_again(vit_dir: Path, tmp_path: Path) -> None:
    model = load_model(vit_dir)
    folder = cached_graph(model, tmp_path).folder
    data = (folder / "model.bin").read_bytes()
    (folder / "model.bin").write_bytes(data[: len(data) // 3])
    prepared = prepare_graph(model, "fp32", tmp_path, threads=1)
    assert prepared.cache.cache == "exported" and prepared.probe_delta < 1e-4


def test_an_unreadable_manifest_is_refused(vit_dir: Path, tmp_path: Path) -> None:
    model = load_model(vit_dir)
    folder = cached_graph(model, tmp_path).folder
    (folder / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    graph = CompiledGraph(folder, "fp32", threads=1)
    with pytest.raises(GraphError, match="manifest is unreadable"):
        ov_runtime.check_graph(graph, folder, model, tolerance=0.05)
    # prepare_graph mends it by exporting again.
    assert prepare_graph(model, "fp32", tmp_path, threads=1).cache.cache == "exported"
    assert json.loads((folder / MANIFEST_FILE).read_text())["format"] == ov_runtime.GRAPH_FORMAT


def test_an_unwritable_cache_still_runs_and_says_so(
    vit_dir: Path, images: list[bytes], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    predictor = Predictor(load_model(vit_dir), Settings(precision="fp32", cache_dir=blocker))
    details = predictor.info.extra["acceleration"]
    assert details["runtime"] == "openvino" and details["graph_cache"] == "uncached"
    assert "is not writable" in details["graph_cache_note"]
    assert not Path(details["graph_folder"]).exists()  # the temporary export is gone
    assert len(probabilities(predictor, images)) == len(images)


def test_a_failed_export_falls_back_to_torch_with_the_reason(
    vit_dir: Path, images: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(model: object, folder: Path) -> None:
        raise GraphError("OpenVINO could not export the model: test refusal")

    monkeypatch.setattr(ov_runtime, "export_graph", refuse)
    settings = Settings(precision="bf16", cache_dir=tmp_path)
    predictor = Predictor(load_model(vit_dir), settings, cpu=ZEN4_BF16)
    details = predictor.info.extra["acceleration"]
    # Packed by oneDNN where the host runs bf16 kernels; plain torch bf16 where it refuses them.
    assert details["runtime"] == "torch" and details["kernel"] in ("onednn-packed", "torch")
    assert details["fallback_reason"].startswith("openvino: OpenVINO could not export")
    assert describe_runtime(details) == (
        f"torch, {details['kernel']}, {torch.get_num_threads()} threads (set in settings; OpenVINO "
        "could not run this model; openvino: OpenVINO could not export the model: test refusal)"
    )
    assert predictor.info.precision == "bf16"
    assert len(probabilities(predictor, images)) == len(images)
    assert not (tmp_path / "openvino").exists() or not any((tmp_path / "openvino").iterdir())


def test_compiled_graph_reports_the_precision_openvino_runs(vit_dir: Path, tmp_path: Path) -> None:
    folder = cached_graph(load_model(vit_dir), tmp_path).folder
    assert CompiledGraph(folder, "fp32", threads=1).mode == "fp32"
    bf16 = CompiledGraph(folder, "bf16", threads=1).mode
    if read_cpu_info().native_bf16:
        assert bf16 == "bf16"
    else:  # OpenVINO may keep f32 on a CPU without avx512_bf16/amx_bf16; the mode says which
        assert bf16 in ("bf16", "fp32")


def test_int8_is_not_compiled_by_openvino(vit_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(GraphError, match="fp32 or bf16 here, not int8"):
        CompiledGraph(cached_graph(load_model(vit_dir), tmp_path).folder, "int8", threads=1)


def test_openvino_telemetry_stays_off() -> None:
    """Importing through FakeScope leaves OpenVINO on its no-op telemetry stub."""
    code = (
        "from fakescope.openvino_runtime import import_openvino\n"
        "import_openvino()\n"
        "from openvino.tools.ovc import convert_impl, telemetry_utils\n"
        "print(convert_impl.tm.__name__, telemetry_utils.tm.__name__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    stub = "openvino.tools.ovc.telemetry_stub"
    assert result.stdout.split() == [stub, stub]


def test_describe_runtime_names_the_engine_and_the_reasons(
    vit_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(precision="fp32", cache_dir=tmp_path)
    exported = describe_runtime(Predictor(load_model(vit_dir), settings).info.extra["acceleration"])
    found = describe_runtime(Predictor(load_model(vit_dir), settings).info.extra["acceleration"])
    from fakescope.runtime_env import intra_op_threads

    assert exported == (
        f"OpenVINO {ov_runtime.openvino_version()}, {intra_op_threads(settings)} threads "
        "(set in settings; graph exported at start, cached for the next)"
    )
    assert found.endswith("(set in settings; graph found in the cache)")

    monkeypatch.setitem(sys.modules, "openvino", None)
    without = Predictor(load_model(vit_dir), settings).info.extra["acceleration"]
    assert describe_runtime(without) == (
        f"torch, onednn-packed, {torch.get_num_threads()} threads "
        "(set in settings; OpenVINO is not installed)"
    )
    assert describe_runtime({}) == "not prepared"


def test_the_cache_keeps_the_most_recently_used_graphs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = [load_model(build_vit_model(tmp_path / f"m{i}", seed=20 + i)) for i in range(3)]
    folders = [cached_graph(m, tmp_path / "cache").folder for m in models[:2]]
    # models[0] was used long ago; models[1] is used now (a hit touches its manifest).
    os.utime(folders[0] / MANIFEST_FILE, (1_000_000, 1_000_000))
    os.utime(folders[1] / MANIFEST_FILE, (2_000_000, 2_000_000))
    assert cached_graph(models[1], tmp_path / "cache").cache == "hit"
    assert (folders[1] / MANIFEST_FILE).stat().st_mtime > 2_000_000
    removed = ov_runtime.prune_cache(folders[0].parent, keep=folders[1], limit=2)
    assert removed == [] and folders[0].exists()
    (folders[0].parent / ".staging-of-another-export").mkdir()
    removed = ov_runtime.prune_cache(folders[0].parent, keep=folders[1], limit=1)
    assert removed == [folders[0]] and not folders[0].exists() and folders[1].exists()
    assert (folders[0].parent / ".staging-of-another-export").exists()
    # Exporting a new graph prunes by itself, never the graph just made.
    monkeypatch.setattr(ov_runtime, "MAX_CACHED_GRAPHS", 2)
    newest = cached_graph(models[2], tmp_path / "cache")
    assert newest.cache == "exported" and newest.folder.exists() and folders[1].exists()
    cached_graph(models[0], tmp_path / "cache")  # exported again: the oldest (models[1]) goes
    assert not folders[1].exists() and newest.folder.exists()


def test_a_graph_refused_in_bf16_runs_fp32_on_openvino_with_the_reason(
    vit_dir: Path, images: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU whose OpenVINO kernels lack a bf16 primitive (seen with oneDNN limited to AVX2) must
    not lose OpenVINO: the same graph is compiled in fp32, and the Models page says why."""
    real_init = CompiledGraph.__init__

    def refuse_bf16(self: CompiledGraph, folder: Path, mode: str, threads: int) -> None:
        if mode == "bf16":
            raise GraphError("OpenVINO could not compile the graph: no bf16 Softmax here")
        real_init(self, folder, mode, threads)

    monkeypatch.setattr(CompiledGraph, "__init__", refuse_bf16)
    settings = Settings(precision="bf16", cache_dir=tmp_path)
    predictor = Predictor(load_model(vit_dir), settings, cpu=ZEN4_BF16)
    details = predictor.info.extra["acceleration"]
    assert details["runtime"] == "openvino" and predictor.info.precision == "fp32"
    assert details["fallback_reason"] == (
        "bf16: OpenVINO could not compile the graph: no bf16 Softmax here"
    )
    assert "no bf16 Softmax here" in describe_runtime(details)
    assert len(probabilities(predictor, images)) == len(images)
