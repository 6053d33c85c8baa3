"""Unit tests of the drift tests, corrections, reference profiles and drift reports."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fakescope.drift import (
    DRIFT_OVER_TIME_COLUMNS,
    KS_TEST,
    PSI_SMOOTHING,
    PSI_TEST,
    ReferenceProfile,
    adjust_p_values,
    drift_over_time,
    drift_report,
    get_stat_test,
    ks_test,
    psi,
    psi_band,
)
from fakescope.errors import DriftError
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction

pytestmark = pytest.mark.unit

FEATURES = ("brightness", "contrast", "sharpness", "jpeg_quality")
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def sample_frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    frame = pd.DataFrame({name: rng.normal(shift, 1.0, n) for name in FEATURES})
    frame["fake_probability"] = np.clip(rng.beta(2, 5, n) + shift / 4, 0, 1)
    frame["recorded_at"] = pd.date_range(T0, periods=n, freq="1min", tz="UTC")
    return frame


@pytest.fixture
def reference() -> ReferenceProfile:
    return ReferenceProfile.from_frame(
        sample_frame(np.random.default_rng(0), 1000), feature_names=FEATURES
    )


# ------------------------------------------------------------------------------------------ ks


def test_ks_test_tiny_sample_exact_by_hand() -> None:
    # Fully separated samples of 3: D = 1; exactly 2 of the C(6, 3) = 20 orderings reach it.
    assert ks_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(2 / 20, abs=1e-12)


def test_ks_test_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.normal(0, 1, 200), rng.normal(0.3, 1, 150)

    assert ks_test(reference, current) == pytest.approx(
        stats.ks_2samp(reference, current).pvalue, abs=1e-12
    )


def test_ks_test_drops_inf_nan_and_none() -> None:
    dirty = ks_test([1.0, np.inf, 2.0, np.nan, 3.0], [4.0, None, 5.0, -np.inf, 6.0])

    assert dirty == ks_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])


def test_ks_test_all_missing_is_not_enough_data() -> None:
    with pytest.raises(DriftError, match="not enough data: reference has 0"):
        ks_test([np.nan, np.inf, None], [1.0, 2.0])


@pytest.mark.parametrize("bad", [["a", "b"], np.array(["1.5", "2"]), [1.0, "x"]])
def test_ks_test_non_numeric_data_is_refused(bad: object) -> None:
    with pytest.raises(DriftError, match="current must be numbers"):
        ks_test([1.0, 2.0], bad)


def test_ks_test_two_dimensional_data_is_refused() -> None:
    with pytest.raises(DriftError, match="one-dimensional"):
        ks_test(np.ones((3, 2)), [1.0])


# ----------------------------------------------------------------------------------------- psi


def test_psi_tiny_example_by_hand() -> None:
    # Two bins cut at the reference median 2.5: reference 50/50, current 75/25.
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)

    assert psi([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 4.0], bins=2) == pytest.approx(
        expected, abs=1e-5
    )
    assert expected == pytest.approx(0.274653, abs=1e-5)


def test_psi_empty_bin_is_smoothed() -> None:
    # The current sample leaves the upper bin empty: its share becomes PSI_SMOOTHING.
    eps = PSI_SMOOTHING
    expected = (1.0 - 0.5) * math.log(1.0 / 0.5) + (eps - 0.5) * math.log(eps / 0.5)

    assert psi([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 2.0], bins=2) == pytest.approx(
        expected, abs=1e-5
    )
    assert expected == pytest.approx(4.604319, abs=1e-5)


def test_psi_current_beyond_reference_range_lands_in_outer_bins() -> None:
    # Everything above the reference maximum goes to the top bin, everything below to the first.
    assert psi([1.0, 2.0, 3.0, 4.0], [-10.0, -20.0, 50.0, 60.0], bins=2) == 0.0


def test_psi_identical_samples_is_zero() -> None:
    values = np.random.default_rng(3).normal(size=500)

    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)


def test_psi_constant_reference_still_sees_change_on_both_sides() -> None:
    assert psi([5.0] * 40, [5.0] * 40) == 0.0
    assert psi([5.0] * 40, [7.0] * 40) > 0.25
    assert psi([5.0] * 40, [3.0] * 40) > 0.25


@pytest.mark.parametrize("bins", [1, 0, 2.5, True])
def test_psi_bad_bins_is_refused(bins: object) -> None:
    with pytest.raises(DriftError, match="bins must be a whole number >= 2"):
        psi([1.0, 2.0], [1.0, 2.0], bins=bins)  # type: ignore[arg-type]


def test_psi_bands() -> None:
    assert [psi_band(s) for s in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0, None)] == [
        "stable",
        "stable",
        "moderate",
        "moderate",
        "significant",
        "significant",
        None,
    ]


# ------------------------------------------------------------------------------------ registry


def test_stat_test_descriptions_point_the_right_way() -> None:
    assert (KS_TEST.default_threshold, KS_TEST.drifted_when, KS_TEST.allowed_data) == (
        0.05,
        "<=",
        ("numerical",),
    )
    assert (PSI_TEST.default_threshold, PSI_TEST.drifted_when) == (0.25, ">=")
    assert KS_TEST.drifted(0.05) and not KS_TEST.drifted(0.0501)
    assert PSI_TEST.drifted(0.25) and not PSI_TEST.drifted(0.2499)
    assert PSI_TEST.drifted(0.15, threshold=0.1)


def test_get_stat_test_by_name() -> None:
    assert get_stat_test("ks") is KS_TEST and get_stat_test("psi") is PSI_TEST
    assert get_stat_test(PSI_TEST) is PSI_TEST


def test_get_stat_test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(DriftError, match="unknown drift test 'chi2'; known tests: ks, psi"):
        get_stat_test("chi2")


# --------------------------------------------------------------------------------- corrections


def test_bh_correction_on_known_p_values() -> None:
    # Sorted 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4 = 0.02, 0.02, 0.04, 0.04
    p_values = [0.01, 0.04, 0.03, 0.005]

    adjusted = adjust_p_values(p_values, "bh")

    assert adjusted.tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjusted == pytest.approx(stats.false_discovery_control(p_values, method="bh"))


def test_bh_correction_is_monotone() -> None:
    # x3/1, x3/2, x3/3 gives 1.5, 0.9, 0.9: the smallest may not pass a larger one -> 0.9.
    assert adjust_p_values([0.5, 0.6, 0.9], "bh").tolist() == pytest.approx([0.9, 0.9, 0.9])
    # 0.6, 0.75, 0.6: the middle one is brought down to the last one's 0.6.
    assert adjust_p_values([0.2, 0.5, 0.6], "bh").tolist() == pytest.approx([0.6, 0.6, 0.6])
    assert adjust_p_values([0.01, 0.02], "bh").tolist() == pytest.approx([0.02, 0.02])


def test_bonferroni_correction_multiplies_and_caps() -> None:
    assert adjust_p_values([0.01, 0.2, 0.5], "bonferroni").tolist() == pytest.approx(
        [0.03, 0.6, 1.0]
    )


def test_no_correction_keeps_p_values() -> None:
    assert adjust_p_values([0.01, 0.2], None).tolist() == [0.01, 0.2]


def test_unknown_correction_is_refused() -> None:
    with pytest.raises(DriftError, match="unknown p-value correction 'holm'"):
        adjust_p_values([0.1], "holm")


# ------------------------------------------------------------------------------------ profiles


def test_reference_profile_json_round_trip_keeps_missing_values(tmp_path: Path) -> None:
    profile = ReferenceProfile.from_json(
        {
            "features": {"brightness": [0.1, 0.2], "jpeg_quality": [90, None]},
            "fake_probability": [0.3, 0.9],
            "n_images": 2,
            "model_version": "v3",
        }
    )

    path = profile.to_json(tmp_path / "reference_profile.json")
    data = json.loads(path.read_text())
    again = ReferenceProfile.from_json(path)

    assert data["features"]["jpeg_quality"] == [90.0, None]
    assert data["model_version"] == "v3"
    assert again.features["brightness"].tolist() == [0.1, 0.2]
    assert np.isnan(again.features["jpeg_quality"][1])
    assert again.fake_probability.tolist() == [0.3, 0.9]
    assert again.n_images == 2
    assert again.cleaned("jpeg_quality").tolist() == [90.0]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"fake_probability": [0.1]}, "must be a JSON object with 'features'"),
        ({"features": {"a": 3}}, "feature 'a' must be a list"),
        ({"features": {"a": ["x"]}}, "feature 'a' must be numbers or null"),
        ({"features": {}, "n_images": -1}, "'n_images' must be a whole number >= 0"),
        ({"features": {}, "fake_probability": "0.5"}, "'fake_probability' must be a list"),
    ],
)
def test_reference_profile_bad_json_says_what_is_expected(data: dict, message: str) -> None:
    with pytest.raises(DriftError, match=message):
        ReferenceProfile.from_json(data)


def test_reference_profile_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")

    with pytest.raises(DriftError, match="is not valid JSON"):
        ReferenceProfile.from_json(tmp_path / "broken.json")
    with pytest.raises(DriftError, match="cannot read reference profile"):
        ReferenceProfile.from_json(tmp_path / "missing.json")


def test_reference_profile_from_store_frame(tmp_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    for i in range(3):
        store.record_prediction(
            Prediction(
                verdict="real",
                fake_probability=0.1 * i,
                scores={"Fake": 0.1 * i},
                model_name="demo",
                model_version="v1",
                latency_ms=5.0,
                sha256="0" * 64,
                features={"width": 100.0 + i, "jpeg_quality": None if i == 1 else 90.0},
            ),
            source="cli",
        )

    profile = ReferenceProfile.from_frame(store.predictions())

    assert profile.n_images == 3
    assert profile.features["width"].tolist() == [100.0, 101.0, 102.0]
    assert profile.cleaned("jpeg_quality").tolist() == [90.0, 90.0]
    assert profile.fake_probability.tolist() == pytest.approx([0.0, 0.1, 0.2])


def test_reference_profile_from_frame_missing_column() -> None:
    with pytest.raises(DriftError, match="the frame has no column 'sharpness'"):
        ReferenceProfile.from_frame(pd.DataFrame({"width": [1.0]}), feature_names=["sharpness"])


# ------------------------------------------------------------------------------------- reports


def test_drift_report_same_distribution_does_not_drift(reference: ReferenceProfile) -> None:
    report = drift_report(reference, sample_frame(np.random.default_rng(1), 500))

    assert report.status == "ok"
    assert report.drift_share == 0.0 and report.dataset_drifted is False
    assert report.feature_drifted == {name: False for name in FEATURES}
    assert report.prediction_drifted is False
    assert len(report.features) == 2 * len(FEATURES) and len(report.prediction_drift) == 2
    assert report.n_reference == 1000 and report.n_current == 500


def test_drift_report_shifted_distribution_drifts(reference: ReferenceProfile) -> None:
    report = drift_report(reference, sample_frame(np.random.default_rng(1), 500, shift=1.0))

    assert report.drift_share == 1.0 and report.dataset_drifted is True
    assert report.drifted_features == list(FEATURES)
    assert report.prediction_drifted is True
    psi_bands = {r.band for r in report.features if r.test == "psi"}
    assert psi_bands == {"significant"}


def test_drift_report_share_threshold_decides_dataset_drift(
    reference: ReferenceProfile,
) -> None:
    current = sample_frame(np.random.default_rng(1), 500)
    current["brightness"] += 2.0  # one feature of four drifts

    assert drift_report(reference, current, drift_share=0.25).dataset_drifted is True
    low = drift_report(reference, current, drift_share=0.5)
    assert low.drift_share == 0.25 and low.dataset_drifted is False
    assert low.drifted_features == ["brightness"]


def test_drift_report_not_enough_data_gives_no_verdict(reference: ReferenceProfile) -> None:
    report = drift_report(reference, sample_frame(np.random.default_rng(1), 29))

    assert report.status == "not enough data (n < 30)"
    assert report.drift_share is None and report.dataset_drifted is None
    assert {r.status for r in report.features} == {"not enough data (n < 30)"}
    assert {r.drifted for r in report.features} == {None}
    assert {r.score for r in report.features} == {None}
    assert report.prediction_drifted is None


def test_drift_report_min_samples_is_configurable(reference: ReferenceProfile) -> None:
    report = drift_report(reference, sample_frame(np.random.default_rng(1), 29), min_samples=10)

    assert report.status == "ok" and report.drift_share is not None


def test_drift_report_missing_values_are_dropped(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 100)
    current.loc[current.index[:80], "jpeg_quality"] = np.nan  # PNGs have no JPEG quality
    current.loc[current.index[:5], "sharpness"] = np.inf

    report = drift_report(reference, current)
    by_feature = {(r.feature, r.test): r for r in report.features}

    assert by_feature["jpeg_quality", "ks"].n_current == 20
    assert by_feature["jpeg_quality", "ks"].status == "not enough data (n < 30)"
    assert by_feature["sharpness", "psi"].n_current == 95
    assert report.feature_drifted["jpeg_quality"] is None
    assert report.drift_share == 0.0  # share over the three features with a verdict


def test_drift_report_missing_feature_column(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 100).drop(columns=["contrast"])

    report = drift_report(reference, current)
    contrast = [r for r in report.features if r.feature == "contrast"]

    assert [r.status for r in contrast] == ["missing from current data"] * 2
    assert report.feature_drifted["contrast"] is None


def test_drift_report_non_numeric_current_column_is_refused(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 50)
    current["contrast"] = "high"

    with pytest.raises(DriftError, match="current column 'contrast' must be numbers"):
        drift_report(reference, current)


def test_drift_report_correction_adjusts_ks_scores(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 200)

    raw = drift_report(reference, current, correction=None)
    bh = drift_report(reference, current, correction="bh")
    bonferroni = drift_report(reference, current, correction="bonferroni")

    raw_ks = [r.score for r in raw.features if r.test == "ks"]
    assert [r.raw_score for r in bh.features if r.test == "ks"] == raw_ks
    assert [r.score for r in bh.features if r.test == "ks"] == pytest.approx(
        adjust_p_values(raw_ks, "bh")
    )
    assert [r.score for r in bonferroni.features if r.test == "ks"] == pytest.approx(
        np.minimum(np.array(raw_ks) * 4, 1.0)
    )
    # PSI is not a p-value: never corrected. Prediction drift is tested alone.
    assert [r.score for r in bh.features if r.test == "psi"] == [
        r.score for r in raw.features if r.test == "psi"
    ]
    assert bh.prediction_drift[0].score == raw.prediction_drift[0].score


def test_drift_report_ks_matches_function_on_same_data(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 300)

    report = drift_report(reference, current, tests=("ks",), correction=None)

    assert report.features[0].score == ks_test(
        reference.features["brightness"], current["brightness"]
    )


def test_drift_report_combine_any_versus_all(reference: ReferenceProfile) -> None:
    rng = np.random.default_rng(1)
    current = sample_frame(rng, 5000)
    # A small shift on many rows: KS calls it significant, PSI calls it immaterial.
    current["brightness"] = rng.normal(0.12, 1.0, 5000)

    strict = drift_report(reference, current, combine="all", correction=None)
    loose = drift_report(reference, current, combine="any", correction=None)
    results = {r.test: r for r in strict.features if r.feature == "brightness"}

    assert results["ks"].drifted is True and results["psi"].drifted is False
    assert strict.feature_drifted["brightness"] is False
    assert loose.feature_drifted["brightness"] is True


def test_drift_report_threshold_override(reference: ReferenceProfile) -> None:
    current = sample_frame(np.random.default_rng(1), 500)

    report = drift_report(reference, current, tests=("psi",), thresholds={"psi": 0.0})

    assert {r.threshold for r in report.features} == {0.0}
    assert report.dataset_drifted is True


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tests": ("ks", "wasserstein")}, "unknown drift test 'wasserstein'; known tests"),
        ({"tests": ()}, "give at least one drift test"),
        ({"correction": "holm"}, "unknown p-value correction 'holm'"),
        ({"drift_share": 0.0}, "drift_share must be in \\(0, 1\\]"),
        ({"min_samples": 0}, "min_samples must be a whole number >= 1"),
        ({"combine": "most"}, "combine must be 'all' or 'any'"),
        ({"thresholds": {"chi2": 0.1}}, "thresholds given for tests not run: chi2"),
        ({"features": ["width"]}, "the reference profile has no feature 'width'"),
    ],
)
def test_drift_report_bad_options_are_refused(
    reference: ReferenceProfile, options: dict, message: str
) -> None:
    with pytest.raises(DriftError, match=message):
        drift_report(reference, sample_frame(np.random.default_rng(1), 50), **options)


def test_drift_report_to_frame(reference: ReferenceProfile) -> None:
    frame = drift_report(reference, sample_frame(np.random.default_rng(1), 200)).to_frame()

    assert list(frame.columns[:4]) == ["kind", "feature", "test", "score"]
    assert len(frame) == 2 * len(FEATURES) + 2
    assert frame["kind"].tolist()[-2:] == ["prediction", "prediction"]
    assert frame["feature"].tolist()[-1] == "fake_probability"
    assert set(frame.loc[frame["test"] == "psi", "drifted_when"]) == {">="}


def test_drift_over_time_time_windows(reference: ReferenceProfile) -> None:
    rng = np.random.default_rng(1)
    first = sample_frame(rng, 60)
    second = sample_frame(rng, 60, shift=1.5)
    second["recorded_at"] = first["recorded_at"] + timedelta(hours=1)
    predictions = pd.concat([first, second], ignore_index=True)

    table = drift_over_time(reference, predictions, window="1h")

    assert list(table.columns[: len(DRIFT_OVER_TIME_COLUMNS)]) == list(DRIFT_OVER_TIME_COLUMNS)
    assert table["window_start"].tolist() == [
        pd.Timestamp(T0),
        pd.Timestamp(T0 + timedelta(1 / 24)),
    ]
    assert table["n"].tolist() == [60, 60]
    assert table["dataset_drifted"].tolist() == [False, True]
    assert "brightness_ks" in table and "fake_probability_psi" in table


def test_drift_over_time_row_windows(reference: ReferenceProfile) -> None:
    predictions = sample_frame(np.random.default_rng(1), 100)

    table = drift_over_time(reference, predictions, window=40, min_samples=30)

    assert table["n"].tolist() == [40, 40, 20]
    assert table["status"].tolist() == ["ok", "ok", "not enough data (n < 30)"]
    assert table["window_start"].iloc[1] == predictions["recorded_at"].iloc[40]
    assert table["window_end"].iloc[2] == predictions["recorded_at"].iloc[99]


def test_drift_over_time_empty_and_bad_window(reference: ReferenceProfile) -> None:
    empty = drift_over_time(reference, sample_frame(np.random.default_rng(1), 0))

    assert empty.empty and list(empty.columns) == list(DRIFT_OVER_TIME_COLUMNS)
    with pytest.raises(DriftError, match="window must be a fixed time span"):
        drift_over_time(reference, sample_frame(np.random.default_rng(1), 10), window="often")
    with pytest.raises(DriftError, match="a window in rows must be at least 1"):
        drift_over_time(reference, sample_frame(np.random.default_rng(1), 10), window=0)
