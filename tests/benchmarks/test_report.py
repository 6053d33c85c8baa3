"""scripts/benchmark_report.py on hand-made pytest-benchmark JSON (no timing involved).

Marked ``benchmark`` as well as ``unit`` so that it runs in the benchmark job, right before the
script judges that job's figures.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

pytestmark = [pytest.mark.benchmark, pytest.mark.unit]

MACHINE = "Test CPU (AVX512, avx512_bf16), 2 threads"


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
        "extra_info": {"machine": MACHINE, "quick": False, "load_1min": 1.5, **info},
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


def test_report_prints_text_and_writes_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = tmp_path / "summary.md"
    assert report_script.main([str(write(tmp_path, results())), "--markdown", str(markdown)]) == 0
    text = capsys.readouterr().out
    assert "vit-b16" in text and "4.00x" in text and "70 %" in text
    assert "best 3.90 s" in text and "900 MB" in text
    table = markdown.read_text()
    assert "| vit-b16 | end to end | bf16 (onednn-packed) | 1 | 50.0 | 20.0 | 4.00x |" in table


def test_baseline_round_trip_passes_then_a_slowdown_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = tmp_path / "baseline.json"
    first = write(tmp_path, results())
    assert report_script.main([str(first), "--baseline", str(baseline), "--update-baseline"]) == 0
    stored = json.loads(baseline.read_text())
    assert (
        stored["machines"][MACHINE]["figures"]["e2e/vit-b16/bf16/b1/onednn-packed"]["speedup"]
        == 4.0
    )
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


def test_other_machines_compare_ratios_of_the_same_cpu_class_only(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    report_script.main(
        [str(write(tmp_path, results())), "--baseline", str(baseline), "--update-baseline"]
    )
    stored = json.loads(baseline.read_text())
    same_class = results(e2e_ms=80.0)
    for item in same_class["benchmarks"]:
        item["extra_info"]["machine"] = "Other CPU (AVX512, avx512_bf16), 2 threads"
    lines, failures = report_script.compare(report_script.read_report(same_class), stored, 1.5)
    assert any("another machine: only ratios and fidelity" in line for line in lines)
    assert not any("ms_per_image" in line for line in lines)
    assert failures == ["e2e/vit-b16/bf16/b1/onednn-packed: speed-up 2.50x < 2.67x"]
    other_class = results(e2e_ms=80.0)
    for item in other_class["benchmarks"]:
        item["extra_info"]["machine"] = "Old CPU (AVX2), 4 threads"
    lines, failures = report_script.compare(report_script.read_report(other_class), stored, 1.5)
    assert failures == [] and lines[0].startswith("no baseline for this CPU class ((AVX2)")


def test_fidelity_over_the_limit_fails_without_a_baseline_entry(tmp_path: Path) -> None:
    report = report_script.read_report(results(fidelity=0.05))
    baseline = {"machines": {"x": {"figures": {}}}}
    _, failures = report_script.compare(report, baseline, 1.5)
    assert failures == [
        "e2e/vit-b16/bf16/b1/onednn-packed: fidelity 0.0500 > 0.01",
        "e2e/vit-b16/bf16/b16/onednn-packed: fidelity 0.0500 > 0.01",
    ]


def test_unusable_input_exits_2(tmp_path: Path) -> None:
    assert report_script.main([str(tmp_path / "missing.json")]) == 2
    assert report_script.main([str(write(tmp_path, {"benchmarks": []}))]) == 2
