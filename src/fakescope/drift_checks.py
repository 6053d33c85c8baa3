"""One drift verdict per window: every test, against one named reference.

The Monitor page, the CLI, the API, the alerts and the downloadable report all ask the same
question: does this window of predictions differ from the reference? :func:`check_window`
answers it with four tests, each named with its reference and window:

========================  ==========================================================  ============
test                      what it compares                                            alarms when
========================  ==========================================================  ============
``features``              image features (brightness, blur, JPEG quality, ...):       share >= 0.5
                          KS and PSI per feature (``fakescope.drift.drift_report``)
``prediction``            the fake probability: two-sample KS (Rabanser et al.'s      p <= level
                          "Failing Loudly": output drift is a strong, cheap signal)
``embedding_mmd``         the model's embeddings: MMD with a permutation test         p <= level
``embedding_classifier``  the model's embeddings: a domain classifier's ROC AUC       AUC > 0.55
                          (p-value by permutations that refit the classifier)         and p <= level
========================  ==========================================================  ============

The window alarms when any test does. ``level`` is :data:`ALPHA` divided by the number of
single tests run (Bonferroni over prediction, MMD and classifier), so a window drawn from the
reference's own distribution alarms on them with probability at most :data:`ALPHA`; the feature
test has its own multiple-testing correction. The false-alarm rate and the detection delay that
follow are measured in :mod:`fakescope.drift_eval` and reported in docs/monitoring.md.

:func:`check_over_time` runs the same check on consecutive windows: each window against the
reference, never windows against each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fakescope.drift import (
    PREDICTION_COLUMN,
    DriftReport,
    ReferenceProfile,
    drift_report,
    embeddings_of,
    ks_test,
)
from fakescope.drift_stats import domain_classifier_test, mmd_test
from fakescope.errors import DriftError

ALPHA = 0.05
AUC_THRESHOLD = 0.55
TESTS = ("features", "prediction", "embedding_mmd", "embedding_classifier")
TEST_LABELS = {
    "features": "image features (KS + PSI, share of features)",
    "prediction": "fake probability (KS)",
    "embedding_mmd": "model embeddings (MMD, permutation test)",
    "embedding_classifier": "model embeddings (domain classifier ROC AUC)",
}
DEFAULT_WINDOW = 200
# Below this many rows a window gets no verdict (the tests have too little power).
MIN_WINDOW = 30


@dataclass
class CheckOptions:
    """How hard the tests work; the page and the evaluation use the defaults."""

    permutations: int = 300
    # The classifier's permutations refit the cross-validation each time (~2 ms each): fewer.
    classifier_permutations: int = 100
    bootstrap: int = 200
    folds: int = 5
    seed: int = 0
    alpha: float = ALPHA
    feature_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TestResult:
    """One test on one window."""

    test: str
    score: float | None
    threshold: str
    drifted: bool | None
    detail: str = ""


@dataclass
class WindowCheck:
    """Every test on one window against one reference."""

    reference_name: str
    reference_description: str
    window_start: Any
    window_end: Any
    n: int
    level: float
    features: DriftReport
    results: list[TestResult]

    @property
    def verdicts(self) -> dict[str, bool | None]:
        return {r.test: r.drifted for r in self.results}

    @property
    def alarms(self) -> list[str]:
        """Names of the tests that alarmed."""
        return [r.test for r in self.results if r.drifted]

    @property
    def drifted(self) -> bool | None:
        """True when any test alarmed; None when no test could give a verdict."""
        known = [v for v in self.verdicts.values() if v is not None]
        return any(known) if known else None

    @property
    def window_label(self) -> str:
        """``200 predictions, 2026-01-01 09:00 - 10:12 UTC``."""
        if self.window_start is None:
            return f"{self.n:,} predictions"
        start, end = pd.Timestamp(self.window_start), pd.Timestamp(self.window_end)
        return f"{self.n:,} predictions, {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"

    @property
    def reference_label(self) -> str:
        return f"{self.reference_name} ({self.reference_description})"

    def to_frame(self) -> pd.DataFrame:
        """One row per test: test, compares, score, alarm rule, drifted, detail."""
        return pd.DataFrame(
            [
                {
                    "test": r.test,
                    "compares": TEST_LABELS[r.test],
                    "score": r.score,
                    "alarm when": r.threshold,
                    "drifted": r.drifted,
                    "detail": r.detail,
                }
                for r in self.results
            ]
        )


def _window_times(frame: pd.DataFrame) -> tuple[Any, Any]:
    if "recorded_at" not in frame.columns or frame.empty:
        return None, None
    return frame["recorded_at"].min(), frame["recorded_at"].max()


def _prediction_result(reference: ReferenceProfile, frame: pd.DataFrame, level: float):
    rule = f"p <= {level:.4f}"
    if reference.fake_probability is None or PREDICTION_COLUMN not in frame.columns:
        return TestResult("prediction", None, rule, None, "no fake probabilities to compare")
    ref = reference.cleaned(PREDICTION_COLUMN)
    cur = frame[PREDICTION_COLUMN].to_numpy(dtype="float64")
    cur = cur[np.isfinite(cur)]
    if min(len(ref), len(cur)) < MIN_WINDOW:
        return TestResult("prediction", None, rule, None, f"not enough data (n < {MIN_WINDOW})")
    p = ks_test(ref, cur)
    detail = f"mean {ref.mean():.3f} in the reference, {cur.mean():.3f} now"
    return TestResult("prediction", p, rule, p <= level, detail)


def _embedding_results(
    reference: ReferenceProfile, frame: pd.DataFrame, level: float, options: CheckOptions
) -> list[TestResult]:
    mmd_rule = f"p <= {level:.4f}"
    dc_rule = f"AUC > {AUC_THRESHOLD} and p <= {level:.4f}"
    note = None
    current = None
    if reference.embeddings is None:
        note = "the reference has no embeddings (rebuild it: fakescope reference build)"
    else:
        _, current = embeddings_of(frame, reference.embedding_space)
        if current is None:
            note = (
                f"no prediction in the window has embeddings of the reference's space "
                f"({reference.embedding_space})"
            )
        elif min(len(current), len(reference.embeddings)) < MIN_WINDOW:
            note = f"not enough data (n < {MIN_WINDOW})"
    if note is not None:
        return [
            TestResult("embedding_mmd", None, mmd_rule, None, note),
            TestResult("embedding_classifier", None, dc_rule, None, note),
        ]
    mmd = mmd_test(
        reference.embeddings,
        current,
        permutations=options.permutations,
        seed=options.seed,
        threshold=level,
    )
    classifier = domain_classifier_test(
        reference.embeddings,
        current,
        folds=options.folds,
        seed=options.seed,
        permutations=options.classifier_permutations,
        bootstrap=options.bootstrap,
        auc_threshold=AUC_THRESHOLD,
        alpha=level,
    )
    return [
        TestResult(
            "embedding_mmd",
            mmd.p_value,
            mmd_rule,
            mmd.drifted,
            f"MMD² {mmd.statistic:.4f}, {len(current)} vs {len(reference.embeddings)} embeddings",
        ),
        TestResult(
            "embedding_classifier",
            classifier.auc,
            dc_rule,
            classifier.drifted,
            (
                f"AUC {classifier.auc:.3f} (95 % CI {classifier.ci_low:.3f}-"
                f"{classifier.ci_high:.3f}), p = {classifier.p_value:.4f}"
                if classifier.p_value is not None
                else "no verdict"
            ),
        ),
    ]


def check_window(
    reference: ReferenceProfile, frame: pd.DataFrame, options: CheckOptions | None = None
) -> WindowCheck:
    """Every drift test on ``frame`` (rows of the log, with embeddings) against ``reference``.

    Raises:
        DriftError: the frame is not a DataFrame, or the options are unusable.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DriftError(f"current data must be a pandas DataFrame, got {type(frame).__name__}")
    options = options or CheckOptions()
    if not 0 < options.alpha < 1:
        raise DriftError(f"alpha must be in (0, 1), got {options.alpha}")
    level = options.alpha / 3
    features = drift_report(reference, frame, **options.feature_options)
    feature_result = TestResult(
        "features",
        features.drift_share,
        f"share >= {features.share_threshold:.0%}",
        features.dataset_drifted,
        (
            "drifted: " + (", ".join(features.drifted_features) or "none")
            if features.drift_share is not None
            else features.status
        ),
    )
    results = [
        feature_result,
        _prediction_result(reference, frame, level),
        *_embedding_results(reference, frame, level, options),
    ]
    start, end = _window_times(frame)
    return WindowCheck(
        reference.name, reference.description, start, end, len(frame), level, features, results
    )


CHECK_OVER_TIME_COLUMNS = (
    "window_start",
    "window_end",
    "n",
    "drifted",
    "alarms",
    "features",
    "prediction",
    "embedding_mmd",
    "embedding_classifier",
    "feature_share",
    "prediction_p",
    "mmd_p",
    "classifier_auc",
)


def check_over_time(
    reference: ReferenceProfile,
    predictions: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    options: CheckOptions | None = None,
) -> pd.DataFrame:
    """:func:`check_window` on consecutive windows of ``window`` rows (oldest first).

    A last window shorter than :data:`MIN_WINDOW` rows is left out.

    Returns:
        Columns :data:`CHECK_OVER_TIME_COLUMNS`, one row per window.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < MIN_WINDOW:
        raise DriftError(f"a window must be a whole number of at least {MIN_WINDOW} rows")
    rows = []
    if predictions is not None and len(predictions):
        ordered = (
            predictions.sort_values("recorded_at", kind="stable")
            if "recorded_at" in predictions.columns
            else predictions
        )
        for first in range(0, len(ordered), window):
            chunk = ordered.iloc[first : first + window]
            if len(chunk) < MIN_WINDOW:
                continue
            check = check_window(reference, chunk, options)
            scores = {r.test: r.score for r in check.results}
            rows.append(
                {
                    "window_start": check.window_start,
                    "window_end": check.window_end,
                    "n": check.n,
                    "drifted": check.drifted,
                    "alarms": ", ".join(check.alarms),
                    **check.verdicts,
                    "feature_share": scores["features"],
                    "prediction_p": scores["prediction"],
                    "mmd_p": scores["embedding_mmd"],
                    "classifier_auc": scores["embedding_classifier"],
                }
            )
    return pd.DataFrame(rows, columns=list(CHECK_OVER_TIME_COLUMNS))
