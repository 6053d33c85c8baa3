"""scripts/benchmark_report.py on hand-made pytest-benchmark JSON (no timing involved).

Unit tests of the report script, in the normal suite (not marked ``benchmark``): they need no
benchmark run and take a second.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.unit

MACHINE = "Test CPU (AVX512, avx512_bf16), 2 threads"
CLASS = "AVX-512+BF16"


def load_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "benchmark_report", REPO_ROOT / "scripts" / "benchmark_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


report_script = load_script()


def bench(name: str, median_ms: float, **info: Any) -> dict[str, Any]:
    return {
        "name": name,
        "stats": {"median": median_ms / 1000, "min": median_ms / 1000},
        "extra_info": {
            "machine": MACHINE,
            "cpu_class": CLASS,
            "threads": 2,
            "quick": False,
            "load_1min": 1.5,
            **info,
        },
    }


def results(e2e_ms: float = 50.0, fidelity: float = 0.003) -> dict[str, Any]:
    vit = {"model": "vit-b16", "gflop_per_image": 35.0}
    return {
        "datetime": "2026-01-01T00:00:00",
        "benchmarks": [
            bench("pipe", 200.0, kind="pipeline", precision="fp32", batch=1, images=1, **vit),
            bench("pipe16", 1600.0, kind="pipeline", precision="fp32", batch=16, images=16, **vit),
            bench(
                "e2e",
                e2e_ms,
                kind="e2e",
                precision="bf16",
                kernel="onednn-packed",
                batch=1,
                images=1,
                fidelity=fidelity,
                flips=0,
                paired_speedup=4.0 * 50.0 / e2e_ms,
                **vit,
            ),
            bench(
                "e2e16",
                400.0,
                kind="e2e",
                precision="bf16",
                kernel="onednn-packed",
                batch=16,
                images=16,
                fidelity=fidelity,
                flips=0,
                **vit,
            ),
            bench("ceil", 1.0, kind="ceiling", precision="bf16", gflops=1000.0),
            bench("prep", 40.0, kind="preprocess", model="resize-224", variant="4000x3000 draft"),
            bench(
                "cold",
                4000.0,
                kind="startup",
                model="vit-b16",
                precision="bf16",
                cold_start_s=[4.2, 3.9],
                pipeline_cold_start_s=[9.0, 8.0],
                cold_start_vs_pipeline=0.4875,
                best={"imports_s": 1.0},
                peak_rss_mb=900.0,
            ),
        ],
    }


def write(tmp_path: Path, data: dict[str, Any], name: str = "bench.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_report_computes_speedups_and_floor_share() -> None:
    report = report_script.read_report(results())
    figures = {f.key: f for f in report.figures}
    e2e = figures["e2e/vit-b16/bf16/b1/onednn-packed"]
    assert e2e.speedup == pytest.approx(4.0)  # the paired figure wins over 200 / 50
    assert figures["e2e/vit-b16/bf16/b16/onednn-packed"].speedup == pytest.approx(100.0 / 25.0)
    # 35 GFLOP in 50 ms = 700 GFLOP/s, on a 1000 GFLOP/s ceiling.
    assert e2e.floor_share == pytest.approx(0.7)
    assert e2e.images_per_second == pytest.approx(20.0)
    assert report.load == [1.5, 1.5] and report.ceilings == {"bf16": 1000.0}


def on_machine(data: dict[str, Any], machine: str, **info: Any) -> dict[str, Any]:
    """The same figures as measured on another machine (``cpu_class=None`` drops the class)."""
    for item in data["benchmarks"]:
        item["extra_info"]["machine"] = machine
        item["extra_info"].update(info)
        if item["extra_info"].get("cpu_class", "") is None:
            del item["extra_info"]["cpu_class"]
    return data


def targets_of(data: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    rows = report_script.targets(report_script.read_report(data))
    return {t.figure: (t.target, t.measured, t.status) for t in rows}


def test_report_prints_text_and_writes_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = tmp_path / "summary.md"
    assert report_script.main([str(write(tmp_path, results())), "--markdown", str(markdown)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1] == "CPU class: AVX-512+BF16"
    assert "vit-b16" in text and "4.00x" in text and "70 %" in text
    assert "best 3.90 s" in text and "900 MB" in text
    assert "Plain transformers pipeline" in text and "best 8.00 s" in text
    assert "FakeScope / pipeline 0.49" in text
    assert "Targets (issue 14), CPU class AVX-512+BF16" in text
    table = markdown.read_text()
    assert "CPU class: AVX-512+BF16" in table
    assert "| vit-b16 | end to end | bf16 (onednn-packed) | 1 | 50.0 | 20.0 | 4.00x |" in table
    assert "| peak RSS, ViT-B/16 serving a batch of 16 | <= 900 MB | 900 MB | pass |" in table
    assert "| max \\|dp\\| <= 0.01, 0 flips |" in table  # a pipe in a cell is escaped


def test_the_class_comes_from_the_machine_in_files_without_one() -> None:
    legacy = on_machine(
        results(), "Old Xeon (AVX512, amx_bf16, amx_tile), 8 threads", cpu_class=None
    )
    for item in legacy["benchmarks"]:
        del item["extra_info"]["threads"]
    report = report_script.read_report(legacy)
    assert report.cpu_class == "AMX" and report.threads == 8
    assert report_script.class_of_machine("AMD EPYC 7B13 (AVX2), 4 threads") == "AVX2"
    assert report_script.class_of_machine("Xeon (AVX512, avx512_vnni), 2 threads") == "AVX-512"
    assert report_script.class_of_machine("Graviton (DEFAULT), 4 threads") == "unknown"


def test_targets_of_an_avx512_class_run() -> None:
    rows = targets_of(results())
    assert rows["ViT-B/16 end to end vs pipeline, batch 1"] == (
        ">= 3x",
        "4.00x (bf16, onednn-packed)",
        "pass",
    )
    assert rows["ViT-B/16 throughput vs pipeline, batch 16"][0::2] == (">= 4x", "pass")
    assert rows["cold start to first verdict vs plain pipeline, cache warm"][1:] == (
        "0.49x",
        "pass",
    )
    assert rows["peak RSS, ViT-B/16 serving a batch of 16"][2] == "pass"
    assert rows["fidelity on trained weights"][2] == "not measured"
    assert rows["demo model e2e, 640x480, batch 1, vs today's main"][2] == (
        "measured by scripts/compare_with_main.py"
    )


def test_targets_follow_the_class_and_fail_below_it() -> None:
    slow = results(e2e_ms=75.0)  # speed-up 200/75 = 2.67x at batch 1
    assert targets_of(slow)["ViT-B/16 end to end vs pipeline, batch 1"][2] == "FAIL"
    avx2 = on_machine(results(e2e_ms=75.0), "EPYC 7B13 (AVX2), 2 threads", cpu_class="AVX2")
    assert targets_of(avx2)["ViT-B/16 end to end vs pipeline, batch 1"] == (
        ">= 2x",
        "2.67x (bf16, onednn-packed)",
        "pass",
    )
    other = on_machine(results(), "Graviton (DEFAULT), 2 threads", cpu_class="other")
    assert targets_of(other)["ViT-B/16 end to end vs pipeline, batch 1"][0::2] == (
        "none for class other",
        "not measured",
    )


def test_speed_targets_skip_variants_outside_the_fidelity_target() -> None:
    data = results(fidelity=0.03)  # as int8 drifts
    rows = targets_of(data)
    assert rows["ViT-B/16 end to end vs pipeline, batch 1"][1:] == (
        "- (no variant within fidelity 0.01)",
        "not measured",
    )


def test_quick_runs_leave_targets_not_measured() -> None:
    data = results()
    data["benchmarks"] = [
        b for b in data["benchmarks"] if b["extra_info"].get("batch") != 16 and b["name"] != "cold"
    ]
    rows = targets_of(data)
    assert rows["ViT-B/16 throughput vs pipeline, batch 16"][1:] == (
        "- (no batch-16 figure)",
        "not measured",
    )
    assert rows["cold start to first verdict vs plain pipeline, cache warm"][2] == "not measured"
    assert rows["peak RSS, ViT-B/16 serving a batch of 16"][2] == "not measured"


def test_new_variants_and_trained_weights_fidelity() -> None:
    data = results()
    trained = {"model": "vit-small-trained", "weights": "trained", "batch": 1, "images": 1}
    ort = {"precision": "int8", "kernel": "onnxruntime", "fidelity": 0.004, "flips": 0}
    openvino = {"precision": "bf16", "kernel": "openvino", "fidelity": 0.02, "flips": 1}
    data["benchmarks"] += [
        bench("ort", 5.0, kind="e2e", **trained, **ort),
        bench("ov", 4.0, kind="e2e", **trained, **openvino),
        bench("new", 3.0, kind="model", precision="fp8", kernel="something-new", model="x"),
        bench("odd", 1.0, kind="unknown-kind"),
    ]
    report = report_script.read_report(data)
    assert "e2e/vit-small-trained/int8/b1/onnxruntime" in {f.key for f in report.figures}
    rows = targets_of(data)
    assert rows["fidelity on trained weights, vit-small-trained int8 (onnxruntime)"][1:] == (
        "0.0040, 0 flips",
        "pass",
    )
    assert rows["fidelity on trained weights, vit-small-trained bf16 (openvino)"][1:] == (
        "0.0200, 1 flips",
        "FAIL",
    )
    assert "fidelity on trained weights" not in rows
    assert "int8 (onnxruntime)" in report_script.render(report, markdown=False)
    lines, failures = report_script.compare(report, {}, 1.5)  # int8 limit 0.1, fp8 none
    assert failures == ["e2e/vit-small-trained/bf16/b1/openvino: fidelity 0.0200 > 0.01"]


def test_baseline_round_trip_passes_then_a_slowdown_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    first = write(tmp_path, results())
    assert report_script.main([str(first), "--baseline", str(baseline), "--update-baseline"]) == 0
    assert f"updated for CPU class {CLASS}: {MACHINE}" in capsys.readouterr().out
    stored = json.loads(baseline.read_text())
    entry = stored["classes"][CLASS]
    assert entry["machine"] == MACHINE and entry["threads"] == 2 and "machines" not in stored
    assert entry["figures"]["e2e/vit-b16/bf16/b1/onednn-packed"]["speedup"] == 4.0
    # 8.0 s / 3.9 s: the pipeline's cold start over FakeScope's, kept as a speed-up.
    assert entry["figures"]["startup/cold_start_vs_pipeline"]["speedup"] == pytest.approx(2.051)
    assert report_script.main([str(first), "--baseline", str(baseline)]) == 0
    # Twice as slow: the speed-up halves (4.0 -> 2.0, below 4.0 / 1.5) and ms doubles.
    slow = write(tmp_path, results(e2e_ms=100.0), "slow.json")
    capsys.readouterr()
    assert report_script.main([str(slow), "--baseline", str(baseline), "--max-ratio", "1.5"]) == 1
    err = capsys.readouterr().err
    assert "e2e/vit-b16/bf16/b1/onednn-packed: speed-up 2.00x < 2.67x" in err
    assert "e2e/vit-b16/bf16/b1/onednn-packed: ms_per_image 100.000 > 75.000" in err
    assert "pipeline/" not in err  # the yardstick is never gated
    capsys.readouterr()
    args = [str(slow), "--baseline", str(baseline), "--skip-times"]
    assert report_script.main(args) == 1  # the paired speed-up still fails
    err = capsys.readouterr().err
    assert "speed-up 2.00x < 2.67x" in err and "ms_per_image" not in err


def test_a_slower_cold_start_against_the_pipeline_fails(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    report_script.main(
        [str(write(tmp_path, results())), "--baseline", str(baseline), "--update-baseline"]
    )
    slow = results()
    slow["benchmarks"][-1]["extra_info"]["cold_start_vs_pipeline"] = 0.9
    _, failures = report_script.compare(
        report_script.read_report(slow), json.loads(baseline.read_text()), 1.5, False
    )
    assert failures == ["startup/cold_start_vs_pipeline: speed-up 1.11x < 1.37x"]


def test_a_slower_pipeline_is_not_a_regression(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    report_script.main(
        [str(write(tmp_path, results())), "--baseline", str(baseline), "--update-baseline"]
    )
    busy = results()
    busy["benchmarks"][0]["stats"]["median"] *= 3  # the pipeline alone ran under load
    lines, failures = report_script.compare(
        report_script.read_report(busy), json.loads(baseline.read_text()), 1.5
    )
    assert failures == []
    assert not any("pipeline/" in line for line in lines if line.startswith(("ok", "FAIL")))


def test_ratios_are_compared_with_the_same_cpu_class_only(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    report_script.main(
        [str(write(tmp_path, results())), "--baseline", str(baseline), "--update-baseline"]
    )
    stored = json.loads(baseline.read_text())
    same_class = on_machine(results(e2e_ms=80.0), "Other CPU (AVX512, avx512_bf16), 4 threads")
    for item in same_class["benchmarks"]:
        item["extra_info"]["threads"] = 4
    lines, failures = report_script.compare(report_script.read_report(same_class), stored, 1.5)
    assert lines[0].startswith(f"baseline of CPU class {CLASS}: {MACHINE}")
    assert "another machine: only ratios and fidelity" in lines[0]
    assert any("baseline ran 2 threads, this run 4" in line for line in lines)
    assert not any("ms_per_image" in line or "peak_rss" in line for line in lines)
    assert failures == ["e2e/vit-b16/bf16/b1/onednn-packed: speed-up 2.50x < 2.67x"]
    # An AVX-512 CPU without bfloat16 is another class: its ratios are not compared.
    plain = on_machine(results(e2e_ms=80.0), "Xeon (AVX512), 2 threads", cpu_class="AVX-512")
    lines, failures = report_script.compare(report_script.read_report(plain), stored, 1.5)
    assert failures == []
    assert lines[0].startswith("no baseline for CPU class AVX-512: speed-ups, times and memory")
    assert "make bench BENCH_ARGS=--update-baseline" in lines[0]


def test_no_baseline_for_the_class_still_gates_fidelity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    report_script.main(
        [str(write(tmp_path, results())), "--baseline", str(baseline), "--update-baseline"]
    )
    avx2 = on_machine(results(fidelity=0.05), "EPYC 7B13 (AVX2), 2 threads", cpu_class="AVX2")
    capsys.readouterr()
    assert report_script.main([str(write(tmp_path, avx2, "a.json")), "--baseline", str(baseline)])
    out, err = capsys.readouterr()
    assert "CPU class: AVX2" in out and "no baseline for CPU class AVX2" in out
    assert "fidelity 0.0500 > 0.01" in err and "speed-up" not in err


def test_each_class_keeps_its_own_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    avx2 = on_machine(results(e2e_ms=100.0), "EPYC 7B13 (AVX2), 2 threads", cpu_class="AVX2")
    for data, name in ((results(), "a.json"), (avx2, "b.json")):
        path = write(tmp_path, data, name)
        assert (
            report_script.main([str(path), "--baseline", str(baseline), "--update-baseline"]) == 0
        )
    stored = json.loads(baseline.read_text())
    assert list(stored["classes"]) == ["AVX2", CLASS]  # slowest class first
    assert stored["classes"]["AVX2"]["figures"]["e2e/vit-b16/bf16/b1/onednn-packed"][
        "speedup"
    ] == pytest.approx(2.0)
    # Another machine of a recorded class replaces that class's section, and says so.
    other = on_machine(results(), "Other CPU (AVX512, avx512_bf16), 2 threads")
    capsys.readouterr()
    path = write(tmp_path, other, "c.json")
    assert report_script.main([str(path), "--baseline", str(baseline), "--update-baseline"]) == 0
    assert f"(replaces {MACHINE})" in capsys.readouterr().out
    assert json.loads(baseline.read_text())["classes"][CLASS]["machine"].startswith("Other CPU")


def test_a_capped_run_is_never_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    capped = on_machine(results(), MACHINE, isa_caps={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    path = write(tmp_path, capped)
    assert report_script.main([str(path), "--baseline", str(baseline), "--update-baseline"]) == 2
    assert "instruction set capped (ONEDNN_MAX_CPU_ISA=AVX2)" in capsys.readouterr().err
    assert not baseline.exists()
    assert report_script.main([str(path)]) == 0
    assert "Instruction set capped (ONEDNN_MAX_CPU_ISA=AVX2)" in capsys.readouterr().out


def test_a_baseline_file_of_the_older_layout_is_read_by_class() -> None:
    old = {
        "machines": {MACHINE: {"figures": {"e2e/vit-b16/bf16/b1/onednn-packed": {"speedup": 7}}}}
    }
    classes = report_script.baseline_classes(old)
    assert list(classes) == [CLASS] and classes[CLASS]["machine"] == MACHINE
    lines, failures = report_script.compare(report_script.read_report(results()), old, 1.5)
    assert failures == ["e2e/vit-b16/bf16/b1/onednn-packed: speed-up 4.00x < 4.67x"]


def test_the_committed_baseline_has_a_section_per_class() -> None:
    stored = json.loads((REPO_ROOT / "benchmarks" / "baseline.json").read_text())
    assert "machines" not in stored and set(stored["classes"]) <= set(report_script.CPU_CLASSES)
    for name, entry in stored["classes"].items():
        assert report_script.class_of_machine(entry["machine"]) == name
        assert entry["threads"] == report_script.threads_of_machine(entry["machine"])


def test_update_baseline_needs_a_baseline_file(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        report_script.main([str(write(tmp_path, results())), "--update-baseline"])


def test_fidelity_over_the_limit_fails_without_a_baseline_entry(tmp_path: Path) -> None:
    report = report_script.read_report(results(fidelity=0.05))
    baseline = {"classes": {CLASS: {"machine": MACHINE, "figures": {}}}}
    _, failures = report_script.compare(report, baseline, 1.5)
    assert failures == [
        "e2e/vit-b16/bf16/b1/onednn-packed: fidelity 0.0500 > 0.01",
        "e2e/vit-b16/bf16/b16/onednn-packed: fidelity 0.0500 > 0.01",
    ]


def test_unusable_input_exits_2(tmp_path: Path) -> None:
    assert report_script.main([str(tmp_path / "missing.json")]) == 2
    assert report_script.main([str(write(tmp_path, {"benchmarks": []}))]) == 2
