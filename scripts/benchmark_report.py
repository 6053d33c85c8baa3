#!/usr/bin/env python3
"""Turn a pytest-benchmark JSON file into FakeScope's benchmark table, and gate regressions.

Usage::

    python -m pytest tests/benchmarks -m benchmark --benchmark-json=out/benchmarks.json
    python scripts/benchmark_report.py out/benchmarks.json \\
        [--baseline benchmarks/baseline.json] [--max-ratio 1.5] [--markdown out/bench.md] \\
        [--update-baseline]

The table: model x path x precision x batch -> ms per image, images per second, the ratio to the
transformers pipeline measured in the same run (to the eager float32 model for model-only rows),
fidelity (largest change of the fake probability vs float32), and the share of the compute floor
reached (the model's GFLOP per image over the matrix-multiply ceiling of that precision, measured
in the same run). Then preprocessing, the prediction log, drift, cold start and peak memory.

Every run names its CPU class (``AVX2``, ``AVX-512``, ``AVX-512+BF16``, ``AMX`` or ``other``,
from the CPU's flags; ``fakescope.acceleration.cpu_class``): speed ratios depend on it far more
than on anything FakeScope does, so the baseline file keeps one section per class.

Targets (issue 14) for the run's class are printed as pass / FAIL / not measured; they are goals,
not part of the gate.

Regression gate (exit status 1) against ``--baseline``:

* ratios measured within one run (speed-ups over the pipeline) are compared only with the
  baseline of the run's CPU class: a figure fails when it falls below its baseline divided by
  ``--max-ratio``;
* fidelity fails when it passes its limit (0.01; 0.1 for int8, which is never the default);
* absolute times (ms per image, cold start) and the peak RSS are compared only when the run's
  machine (CPU and thread count) is the one the class baseline was recorded on: a figure fails
  above baseline x ``--max-ratio``; ``--skip-times`` leaves the times out of the gate (a machine
  shared with other jobs, where they move by more than any sensible ratio) and keeps the memory.

The yardsticks themselves (the pipeline, the eager float32 model) are shown but never gated.
Figures missing on either side are listed, never failed: quick runs measure fewer of them. With no
baseline of the run's CPU class, only fidelity is checked, and the report says so; record one on a
machine of that class with ``--update-baseline`` (``make bench BENCH_ARGS=--update-baseline``).
A run with the instruction set capped (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``) is not a
machine of a lower class, and is never recorded as a baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_MAX_RATIO = 1.5
FIDELITY_LIMITS = {"fp32": 0.01, "bf16": 0.01, "int8": 0.1}
# fakescope.acceleration.CPU_CLASSES (this script reads JSON only and does not import fakescope).
CPU_CLASSES = ("other", "AVX2", "AVX-512", "AVX-512+BF16", "AMX")
# Issue 14's speed targets per CPU class: (ViT-B/16 e2e speed-up at batch 1, at batch 16).
SPEED_TARGETS = {
    "AVX2": (2.0, 2.0),
    "AVX-512": (3.0, 4.0),
    "AVX-512+BF16": (3.0, 4.0),
    "AMX": (3.0, 4.0),
}
FIDELITY_TARGET = 0.01  # largest fake-probability change on trained weights, and no flips
COLD_START_TARGET = 0.5  # FakeScope's cold start over the plain pipeline's, at most
PEAK_RSS_TARGET_MB = 900.0
PATH_NAMES = {"pipeline": "transformers pipeline", "e2e": "end to end", "model": "model only"}


@dataclass
class Figure:
    """One inference measurement (a row of the main table)."""

    key: str
    kind: str
    model: str
    precision: str
    kernel: str
    batch: int
    ms_per_image: float
    fidelity: float | None
    flips: int | None
    gflop_per_image: float | None
    paired_speedup: float | None = None
    weights: str = "random"  # "trained" for figures measured on trained weights
    speedup: float | None = None
    floor_share: float | None = None

    @property
    def images_per_second(self) -> float:
        return 1000.0 / self.ms_per_image if self.ms_per_image > 0 else float("inf")


@dataclass
class Other:
    """A measurement that is not a model pass (preprocessing, store, drift)."""

    key: str
    kind: str
    variant: str
    ms: float
    per_item: int
    notes: str = ""


@dataclass
class Report:
    """Everything read from one benchmark JSON file."""

    machine: str
    load: list[float]
    quick: bool
    datetime: str
    omp_wait_policy: str = "default"
    cpu_class: str = "unknown"
    threads: int | None = None
    isa_caps: dict[str, str] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    ceilings: dict[str, float] = field(default_factory=dict)
    startup: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ reading


def _median_ms(bench: dict[str, Any]) -> float:
    return float(bench["stats"]["median"]) * 1000.0


def class_of_machine(machine: str) -> str:
    """The CPU class from a machine description (``CpuInfo.describe()``), for files written
    before the class was recorded: ``AMD EPYC (AVX512, avx512_bf16), 2 threads`` -> AVX-512+BF16.
    """
    flags = machine[machine.find("(") :].lower() if "(" in machine else ""
    if "amx" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512+BF16"
    if "avx512" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags else "unknown"


def threads_of_machine(machine: str) -> int | None:
    """The thread count at the end of a machine description (``..., 2 threads``)."""
    found = re.search(r"(\d+) threads?$", machine)
    return int(found.group(1)) if found else None


def read_report(data: dict[str, Any]) -> Report:
    """Build a :class:`Report` from pytest-benchmark's JSON (already parsed)."""
    benches = data.get("benchmarks", [])
    infos = [b.get("extra_info", {}) for b in benches]
    machine = next((i["machine"] for i in infos if i.get("machine")), "unknown machine")
    loads = [i["load_1min"] for i in infos if isinstance(i.get("load_1min"), (int, float))]
    report = Report(
        machine=machine,
        load=[min(loads), max(loads)] if loads else [],
        quick=any(i.get("quick") for i in infos),
        datetime=str(data.get("datetime", "")),
        omp_wait_policy=next(
            (str(i["omp_wait_policy"]) for i in infos if i.get("omp_wait_policy")), "default"
        ),
        cpu_class=next(
            (str(i["cpu_class"]) for i in infos if i.get("cpu_class")), class_of_machine(machine)
        ),
        threads=next(
            (int(i["threads"]) for i in infos if i.get("threads")), threads_of_machine(machine)
        ),
        isa_caps=next((dict(i["isa_caps"]) for i in infos if i.get("isa_caps")), {}),
    )
    for bench, info in zip(benches, infos):
        kind = info.get("kind")
        if kind in ("pipeline", "e2e", "model"):
            images = max(1, int(info.get("images", 1)))
            batch = int(info.get("batch", images))
            precision = str(info.get("precision", "?"))
            report.figures.append(
                Figure(
                    # The kernel names the runtime too (openvino, onednn-packed...): the same
                    # precision on two runtimes is two figures.
                    key=f"{kind}/{info.get('model', '?')}/{precision}/b{batch}"
                    + (f"/{info['kernel']}" if info.get("kernel") else ""),
                    kind=kind,
                    model=str(info.get("model", "?")),
                    precision=precision,
                    kernel=str(info.get("kernel", "pipeline" if kind == "pipeline" else "eager")),
                    batch=batch,
                    ms_per_image=_median_ms(bench) / images,
                    fidelity=info.get("fidelity"),
                    flips=info.get("flips"),
                    gflop_per_image=info.get("gflop_per_image"),
                    paired_speedup=info.get("paired_speedup"),
                    weights=str(info.get("weights", "random")),
                )
            )
        elif kind == "ceiling" and info.get("gflops"):
            report.ceilings[str(info["precision"])] = float(info["gflops"])
        elif kind == "startup":
            report.startup = dict(info)
        elif kind in ("preprocess", "store", "drift"):
            variant = str(info.get("variant", bench.get("name", "?")))
            notes = []
            if "mean_change_levels" in info and info.get("draft"):
                notes.append(f"mean change {info['mean_change_levels']:.2f} grey levels vs full")
            if info.get("draft") and info.get("draft_size"):
                notes.append("draft to >= {}x{}".format(*info["draft_size"]))
            report.others.append(
                Other(
                    key=f"{kind}/{info.get('model', '-')}/{variant}",
                    kind=kind,
                    variant=variant,
                    ms=_median_ms(bench),
                    per_item=max(1, int(info.get("images", 1))),
                    notes="; ".join(notes),
                )
            )
    _derive(report)
    return report


def _derive(report: Report) -> None:
    """Speed-ups (same run) and shares of the compute floor."""
    pipelines = {f.batch: f for f in report.figures if f.kind == "pipeline"}
    eager = {
        (f.model, f.batch): f
        for f in report.figures
        if f.kind == "model" and f.precision == "fp32-eager"
    }
    for figure in report.figures:
        if figure.paired_speedup is not None:
            # Measured round by round against the baseline under the same load: preferred.
            figure.speedup = figure.paired_speedup
        elif figure.kind in ("e2e", "pipeline") and figure.model == "vit-b16":
            base = pipelines.get(figure.batch)
            if base is not None:
                figure.speedup = base.ms_per_image / figure.ms_per_image
        elif figure.kind == "model":
            base = eager.get((figure.model, figure.batch))
            if base is not None:
                figure.speedup = base.ms_per_image / figure.ms_per_image
        ceiling = report.ceilings.get(figure.precision.replace("-eager", ""))
        if ceiling and figure.gflop_per_image:
            achieved = figure.gflop_per_image / (figure.ms_per_image / 1000.0)
            figure.floor_share = achieved / ceiling


# ------------------------------------------------------------------------------------ tables


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:{spec}}{suffix}"


def inference_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table."""
    header = [
        "model",
        "path",
        "precision",
        "batch",
        "ms / image",
        "images / s",
        "speed-up",
        "fidelity (max change)",
        "share of compute floor",
    ]
    order = {"pipeline": 0, "e2e": 1, "model": 2}
    rows = []
    for f in sorted(
        report.figures,
        key=lambda f: (f.model != "vit-b16", f.model, order[f.kind], f.precision, f.batch),
    ):
        precision = f.precision if f.kind == "pipeline" else f"{f.precision} ({f.kernel})"
        fidelity = _fmt(f.fidelity, ".4f")
        if f.flips:
            fidelity += f", {f.flips} flips"
        rows.append(
            [
                f.model,
                PATH_NAMES[f.kind],
                precision,
                str(f.batch),
                _fmt(f.ms_per_image, ".1f"),
                _fmt(f.images_per_second, ".1f"),
                _fmt(f.speedup, ".2f", "x"),
                fidelity,
                _fmt(None if f.floor_share is None else 100 * f.floor_share, ".0f", " %"),
            ]
        )
    return header, rows


def other_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the preprocessing / store / drift table."""
    header = ["what", "measurement", "ms per call", "ms per item", "notes"]
    rows = [
        [o.kind, o.variant, f"{o.ms:.2f}", f"{o.ms / o.per_item:.3f}", o.notes]
        for o in report.others
    ]
    return header, rows


def startup_lines(report: Report) -> list[str]:
    """Cold start and memory, one line each."""
    info = report.startup
    if not info:
        return []
    runs = info.get("cold_start_s") or []
    best = info.get("best") or {}
    parts = ", ".join(
        f"{k.removesuffix('_s').replace('_', ' ')} {v:.2f} s" for k, v in best.items()
    )
    lines = [
        (
            f"Cold start, process start to first prediction ({info.get('model')}, "
            f"{info.get('precision')}, {info.get('runtime', 'torch')}): "
            f"best {min(runs):.2f} s, runs {', '.join(f'{r:.2f}' for r in runs)} s ({parts})"
            if runs
            else "Cold start: -"
        ),
        *(
            [
                f"First start with an empty graph cache (exports the graph): "
                f"{info['empty_cache_start_s']:.2f} s"
            ]
            if info.get("empty_cache_start_s") is not None
            else []
        ),
        f"Peak RSS of the serving process (ViT-B/16 loaded, a batch of 16 scored): "
        f"{info.get('peak_rss_mb', 0):.0f} MB",
    ]
    pipeline_runs = info.get("pipeline_cold_start_s") or []
    if pipeline_runs:
        ratio = cold_start_ratio(report)
        lines.append(
            "Plain transformers pipeline, started just before each of those runs: "
            f"best {min(pipeline_runs):.2f} s, runs {', '.join(f'{r:.2f}' for r in pipeline_runs)}"
            " s" + (f"; FakeScope / pipeline {ratio:.2f} (median of the rounds)" if ratio else "")
        )
    return lines


def cold_start_ratio(report: Report) -> float | None:
    """FakeScope's cold start over the plain pipeline's: the paired median when recorded, else
    best over best."""
    info = report.startup
    if info.get("cold_start_vs_pipeline"):
        return float(info["cold_start_vs_pipeline"])
    ours, theirs = info.get("cold_start_s") or [], info.get("pipeline_cold_start_s") or []
    return min(ours) / min(theirs) if ours and theirs and min(theirs) > 0 else None


# ------------------------------------------------------------------------------------ targets


@dataclass
class Target:
    """One row of issue 14's targets: what, the goal, what this run measured, the verdict."""

    figure: str
    target: str
    measured: str
    status: str  # "pass", "FAIL", "not measured", or where it is measured instead


def _within_fidelity(figure: Figure) -> bool:
    return figure.fidelity is None or (figure.fidelity <= FIDELITY_TARGET and not figure.flips)


def _speed_target(report: Report, batch: int, goal: float | None, what: str) -> Target:
    name = f"ViT-B/16 {what} vs pipeline, batch {batch}"
    if goal is None:
        return Target(name, f"none for class {report.cpu_class}", "-", "not measured")
    # The fastest variant that keeps the fidelity target: int8 may be faster but drifts more.
    candidates = [
        f
        for f in report.figures
        if f.kind == "e2e" and f.model == "vit-b16" and f.batch == batch and f.speedup
    ]
    eligible = [f for f in candidates if _within_fidelity(f)]
    if not eligible:
        why = "no variant within fidelity 0.01" if candidates else f"no batch-{batch} figure"
        return Target(name, f">= {goal:g}x", f"- ({why})", "not measured")
    best = max(eligible, key=lambda f: f.speedup or 0.0)
    if best.speedup is None:  # eligible figures all have one; said for the type checker
        return Target(name, f">= {goal:g}x", "- (no speed-up recorded)", "not measured")
    return Target(
        name,
        f">= {goal:g}x",
        f"{best.speedup:.2f}x ({best.precision}, {best.kernel})",
        "pass" if best.speedup >= goal else "FAIL",
    )


def targets(report: Report) -> list[Target]:
    """Issue 14's targets for the run's CPU class, with what this run measured of them."""
    goals = SPEED_TARGETS.get(report.cpu_class, (None, None))
    rows = [
        _speed_target(report, 1, goals[0], "end to end"),
        _speed_target(report, 16, goals[1], "throughput"),
    ]
    trained = {
        (f.model, f.precision, f.kernel): f
        for f in report.figures
        if f.weights == "trained" and f.fidelity is not None
    }
    fidelity_goal = f"max |dp| <= {FIDELITY_TARGET}, 0 flips"
    for (model, precision, kernel), f in sorted(trained.items()):
        if f.fidelity is None:  # filtered above; said for the type checker
            continue
        flips = "flips not recorded" if f.flips is None else f"{f.flips} flips"
        ok = f.fidelity <= FIDELITY_TARGET and not f.flips
        rows.append(
            Target(
                f"fidelity on trained weights, {model} {precision} ({kernel})",
                fidelity_goal,
                f"{f.fidelity:.4f}, {flips}",
                "pass" if ok else "FAIL",
            )
        )
    if not trained:
        rows.append(
            Target(
                "fidelity on trained weights",
                fidelity_goal,
                "- (no figure on trained weights in this run)",
                "not measured",
            )
        )
    rows.append(
        Target(
            "demo model e2e, 640x480, batch 1, vs today's main",
            ">= 2x faster",
            "-",
            "measured by scripts/compare_with_main.py",
        )
    )
    rows.append(
        _at_most(
            "cold start to first verdict vs plain pipeline, cache warm",
            cold_start_ratio(report),
            COLD_START_TARGET,
            "{:.2f}x",
            f"<= {COLD_START_TARGET:g}x the pipeline's",
        )
    )
    rows.append(
        _at_most(
            "peak RSS, ViT-B/16 serving a batch of 16",
            report.startup.get("peak_rss_mb"),
            PEAK_RSS_TARGET_MB,
            "{:.0f} MB",
            f"<= {PEAK_RSS_TARGET_MB:.0f} MB",
        )
    )
    return rows


def _at_most(name: str, value: float | None, limit: float, shown: str, goal: str) -> Target:
    """A target met when the measured ``value`` is at most ``limit``."""
    if value is None:
        return Target(name, goal, "-", "not measured")
    return Target(name, goal, shown.format(value), "pass" if value <= limit else "FAIL")


def target_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the targets table."""
    header = ["figure", f"target ({report.cpu_class})", "measured", "status"]
    return header, [[t.figure, t.target, t.measured, t.status] for t in targets(report)]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:

        def cells(values: Sequence[str]) -> str:
            return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

        out = [cells(header), "|" + "|".join("---" for _ in header) + "|"]
        out += [cells(row) for row in rows]
        return "\n".join(out)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(out)


def render(report: Report, markdown: bool, gate: list[str] | None = None) -> str:
    """The whole report as text or markdown."""
    heading = "### " if markdown else ""
    load = f"load average {report.load[0]:.1f}-{report.load[1]:.1f}" if report.load else "load ?"
    ceilings = ", ".join(f"{p} {g:,.0f} GFLOP/s" for p, g in sorted(report.ceilings.items()))
    caps = ", ".join(f"{k}={v}" for k, v in sorted(report.isa_caps.items()))
    parts = [
        f"{heading}FakeScope benchmarks{' (quick)' if report.quick else ''}",
        # Its own paragraph in markdown (a job summary), where single newlines join lines.
        f"**CPU class: {report.cpu_class}**\n" if markdown else f"CPU class: {report.cpu_class}",
        f"Machine: {report.machine}; OMP_WAIT_POLICY {report.omp_wait_policy}; {load} during "
        f"the run; {report.datetime}",
        *(
            [
                f"Instruction set capped ({caps}): figures of this {report.cpu_class} machine "
                "run capped, not of a machine of a lower class"
            ]
            if caps
            else []
        ),
        f"Matrix-multiply ceiling (same run): {ceilings or '-'}",
        "",
        _table(*inference_rows(report), markdown),
        "",
        "Speed-up: time of the transformers pipeline (end to end) or of the eager float32 "
        "model (model only) on the same inputs, run just before each round, over this row's "
        "time: the median of the per-round ratios, so both sides saw the same machine load. "
        "Share of compute floor: (GFLOP per image / time) over the matrix-multiply ceiling of "
        "that precision.",
        "",
        _table(*other_rows(report), markdown),
        "",
        *startup_lines(report),
        "",
        f"{heading}Targets (issue 14), CPU class {report.cpu_class}",
        _table(*target_rows(report), markdown),
        "",
        "Speed targets take the fastest variant within the fidelity target (0.01, no flips). "
        "Targets are goals, shown and not gated; the gate is the baseline comparison.",
    ]
    if gate is not None:
        parts += ["", f"{heading}Against the baseline", *(gate or ["no figure to compare"])]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------ baseline


def baseline_figures(report: Report) -> dict[str, Any]:
    """The figures kept in ``benchmarks/baseline.json`` for one CPU class."""
    figures: dict[str, Any] = {}
    for f in report.figures:
        figures[f.key] = {
            "ms_per_image": round(f.ms_per_image, 3),
            "speedup": None if f.speedup is None else round(f.speedup, 3),
            "fidelity": f.fidelity,
        }
    for o in report.others:
        figures[o.key] = {"ms_per_image": round(o.ms / o.per_item, 4)}
    if report.startup.get("cold_start_s"):
        figures["startup/cold_start_s"] = {"value": min(report.startup["cold_start_s"])}
        figures["startup/peak_rss_mb"] = {"value": round(report.startup["peak_rss_mb"], 1)}
    ratio = cold_start_ratio(report)
    if ratio:
        # Kept as a speed-up (pipeline over FakeScope, higher is better) so that it is gated
        # like the others.
        figures["startup/cold_start_vs_pipeline"] = {"speedup": round(1.0 / ratio, 3)}
    return figures


def baseline_classes(baseline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The baseline file's sections by CPU class; a file of the older layout (one section per
    machine, ``machines``) is read as its classes (the first machine of a class wins)."""
    classes = dict(baseline.get("classes", {}))
    for machine, entry in baseline.get("machines", {}).items():
        classes.setdefault(
            class_of_machine(machine),
            {"machine": machine, "threads": threads_of_machine(machine), **entry},
        )
    return classes


def compare(
    report: Report, baseline: dict[str, Any], max_ratio: float, check_times: bool = True
) -> tuple[list[str], list[str]]:
    """(lines to show, failures) of this run against the baseline file's content.

    Ratios are compared only with the baseline of the run's CPU class; absolute times and memory
    only when that baseline was recorded on this machine (CPU and threads). ``check_times=False``
    leaves absolute times out of the gate (still shown): on a machine shared with other jobs they
    move by more than any sensible ratio, while the paired speed-ups, fidelity and memory do not.
    """
    entry = baseline_classes(baseline).get(report.cpu_class)
    current = baseline_figures(report)
    failures: list[str] = []
    same_machine = False
    if entry is None:
        lines = [
            f"no baseline for CPU class {report.cpu_class}: speed-ups, times and memory not "
            "compared, only fidelity is checked; record one on a machine of this class with "
            "`make bench BENCH_ARGS=--update-baseline`",
        ]
        reference: dict[str, Any] = {}
    else:
        reference = entry.get("figures", {})
        same_machine = entry.get("machine") == report.machine and (
            entry.get("threads") in (None, report.threads)
        )
        lines = [
            f"baseline of CPU class {report.cpu_class}: {entry.get('machine', '?')}"
            f" (recorded {entry.get('recorded', '?')})"
            + ("" if same_machine else "; another machine: only ratios and fidelity are compared"),
            f"tolerance: ratio {max_ratio}",
        ]
        if entry.get("threads") and report.threads and entry["threads"] != report.threads:
            lines.append(
                f"note: the baseline ran {entry['threads']} threads, this run {report.threads}: "
                "ratios move with the thread count too"
            )
    for key in sorted(set(reference) & set(current)):
        if key.startswith("pipeline/") or "/fp32-eager/" in key:
            continue  # the yardsticks: their speed is not FakeScope's to keep
        old, new = reference[key], current[key]
        if old.get("speedup") and new.get("speedup"):
            floor = old["speedup"] / max_ratio
            ok = new["speedup"] >= floor
            lines.append(
                f"{'ok  ' if ok else 'FAIL'} {key} speed-up {new['speedup']:.2f}x "
                f"(baseline {old['speedup']:.2f}x, floor {floor:.2f}x)"
            )
            if not ok:
                failures.append(f"{key}: speed-up {new['speedup']:.2f}x < {floor:.2f}x")
        if not same_machine:
            continue
        for name in ("ms_per_image", "value"):
            if old.get(name) and new.get(name) is not None:
                gated = check_times or key == "startup/peak_rss_mb"
                ceiling = old[name] * max_ratio
                ok = new[name] <= ceiling or not gated
                verdict = ("ok  " if ok else "FAIL") if gated else "info"
                lines.append(
                    f"{verdict} {key} {name} {new[name]:.3f} "
                    f"(baseline {old[name]:.3f}, ceiling {ceiling:.3f})"
                )
                if not ok:
                    failures.append(f"{key}: {name} {new[name]:.3f} > {ceiling:.3f}")
    for key, new in sorted(current.items()):
        # Fidelity has a fixed limit, baseline or not; a precision with no limit is not gated.
        limit = FIDELITY_LIMITS.get(key.split("/")[2]) if key.count("/") >= 3 else None
        if new.get("fidelity") is not None and limit is not None and new["fidelity"] > limit:
            lines.append(f"FAIL {key} fidelity {new['fidelity']:.4f} > {limit}")
            failures.append(f"{key}: fidelity {new['fidelity']:.4f} > {limit}")
    missing = sorted(set(reference) - set(current))
    new_keys = sorted(set(current) - set(reference)) if reference else []
    if missing:
        lines.append(f"not measured in this run ({len(missing)}): {', '.join(missing)}")
    if new_keys:
        lines.append(f"not in the baseline ({len(new_keys)}): {', '.join(new_keys)}")
    return lines, failures


BASELINE_ABOUT = (
    "Figures of scripts/benchmark_report.py --update-baseline, one section per CPU class "
    "(AVX2, AVX-512, AVX-512+BF16, AMX: fakescope.acceleration.cpu_class), each recorded on one "
    "machine (named, with its thread count). Speed-ups are compared only within a class; "
    "absolute times and memory only on the same machine. A class with no section (AVX2 until "
    "someone records it on an AVX2-only machine) gets the fidelity check only."
)


def update_baseline(report: Report, path: Path, command: str) -> str | None:
    """Write (or replace) this run's CPU class section of the baseline file.

    Returns:
        The machine whose section was replaced, if it was another one.

    Raises:
        ValueError: the run had its instruction set capped (not a machine of its class).
    """
    if report.isa_caps:
        caps = ", ".join(f"{k}={v}" for k, v in sorted(report.isa_caps.items()))
        raise ValueError(
            f"this run had its instruction set capped ({caps}): not a baseline for any class; "
            "run the suite without them, on a machine of the class to record"
        )
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    classes = baseline_classes(data)
    previous = classes.get(report.cpu_class, {}).get("machine")
    classes[report.cpu_class] = {
        "machine": report.machine,
        "threads": report.threads,
        "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "load_average": report.load,
        "quick": report.quick,
        "ceilings_gflops": {k: round(v, 1) for k, v in report.ceilings.items()},
        "figures": baseline_figures(report),
    }
    order = {name: index for index, name in enumerate(CPU_CLASSES)}
    out = {
        "about": BASELINE_ABOUT,
        "classes": dict(sorted(classes.items(), key=lambda item: order.get(item[0], -1))),
    }
    path.write_text(json.dumps(out, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return previous if previous not in (None, report.machine) else None


# ------------------------------------------------------------------------------------ main


def main(argv: Iterable[str] | None = None) -> int:
    """Print the report; return 1 when a figure regressed, 2 when the input is unusable."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--baseline", type=Path, help="benchmarks/baseline.json to compare with")
    parser.add_argument(
        "--max-ratio",
        type=float,
        default=DEFAULT_MAX_RATIO,
        help=f"largest accepted slowdown vs the baseline (default {DEFAULT_MAX_RATIO})",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report as markdown here")
    parser.add_argument(
        "--skip-times",
        action="store_true",
        help="do not gate absolute times (a shared machine): speed-ups, fidelity and memory only",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="write this run into --baseline (its CPU class's section) instead of comparing",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.max_ratio < 1.0:
        parser.error("--max-ratio must be at least 1")
    try:
        data = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.results}: {exc}", file=sys.stderr)
        return 2
    report = read_report(data)
    if not (report.figures or report.others or report.startup or report.ceilings):
        print(f"{args.results} holds no FakeScope benchmark figures", file=sys.stderr)
        return 2

    gate: list[str] | None = None
    failures: list[str] = []
    if args.update_baseline and args.baseline is None:
        parser.error("--update-baseline needs --baseline FILE")
    if args.baseline is not None and args.update_baseline:
        try:
            replaced = update_baseline(report, args.baseline, " ".join(sys.argv))
        except ValueError as exc:
            print(f"baseline not updated: {exc}", file=sys.stderr)
            return 2
        gate = [
            f"baseline {args.baseline} updated for CPU class {report.cpu_class}: {report.machine}"
            + (f" (replaces {replaced})" if replaced else "")
        ]
    elif args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"cannot read baseline {args.baseline}: {exc}", file=sys.stderr)
            return 2
        gate, failures = compare(report, baseline, args.max_ratio, not args.skip_times)

    print(render(report, markdown=False, gate=gate), end="")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(render(report, markdown=True, gate=gate), encoding="utf-8")
    if failures:
        print(f"\n{len(failures)} figure(s) regressed:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
