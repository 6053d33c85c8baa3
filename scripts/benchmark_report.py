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

Regression gate (exit status 1) against ``--baseline``:

* ratios measured within one run (speed-ups over the pipeline) are compared with the baseline
  of the same machine, else of a machine of the same CPU class (instruction-set flags and thread
  count): a figure fails when it falls below its baseline divided by ``--max-ratio``;
* fidelity fails when it passes its limit (0.01; 0.1 for int8, which is never the default);
* absolute times (ms per image, cold start) and the peak RSS are compared only when the run's
  machine (CPU and thread count) is the baseline's: a figure fails above baseline x
  ``--max-ratio``; ``--skip-times`` leaves the times out of the gate (a machine shared with other
  jobs, where they move by more than any sensible ratio) and keeps the memory.

The yardsticks themselves (the pipeline, the eager float32 model) are shown but never gated.
Figures missing on either side are listed, never failed: quick runs measure fewer of them. With no
baseline of the run's CPU class, only fidelity is checked (record one with ``--update-baseline``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_MAX_RATIO = 1.5
FIDELITY_LIMITS = {"fp32": 0.01, "bf16": 0.01, "int8": 0.1}
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
    figures: list[Figure] = field(default_factory=list)
    others: list[Other] = field(default_factory=list)
    ceilings: dict[str, float] = field(default_factory=dict)
    startup: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ reading


def _median_ms(bench: dict[str, Any]) -> float:
    return float(bench["stats"]["median"]) * 1000.0


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
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(row) + " |" for row in rows]
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
    parts = [
        f"{heading}FakeScope benchmarks{' (quick)' if report.quick else ''}",
        f"Machine: {report.machine}; OMP_WAIT_POLICY {report.omp_wait_policy}; {load} during "
        f"the run; {report.datetime}",
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
    ]
    if gate is not None:
        parts += ["", f"{heading}Against the baseline", *(gate or ["no figure to compare"])]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------ baseline


def baseline_figures(report: Report) -> dict[str, Any]:
    """The figures kept in ``benchmarks/baseline.json`` for one machine."""
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
    return figures


def cpu_class_of(machine: str) -> str:
    """The part of a machine description that decides speed ratios: ISA flags and threads."""
    start = machine.find("(")
    return machine[start:] if start >= 0 else machine


def compare(
    report: Report, baseline: dict[str, Any], max_ratio: float, check_times: bool = True
) -> tuple[list[str], list[str]]:
    """(lines to show, failures) of this run against the baseline file's content.

    ``check_times=False`` leaves absolute times out of the gate (still shown): on a machine
    shared with other jobs they move by more than any sensible ratio, while the paired speed-ups,
    fidelity and memory do not.
    """
    machines = baseline.get("machines", {})
    current = baseline_figures(report)
    same_machine = report.machine in machines
    reference_name = report.machine if same_machine else None
    if reference_name is None:
        # Ratios move with the instruction set (bf16 or not, AVX-512 or not): compare them only
        # with a machine of the same class.
        cpu_class = cpu_class_of(report.machine)
        reference_name = next((m for m in machines if cpu_class_of(m) == cpu_class), None)
    failures: list[str] = []
    if reference_name is None:
        lines = [
            f"no baseline for this CPU class ({cpu_class_of(report.machine)}): speed and memory "
            "not compared; record one with --update-baseline",
        ]
        reference: dict[str, Any] = {}
    else:
        reference = machines[reference_name]["figures"]
        lines = [
            f"baseline machine: {reference_name}"
            + ("" if same_machine else " (another machine: only ratios and fidelity are compared)"),
            f"tolerance: ratio {max_ratio}",
        ]
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
        # Fidelity has a fixed limit, baseline or not.
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


def update_baseline(report: Report, path: Path, command: str) -> None:
    """Write (or replace) this machine's section of the baseline file."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    data.setdefault(
        "about",
        "Figures of scripts/benchmark_report.py --update-baseline, one section per machine "
        "(CPU and threads). Ratios are compared on any machine; times only on the same one.",
    )
    machines = data.setdefault("machines", {})
    machines[report.machine] = {
        "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
        "load_average": report.load,
        "quick": report.quick,
        "ceilings_gflops": {k: round(v, 1) for k, v in report.ceilings.items()},
        "figures": baseline_figures(report),
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


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
        help="write this run into --baseline (this machine's section) instead of comparing",
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
    if not report.figures and not report.others:
        print(f"{args.results} holds no FakeScope benchmark figures", file=sys.stderr)
        return 2

    gate: list[str] | None = None
    failures: list[str] = []
    if args.baseline is not None and args.update_baseline:
        update_baseline(report, args.baseline, " ".join(sys.argv))
        gate = [f"baseline {args.baseline} updated for {report.machine}"]
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
