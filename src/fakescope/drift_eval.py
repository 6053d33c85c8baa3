"""How often the drift alarm is wrong, and how fast it is right: false alarms and detection delay.

A drift alarm is only useful if it stays quiet on traffic like its reference and speaks up soon
after traffic changes. Both are measured here on scored images, never assumed:

* :func:`score_stream` sends a stream of encoded images (the traffic simulator's pool) through the
  serving predictor once and keeps what the log would keep: features, fake probability, embedding.
* :func:`false_alarm_rate`: windows drawn from unshifted rows, each checked against the reference
  with :func:`fakescope.drift_checks.check_window`; the share of windows in which each test (and
  any test) alarms.
* :func:`detection_delay`: a stream that turns shifted at a window boundary; the delay is the
  number of shifted windows until the first alarm (1 = the first shifted window), or None when
  no alarm came within ``max_windows``.

Rows are drawn from the scored frames with a seeded generator, so a figure is reproducible and a
test can assert it with a margin. ``scripts/measure_drift_alarms.py`` writes the table in
docs/monitoring.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fakescope.drift import ReferenceProfile
from fakescope.drift_checks import TESTS, CheckOptions, check_window
from fakescope.verdicts import Prediction


def score_stream(predictor: Any, images: Iterable[Any], *, batch_size: int = 16) -> pd.DataFrame:
    """Score images (objects with ``name``, ``data`` and maybe ``truth``) as the server would.

    Returns:
        One row per scored image: every feature, ``fake_probability``, ``verdict``,
        ``embedding``, ``embedding_space``, ``truth`` (None when unknown).
    """
    rows: list[dict[str, Any]] = []
    batch: list[Any] = []

    def flush() -> None:
        outcomes = predictor.predict(
            [item.data for item in batch], errors="return", names=[item.name for item in batch]
        )
        for item, outcome in zip(batch, outcomes):
            if isinstance(outcome, Prediction):
                rows.append(
                    {
                        **outcome.features,
                        "fake_probability": outcome.fake_probability,
                        "verdict": outcome.verdict,
                        "embedding": (
                            None
                            if outcome.embedding is None
                            else np.asarray(outcome.embedding, dtype=np.float32)
                        ),
                        "embedding_space": outcome.embedding_space,
                        "truth": getattr(item, "truth", None),
                    }
                )
        batch.clear()

    for item in images:
        batch.append(item)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return pd.DataFrame(rows)


def _draw(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    """``size`` rows of ``frame``: without replacement when it has enough, else with."""
    replace = len(frame) < size
    return frame.iloc[rng.choice(len(frame), size=size, replace=replace)]


def false_alarm_rate(
    reference: ReferenceProfile,
    clean: pd.DataFrame,
    *,
    window: int,
    n_windows: int,
    seed: int = 0,
    options: CheckOptions | None = None,
) -> dict[str, float]:
    """Share of windows of unshifted rows in which each test, and any test, alarms.

    Returns:
        ``{"features": ..., "prediction": ..., "embedding_mmd": ..., "embedding_classifier": ...,
        "any": ..., "windows": n_windows}``; a test without a verdict counts as quiet.
    """
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys((*TESTS, "any"), 0)
    for index in range(n_windows):
        check = check_window(reference, _draw(clean, window, rng), _seeded(options, seed + index))
        for test, drifted in check.verdicts.items():
            counts[test] += bool(drifted)
        counts["any"] += bool(check.drifted)
    rates: dict[str, float] = {name: count / n_windows for name, count in counts.items()}
    rates["windows"] = n_windows
    return rates


def detection_delay(
    reference: ReferenceProfile,
    shifted: pd.DataFrame,
    *,
    window: int,
    max_windows: int = 5,
    repeats: int = 5,
    seed: int = 0,
    options: CheckOptions | None = None,
) -> dict[str, Any]:
    """Windows of shifted traffic until the first alarm, over ``repeats`` seeded streams.

    Returns:
        ``{"delays": [...], "mean": ..., "worst": ..., "detected": share of streams with an
        alarm within max_windows, "first_tests": tests that alarmed first, most frequent first}``.
    """
    rng = np.random.default_rng(seed)
    delays: list[int | None] = []
    first: dict[str, int] = {}
    for repeat in range(repeats):
        delay = None
        for index in range(max_windows):
            check = check_window(
                reference,
                _draw(shifted, window, rng),
                _seeded(options, seed + 1000 * repeat + index),
            )
            if check.drifted:
                delay = index + 1
                for test in check.alarms:
                    first[test] = first.get(test, 0) + 1
                break
        delays.append(delay)
    found = [d for d in delays if d is not None]
    return {
        "delays": delays,
        "mean": float(np.mean(found)) if found else None,
        "worst": max(found) if len(found) == len(delays) else None,
        "detected": len(found) / len(delays),
        "first_tests": sorted(first, key=lambda t: -first[t]),
    }


def _seeded(options: CheckOptions | None, seed: int) -> CheckOptions:
    """The options with their own seed per window (independent permutations and folds)."""
    base = options or CheckOptions()
    return CheckOptions(
        permutations=base.permutations,
        classifier_permutations=base.classifier_permutations,
        bootstrap=base.bootstrap,
        folds=base.folds,
        seed=seed,
        alpha=base.alpha,
        feature_options=dict(base.feature_options),
    )


def alarm_table(
    reference: ReferenceProfile,
    clean: pd.DataFrame,
    shifted: Sequence[tuple[str, float, pd.DataFrame]],
    *,
    window: int,
    n_windows: int,
    max_windows: int = 5,
    repeats: int = 5,
    seed: int = 0,
    options: CheckOptions | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """The false-alarm rates and one detection-delay row per (shift, strength)."""
    rates = false_alarm_rate(
        reference, clean, window=window, n_windows=n_windows, seed=seed, options=options
    )
    rows = []
    for shift, strength, frame in shifted:
        delay = detection_delay(
            reference,
            frame,
            window=window,
            max_windows=max_windows,
            repeats=repeats,
            seed=seed,
            options=options,
        )
        rows.append(
            {
                "shift": shift,
                "strength": strength,
                "detected": delay["detected"],
                "mean_delay_windows": delay["mean"],
                "worst_delay_windows": delay["worst"],
                "first_tests": ", ".join(delay["first_tests"]),
            }
        )
    return rates, pd.DataFrame(rows)
