"""The shipped drift alarm, measured: quiet on traffic like its reference, fast on shifted traffic.

The active demo model's reference (``models/<version>/reference_profile.json``) was built by
``fakescope reference build`` from the project's pool; these streams come from the same pool with
other seeds, scored by the serving predictor, then cut into windows (``fakescope.drift_eval``).
Seeds are fixed, so the figures are reproducible; the bounds leave a margin over the figures in
docs/monitoring.md, which come from ``scripts/measure_drift_alarms.py`` with larger samples.
"""

from __future__ import annotations

import pandas as pd
import pytest

from fakescope.config import Settings
from fakescope.drift_checks import TESTS, CheckOptions
from fakescope.drift_eval import detection_delay, false_alarm_rate, score_stream
from fakescope.feedback import estimated_performance_over_time, performance_over_time
from fakescope.predictor import Predictor
from fakescope.reference import ReferenceChoice, load_reference
from fakescope.registry import Registry
from fakescope.traffic import generate_images, project_pool, project_pool_folders

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WINDOW = 100
OPTIONS = CheckOptions(permutations=200, bootstrap=100)


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> tuple[Predictor, object, object]:
    if project_pool_folders() is None:
        pytest.skip("the project's pool (tests/quality) is not in this checkout")
    # The committed registry, a private graph cache; nothing from the developer's environment.
    settings = Settings.from_env({"FAKESCOPE_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))})
    registry = Registry(settings.registry_dir)
    version = registry.active_version()
    predictor = Predictor(registry.load(version, settings), settings)
    reference = load_reference(ReferenceChoice.model(), registry, None, version)
    return predictor, reference, project_pool()


def test_the_shipped_reference_was_built_from_served_files_with_embeddings(serving) -> None:
    predictor, reference, _ = serving
    assert reference.metadata.get("serving_conditions") is True
    assert reference.embeddings is not None and reference.n_images >= 300
    # The model serves in the reference's embedding space, so the embedding tests can run.
    assert predictor.projection.space == reference.embedding_space


@pytest.fixture(scope="module")
def clean(serving) -> pd.DataFrame:
    predictor, _, pool = serving
    return score_stream(predictor, generate_images(pool, 300, seed=101))


def test_unshifted_traffic_rarely_alarms(serving, clean: pd.DataFrame) -> None:
    _, reference, _ = serving
    rates = false_alarm_rate(reference, clean, window=WINDOW, n_windows=30, seed=3, options=OPTIONS)
    # Nominal: at most 5 % for the three single tests together (Bonferroni) plus the feature
    # test's own rate; measured 0 of 100 windows (docs/monitoring.md).
    assert rates["any"] <= 0.15, rates
    for test in TESTS:
        assert rates[test] <= 0.10, (test, rates)


def test_label_free_estimate_tracks_labelled_accuracy_on_unshifted_traffic(
    clean: pd.DataFrame,
) -> None:
    # The pool knows each image's truth: the accuracy a labeller would measure.
    timed = clean.assign(recorded_at=pd.Timestamp("2026-01-01", tz="UTC"))
    measured = performance_over_time(timed, len(timed)).iloc[0]
    estimated = estimated_performance_over_time(timed, len(timed)).iloc[0]
    assert measured["n_decided"] == estimated["n_decided"] > 200
    # Measured with 800 images: 0.802 labelled, 0.824 estimated (docs/monitoring.md).
    assert abs(estimated["estimated_accuracy"] - measured["accuracy"]) <= 0.1


@pytest.mark.parametrize(
    ("shift", "strength"),
    [("brightness", 1.0), ("blur", 1.0), ("jpeg", 1.0), ("resize", 1.0), ("fake-share", 0.9)],
)
def test_each_kind_of_shift_alarms_within_two_windows(serving, shift: str, strength: float):
    predictor, reference, pool = serving
    shifted = score_stream(
        predictor, generate_images(pool, WINDOW, shift=shift, strength=strength, seed=202)
    )
    delay = detection_delay(
        reference, shifted, window=WINDOW, max_windows=2, repeats=2, seed=5, options=OPTIONS
    )
    assert delay["detected"] == 1.0, delay
    assert delay["worst"] <= 2, delay
