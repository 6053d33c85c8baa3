"""One verdict per window, naming its reference: every test, Bonferroni level, windows over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fakescope.drift import ReferenceProfile
from fakescope.drift_checks import (
    ALPHA,
    CHECK_OVER_TIME_COLUMNS,
    TESTS,
    CheckOptions,
    check_over_time,
    check_window,
)
from fakescope.errors import DriftError
from fakescope.images import FEATURE_NAMES

pytestmark = pytest.mark.unit

SPACE = "pca8-000000000000"
FAST = CheckOptions(permutations=99, bootstrap=50, folds=3)


def rows(
    n: int,
    *,
    seed: int,
    brightness_shift: float = 0.0,
    embedding_shift: float = 0.0,
    probability_shift: float = 0.0,
    start: str = "2026-01-01",
) -> pd.DataFrame:
    """Log-like rows: every feature, a fake probability, 8-d embeddings of one space."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(0.5, 0.1, n) for name in FEATURE_NAMES})
    frame["brightness"] += brightness_shift
    if brightness_shift:
        # A real brightness change moves the features computed from it too.
        for name in list(FEATURE_NAMES)[:6]:
            frame[name] += brightness_shift
    frame["fake_probability"] = np.clip(rng.beta(2, 5, n) + probability_shift, 0, 1)
    embeddings = rng.normal(0, 1, (n, 8))
    embeddings[:, :2] += embedding_shift
    frame["embedding"] = list(embeddings.astype(np.float32))
    frame["embedding_space"] = SPACE
    frame["recorded_at"] = pd.date_range(start, periods=n, freq="1min", tz="UTC")
    frame["id"] = np.arange(n)
    return frame


@pytest.fixture(scope="module")
def reference() -> ReferenceProfile:
    return ReferenceProfile.from_frame(
        rows(300, seed=1), metadata={"name": "ref-a", "description": "300 test rows"}
    )


def test_a_window_like_the_reference_does_not_alarm_and_names_both(reference) -> None:
    check = check_window(reference, rows(200, seed=2), FAST)
    assert check.drifted is False and check.alarms == []
    assert set(check.verdicts) == set(TESTS)
    assert check.level == pytest.approx(ALPHA / 3)
    assert check.reference_label == "ref-a (300 test rows)"
    assert check.window_label.startswith("200 predictions, 2026-01-01 00:00 - 2026-01-01 03:19")
    table = check.to_frame()
    assert list(table["test"]) == list(TESTS)
    assert table["alarm when"].iloc[1] == f"p <= {ALPHA / 3:.4f}"


def test_each_kind_of_shift_alarms_on_its_own_test(reference) -> None:
    only_embedding = check_window(reference, rows(200, seed=3, embedding_shift=0.6), FAST)
    assert "embedding_mmd" in only_embedding.alarms
    assert "embedding_classifier" in only_embedding.alarms
    assert "features" not in only_embedding.alarms and "prediction" not in only_embedding.alarms
    only_output = check_window(reference, rows(200, seed=4, probability_shift=0.25), FAST)
    assert only_output.alarms == ["prediction"]
    inputs = check_window(reference, rows(200, seed=5, brightness_shift=0.3), FAST)
    assert "features" in inputs.alarms and inputs.drifted is True


def test_embeddings_of_another_space_are_not_compared(reference) -> None:
    frame = rows(200, seed=6, embedding_shift=3.0)
    frame["embedding_space"] = "random8-111111111111"
    check = check_window(reference, frame, FAST)
    results = {r.test: r for r in check.results}
    assert results["embedding_mmd"].drifted is None
    assert "reference's space" in results["embedding_mmd"].detail
    assert check.drifted is False  # the other tests still judge the window


def test_a_reference_without_embeddings_says_how_to_get_them() -> None:
    old = ReferenceProfile.from_frame(rows(100, seed=7).drop(columns=["embedding"]))
    check = check_window(old, rows(100, seed=8), FAST)
    detail = {r.test: r.detail for r in check.results}["embedding_classifier"]
    assert "fakescope reference build" in detail


def test_too_small_a_window_gives_no_verdict(reference) -> None:
    check = check_window(reference, rows(10, seed=9), FAST)
    assert check.drifted is None


def test_over_time_compares_every_window_with_the_reference(reference) -> None:
    # Three quiet windows, then three with brighter images: the alarms start with the shift,
    # which a chart of windows compared with each other would not show.
    stream = pd.concat(
        [
            rows(300, seed=10),
            rows(300, seed=11, brightness_shift=0.3, start="2026-01-02"),
        ],
        ignore_index=True,
    )
    history = check_over_time(reference, stream, window=100, options=FAST)
    assert list(history.columns) == list(CHECK_OVER_TIME_COLUMNS)
    assert len(history) == 6
    # The feature test alarms exactly on the shifted windows; every shifted window alarms.
    assert history["features"].tolist() == [False, False, False, True, True, True]
    assert history["drifted"].tolist()[3:] == [True, True, True]
    assert history["window_start"].iloc[3] == pd.Timestamp("2026-01-02", tz="UTC")


def test_over_time_drops_a_short_last_window_and_refuses_tiny_windows(reference) -> None:
    history = check_over_time(reference, rows(220, seed=12), window=100, options=FAST)
    assert len(history) == 2
    with pytest.raises(DriftError, match="at least 30 rows"):
        check_over_time(reference, rows(50, seed=13), window=10)
    assert check_over_time(reference, rows(0, seed=14), window=100).empty
