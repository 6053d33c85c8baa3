"""Measure the drift alarm: false-alarm rate on unshifted traffic, detection delay per shift.

Scores streams from the project's pool (the one the model's reference was built from, with other
seeds) through the serving predictor of a registry version, then draws windows from them
(:mod:`fakescope.drift_eval`) and checks each against the version's reference. Also compares the
accuracy measured with each stream's true labels with the label-free (CBPE) estimate. Prints the
tables of docs/monitoring.md; ``--json FILE`` also writes them.

    python scripts/measure_drift_alarms.py                  # the active version, docs figures
    python scripts/measure_drift_alarms.py --window 100 --clean 400 --per-shift 150
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from fakescope.config import Settings
from fakescope.drift_checks import TESTS, CheckOptions
from fakescope.drift_eval import alarm_table, score_stream
from fakescope.feedback import estimated_performance_over_time, performance_over_time
from fakescope.predictor import Predictor
from fakescope.reference import ReferenceChoice, load_reference
from fakescope.registry import Registry
from fakescope.traffic import generate_images, project_pool

# Each kind of shift at a mild, the default and the strongest strength; fake-share moves the
# stream's share of generated images from the pool's 0.3 to the strength.
SHIFTS = tuple(
    (shift, strength)
    for shift in ("brightness", "blur", "jpeg", "resize")
    for strength in (0.25, 0.5, 1.0)
) + (("fake-share", 0.4), ("fake-share", 0.6), ("fake-share", 0.9))


def compare_performance(frame: pd.DataFrame) -> dict[str, float]:
    """Accuracy measured with the stream's true labels next to the label-free estimate."""
    timed = frame.assign(recorded_at=pd.Timestamp("2026-01-01", tz="UTC"))
    measured = performance_over_time(timed, len(timed)).iloc[0]
    estimated = estimated_performance_over_time(timed, len(timed)).iloc[0]
    return {
        "accuracy": float(measured["accuracy"]),
        "estimated_accuracy": float(estimated["estimated_accuracy"]),
        "false_positive_rate": float(measured["false_positive_rate"]),
        "estimated_false_positive_rate": float(estimated["estimated_false_positive_rate"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="registry version (default: the active one)")
    parser.add_argument("--window", type=int, default=200, help="predictions per window")
    parser.add_argument("--clean", type=int, default=800, help="unshifted images scored")
    parser.add_argument("--per-shift", type=int, default=300, help="images scored per shift")
    parser.add_argument("--windows", type=int, default=100, help="windows for false alarms")
    parser.add_argument("--repeats", type=int, default=5, help="streams per shift")
    parser.add_argument("--seed", type=int, default=7, help="seed of the streams and draws")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    settings = Settings.from_env()
    registry = Registry(settings.registry_dir)
    version = args.version or registry.active_version()
    predictor = Predictor(registry.load(version, settings), settings)
    reference = load_reference(ReferenceChoice.model(), registry, None, version)
    pool = project_pool()
    started = time.perf_counter()
    clean = score_stream(predictor, generate_images(pool, args.clean, seed=args.seed))
    shifted = []
    for index, (shift, strength) in enumerate(SHIFTS):
        stream = generate_images(
            pool, args.per_shift, shift=shift, strength=strength, seed=args.seed + 1 + index
        )
        shifted.append((shift, strength, score_stream(predictor, stream)))
    scored = time.perf_counter() - started
    rates, delays = alarm_table(
        reference,
        clean,
        shifted,
        window=args.window,
        n_windows=args.windows,
        repeats=args.repeats,
        seed=args.seed,
        options=CheckOptions(),
    )
    print(f"{version}, reference: {reference.name} ({reference.description})")
    print(f"pool: {pool.describe()}; scored {len(clean)} + {len(shifted)} x {args.per_shift}")
    print(f"images in {scored:.0f} s; window {args.window} predictions\n")
    print("| test | false alarms per window |")
    print("|---|---|")
    for name in (*TESTS, "any"):
        print(f"| {name} | {rates[name]:.3f} |")
    print(f"\n({rates['windows']} windows of unshifted traffic)\n")
    print("| shift | strength | detected within 5 windows | mean delay | worst | first alarms |")
    print("|---|---|---|---|---|---|")
    for row in delays.itertuples(index=False):
        mean = "-" if row.mean_delay_windows is None else f"{row.mean_delay_windows:.1f}"
        worst = "-" if row.worst_delay_windows is None else f"{row.worst_delay_windows:d}"
        print(
            f"| {row.shift} | {row.strength:g} | {row.detected:.0%} | {mean} | {worst} | "
            f"{row.first_tests} |"
        )
    print("\n| stream | labelled accuracy | CBPE estimate | labelled FPR | estimated FPR |")
    print("|---|---|---|---|---|")
    performance = {}
    for name, frame in [("unshifted", clean), *((f"{s} {v:g}", f) for s, v, f in shifted)]:
        row = compare_performance(frame)
        performance[name] = row
        print(
            f"| {name} | {row['accuracy']:.3f} | {row['estimated_accuracy']:.3f} | "
            f"{row['false_positive_rate']:.3f} | {row['estimated_false_positive_rate']:.3f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "version": version,
                    "window": args.window,
                    "false_alarm_rates": rates,
                    "delays": delays.to_dict(orient="records"),
                    "performance": performance,
                },
                indent=1,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
