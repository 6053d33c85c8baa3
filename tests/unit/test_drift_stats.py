"""Unit tests of the multivariate drift tests on embeddings: MMD and the domain classifier.

Each statistic is checked against an independent implementation written here (naive loops,
scikit-learn), then for behaviour: calibrated under no drift, a small shift detected, inputs
cleaned and checked.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import PredefinedSplit, StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fakescope.drift_stats import (
    DOMAIN_CLASSIFIER_TEST,
    MMD_TEST,
    MULTIVARIATE_TESTS,
    DomainClassifierResult,
    MMDResult,
    domain_classifier_test,
    fit_logistic_regression,
    get_multivariate_test,
    median_heuristic,
    mmd_test,
)
from fakescope.errors import DriftError

pytestmark = pytest.mark.unit

NULL_TRIALS = 200


def gaussian_pair(
    seed: int, n_ref: int, n_cur: int, d: int, shift: float = 0.0, shifted_dims: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal reference and current rows; ``shift`` added to the first dims of current."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(n_ref, d))
    current = rng.normal(size=(n_cur, d))
    current[:, :shifted_dims] += shift
    return reference, current


@pytest.fixture(scope="module")
def shifted() -> tuple[np.ndarray, np.ndarray]:
    """n = 200 each, d = 32, a shift of 0.5 standard deviations in 3 dims."""
    return gaussian_pair(7, 200, 200, 32, shift=0.5, shifted_dims=3)


@pytest.fixture(scope="module")
def shifted_classifier(shifted: tuple[np.ndarray, np.ndarray]) -> DomainClassifierResult:
    """The domain classifier with its defaults on the shifted example."""
    return domain_classifier_test(*shifted)


# ------------------------------------------------------------- independent reference versions


def naive_mmd2(x: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """Gretton et al. (2012) eq. 3, one kernel evaluation at a time, sums over i != j."""

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return math.exp(-sum((ai - bi) ** 2 for ai, bi in zip(a, b)) / (2 * sigma**2))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def naive_mmd_p_value(
    x: np.ndarray, y: np.ndarray, sigma: float, permutations: int, seed: int
) -> float:
    """The permutation test recomputed from scratch for each of the documented permutations."""
    pooled = np.vstack([x, y])
    observed = naive_mmd2(x, y, sigma)
    rng = np.random.default_rng(seed)
    count = 0
    for _ in range(permutations):
        order = rng.permutation(len(pooled))
        count += naive_mmd2(pooled[order[: len(x)]], pooled[order[len(x) :]], sigma) >= observed
    return (1 + count) / (1 + permutations)


def pairwise_auc(current_scores: np.ndarray, reference_scores: np.ndarray) -> float:
    """AUC as the share of (current, reference) pairs ordered right, ties counting half."""
    greater = (current_scores[:, None] > reference_scores[None, :]).mean()
    ties = (current_scores[:, None] == reference_scores[None, :]).mean()
    return float(greater + 0.5 * ties)


def sklearn_out_of_fold_scores(
    features: np.ndarray, labels: np.ndarray, fold_ids: np.ndarray
) -> np.ndarray:
    """Out-of-fold log-odds of a StandardScaler + LogisticRegression(C=1) pipeline."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000))
    return cross_val_predict(
        model, features, labels, cv=PredefinedSplit(fold_ids), method="decision_function"
    )


def sklearn_out_of_fold_auc(
    features: np.ndarray, labels: np.ndarray, fold_ids: np.ndarray
) -> float:
    """Out-of-fold AUC of the scikit-learn pipeline on the given folds."""
    return float(roc_auc_score(labels, sklearn_out_of_fold_scores(features, labels, fold_ids)))


# ------------------------------------------------------------------------------------- MMD


@pytest.mark.parametrize("shift", [0.0, 0.8])
def test_mmd_statistic_equals_naive_double_loop(shift: float) -> None:
    reference, current = gaussian_pair(3, 22, 25, 3, shift=shift, shifted_dims=2)

    result = mmd_test(reference, current, bandwidth=1.3, permutations=19)

    assert result.statistic == pytest.approx(naive_mmd2(reference, current, 1.3), abs=1e-10)
    assert result.bandwidth == 1.3


def test_mmd_statistic_equals_naive_double_loop_with_median_bandwidth() -> None:
    reference, current = gaussian_pair(4, 21, 20, 2, shift=0.5, shifted_dims=1)

    result = mmd_test(reference, current, permutations=19)

    pooled = np.vstack([reference, current])
    distances = [
        math.dist(pooled[i], pooled[j])
        for i in range(len(pooled))
        for j in range(i + 1, len(pooled))
    ]
    assert result.bandwidth == pytest.approx(float(np.median(distances)), abs=1e-12)
    assert result.statistic == pytest.approx(
        naive_mmd2(reference, current, result.bandwidth), abs=1e-10
    )


def test_mmd_p_value_equals_naive_permutation_loop() -> None:
    reference, current = gaussian_pair(11, 20, 22, 2, shift=0.35, shifted_dims=2)

    result = mmd_test(reference, current, bandwidth=1.5, permutations=99, seed=5)

    naive = naive_mmd_p_value(reference, current, 1.5, permutations=99, seed=5)
    assert result.p_value == pytest.approx(naive, abs=1e-12)
    # Neither 1/(1+permutations) nor 1: the comparison exercises the counting.
    assert 0.02 < naive < 0.9


def test_median_heuristic_on_a_hand_made_example() -> None:
    reference = [[0.0, 0.0], [3.0, 0.0]]
    current = [[0.0, 4.0], [3.0, 4.0]]
    # Pairwise distances: 3, 3, 4, 4, 5, 5 -> median 4.

    assert median_heuristic(reference + current) == 4.0
    result = mmd_test(reference, current, permutations=19, min_samples=2)
    assert result.bandwidth == 4.0


def test_median_heuristic_falls_back_when_most_pairs_are_duplicates() -> None:
    # Four identical rows and one at distance 2: 6 of 10 distances are 0, the median too.
    assert median_heuristic([[0.0]] * 4 + [[2.0]]) == 2.0
    assert median_heuristic([[1.0, 1.0]] * 5) == 1.0
    with pytest.raises(DriftError, match="at least 2 rows"):
        median_heuristic([[1.0, 2.0]])


def test_mmd_identical_constant_rows_give_no_drift() -> None:
    result = mmd_test(np.ones((25, 4)), np.ones((30, 4)), permutations=99)

    assert result.statistic == 0.0
    assert result.p_value == 1.0
    assert result.drifted is False


def test_mmd_same_seed_same_result_other_seed_other_permutations() -> None:
    reference, current = gaussian_pair(5, 40, 40, 4, shift=0.3, shifted_dims=4)

    first = mmd_test(reference, current, seed=1)
    again = mmd_test(reference, current, seed=1)
    other = [mmd_test(reference, current, seed=s).p_value for s in range(2, 6)]

    assert first == again
    assert any(p != first.p_value for p in other)


def test_mmd_p_values_are_calibrated_without_drift() -> None:
    p_values = [
        mmd_test(*gaussian_pair(1000 + trial, 20, 20, 4), permutations=99, seed=trial).p_value
        for trial in range(NULL_TRIALS)
    ]

    rejection_rate = np.mean(np.array(p_values) <= 0.05)
    assert 0.01 <= rejection_rate <= 0.10


def test_mmd_detects_a_half_sigma_shift_in_three_of_32_dims(shifted) -> None:
    result = mmd_test(*shifted)

    assert result.p_value < 0.01
    assert result.drifted is True
    assert result.statistic > 0
    assert (result.n_reference, result.n_current, result.permutations) == (200, 200, 500)


def test_mmd_500_permutations_on_600_rows_take_well_under_a_second() -> None:
    reference, current = gaussian_pair(8, 400, 200, 32)
    mmd_test(reference[:50], current[:50])  # warm up BLAS threads

    started = time.perf_counter()
    mmd_test(reference, current, permutations=500)

    assert time.perf_counter() - started < 1.0


# ------------------------------------------------------------------------ domain classifier


def test_domain_classifier_auc_equals_sklearn_and_mann_whitney_on_its_scores() -> None:
    reference, current = gaussian_pair(12, 60, 45, 5, shift=0.4, shifted_dims=2)

    result = domain_classifier_test(reference, current, bootstrap=50, permutations=19)

    assert result.auc == pytest.approx(roc_auc_score(result.labels, result.scores), abs=1e-12)
    current_scores = result.scores[result.labels == 1]
    reference_scores = result.scores[result.labels == 0]
    u = stats.mannwhitneyu(current_scores, reference_scores, alternative="greater").statistic
    assert result.auc == pytest.approx(u / (45 * 60), abs=1e-12)
    assert result.auc == pytest.approx(pairwise_auc(current_scores, reference_scores), abs=1e-12)


def test_logistic_regression_matches_sklearn() -> None:
    reference, current = gaussian_pair(13, 80, 70, 6, shift=0.6, shifted_dims=3)
    features = StandardScaler().fit_transform(np.vstack([reference, current]))
    labels = np.r_[np.zeros(80), np.ones(70)]

    coefficients, intercept = fit_logistic_regression(features, labels)

    sk = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(features, labels)
    np.testing.assert_allclose(coefficients, sk.coef_[0], atol=1e-6)
    assert intercept == pytest.approx(sk.intercept_[0], abs=1e-6)


def test_domain_classifier_auc_matches_sklearn_pipeline_on_the_same_folds(
    shifted, shifted_classifier
) -> None:
    result = shifted_classifier

    features = np.vstack(shifted)
    sklearn_scores = sklearn_out_of_fold_scores(features, result.labels, result.fold_ids)
    # Same folds, same standardisation (the training fold's mean and std), same objective.
    np.testing.assert_allclose(result.scores, sklearn_scores, atol=1e-5)
    sklearn_auc = float(roc_auc_score(result.labels, sklearn_scores))
    assert result.auc == pytest.approx(sklearn_auc, abs=0.02)
    # The same objective solved twice: the agreement is in fact much closer.
    assert result.auc == pytest.approx(sklearn_auc, abs=1e-3)


def test_domain_classifier_auc_close_to_sklearn_stratified_kfold() -> None:
    reference, current = gaussian_pair(15, 200, 200, 32, shift=0.5, shifted_dims=3)
    features = np.vstack([reference, current])
    labels = np.r_[np.zeros(200, dtype=int), np.ones(200, dtype=int)]

    result = domain_classifier_test(reference, current, bootstrap=0, permutations=19)

    # scikit-learn's own stratified folds, so only the partition differs.
    splits = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(features, labels)
    fold_ids = np.empty(len(labels), dtype=int)
    for fold, (_, test_rows) in enumerate(splits):
        fold_ids[test_rows] = fold
    assert result.auc == pytest.approx(
        sklearn_out_of_fold_auc(features, labels, fold_ids), abs=0.02
    )


def test_domain_classifier_folds_and_p_value_equal_naive_sklearn_refits() -> None:
    reference, current = gaussian_pair(16, 30, 25, 3, shift=0.4, shifted_dims=2)
    features = np.vstack([reference, current])
    labels = np.r_[np.zeros(30, dtype=int), np.ones(25, dtype=int)]
    permutations, folds, seed = 19, 3, 9

    result = domain_classifier_test(
        reference, current, folds=folds, seed=seed, permutations=permutations, bootstrap=0
    )

    # The random numbers as documented: folds dealt round-robin from each class's shuffle ...
    rng = np.random.default_rng(seed)
    fold_ids = np.empty(len(labels), dtype=int)
    dealt = 0
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_ids[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    np.testing.assert_array_equal(result.fold_ids, fold_ids)
    # ... then labels shuffled within each fold, and every relabelling refitted from scratch.
    relabelled = np.empty((permutations, len(labels)), dtype=int)
    for fold in range(folds):
        rows = np.flatnonzero(fold_ids == fold)
        relabelled[:, rows] = rng.permuted(np.tile(labels[rows], (permutations, 1)), axis=1)
    observed = sklearn_out_of_fold_auc(features, labels, fold_ids)
    count = sum(
        sklearn_out_of_fold_auc(features, shuffled, fold_ids) >= observed for shuffled in relabelled
    )
    assert result.auc == pytest.approx(observed, abs=1e-12)
    assert result.p_value == pytest.approx((1 + count) / (1 + permutations), abs=1e-12)
    assert 1 / (1 + permutations) < result.p_value < 1


def test_mann_whitney_p_value_agrees_with_a_permutation_test_of_fixed_scores() -> None:
    reference, current = gaussian_pair(17, 50, 50, 4, shift=0.3, shifted_dims=2)

    result = domain_classifier_test(reference, current, bootstrap=0, permutations=19)

    rng = np.random.default_rng(0)
    observed = pairwise_auc(result.scores[result.labels == 1], result.scores[result.labels == 0])
    shuffles = 3000
    count = 0
    for _ in range(shuffles):
        labels = rng.permutation(result.labels)
        count += pairwise_auc(result.scores[labels == 1], result.scores[labels == 0]) >= observed
    # Monte Carlo standard error at most 0.5 / sqrt(3000) ~ 0.009.
    assert result.mannwhitney_p_value == pytest.approx(count / shuffles, abs=0.02)
    assert 0.02 < result.mannwhitney_p_value < 0.9


def test_domain_classifier_p_values_are_calibrated_without_drift() -> None:
    results = [
        domain_classifier_test(
            *gaussian_pair(2000 + trial, 30, 30, 8), seed=trial, permutations=99, bootstrap=0
        )
        for trial in range(NULL_TRIALS)
    ]

    rejection_rate = np.mean([r.p_value <= 0.05 for r in results])
    assert 0.01 <= rejection_rate <= 0.10
    assert np.mean([r.drifted for r in results]) <= 0.10


def test_domain_classifier_detects_a_half_sigma_shift_in_three_of_32_dims(
    shifted_classifier,
) -> None:
    result = shifted_classifier

    assert result.p_value < 0.01
    assert result.auc > 0.55
    assert 0.5 < result.ci_low < result.auc < result.ci_high < 1.0
    assert result.drifted is True
    assert (result.folds, result.permutations, result.bootstrap) == (5, 200, 500)


def test_domain_classifier_needs_both_auc_margin_and_significance(shifted) -> None:
    strict = domain_classifier_test(*shifted, auc_threshold=0.99, permutations=99, bootstrap=0)

    assert strict.p_value == 0.01  # the smallest possible: no relabelling reached the AUC
    assert strict.drifted is False


def test_domain_classifier_same_seed_same_result() -> None:
    reference, current = gaussian_pair(18, 40, 40, 4, shift=0.3, shifted_dims=4)

    first = domain_classifier_test(reference, current, seed=3, permutations=49, bootstrap=100)
    again = domain_classifier_test(reference, current, seed=3, permutations=49, bootstrap=100)

    assert first == again
    np.testing.assert_array_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.fold_ids, again.fold_ids)


def test_domain_classifier_constant_identical_rows_do_not_crash() -> None:
    result = domain_classifier_test(np.zeros((25, 3)), np.zeros((25, 3)), permutations=19)

    assert result.drifted is False
    assert result.auc <= 0.55


# ------------------------------------------------------------------------------ inputs


@pytest.mark.parametrize("test", [mmd_test, domain_classifier_test])
def test_rows_with_nan_or_inf_are_dropped_and_counted(test) -> None:
    reference, current = gaussian_pair(19, 30, 30, 3, shift=0.2, shifted_dims=1)
    dirty_reference = np.vstack([reference, [[np.nan, 0.0, 0.0], [np.inf, 1.0, 1.0]]])
    dirty_current = np.vstack([[[0.0, -np.inf, 0.0]], current])
    options = {"permutations": 19} if test is mmd_test else {"permutations": 19, "bootstrap": 20}

    dirty = test(dirty_reference, dirty_current, **options)
    clean = test(reference, current, **options)

    assert (dirty.dropped_reference, dirty.dropped_current, dirty.dropped_rows) == (2, 1, 3)
    assert (dirty.n_reference, dirty.n_current) == (30, 30)
    assert dirty.p_value == clean.p_value
    assert dirty.status == "ok"


@pytest.mark.parametrize("test", [mmd_test, domain_classifier_test])
def test_too_few_rows_give_a_status_not_a_verdict(test) -> None:
    reference, current = gaussian_pair(20, 30, 19, 3)

    result = test(reference, current)

    assert result.p_value is None
    assert result.drifted is None
    assert result.status == "not enough data (n < 20)"
    assert (result.n_reference, result.n_current) == (30, 19)


def test_too_few_rows_after_dropping_nan_rows() -> None:
    reference, current = gaussian_pair(21, 30, 20, 3)
    current[0, 1] = np.nan

    result = domain_classifier_test(reference, current, min_samples=20)

    assert result.status == "not enough data (n < 20)"
    assert result.auc is None and result.ci_low is None and result.scores is None
    assert result.dropped_current == 1


def test_one_dimensional_lists_are_read_as_one_column() -> None:
    reference, current = gaussian_pair(22, 25, 25, 1, shift=0.5, shifted_dims=1)

    from_lists = mmd_test(reference[:, 0].tolist(), current[:, 0].tolist(), permutations=49)
    from_arrays = mmd_test(reference, current, permutations=49)

    assert from_lists == from_arrays
    assert isinstance(from_lists, MMDResult)


def test_none_in_lists_counts_as_missing() -> None:
    reference, current = gaussian_pair(23, 25, 25, 2)
    rows = reference.tolist() + [[None, 1.0]]

    result = mmd_test(rows, current, permutations=19)

    assert result.dropped_reference == 1
    assert result.n_reference == 25


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        (np.zeros((5, 2, 2)), np.zeros((5, 4)), r"shape \(n, d\).*got shape \(5, 2, 2\)"),
        (np.zeros((25, 0)), np.zeros((25, 0)), r"shape \(n, d\) with d >= 1.*no columns"),
        (np.zeros((25, 32)), np.zeros((25, 16)), r"same number of columns.*32 and 16"),
        ([[1.0, 2.0], [3.0]], [[1.0, 2.0]], r"shape \(n, d\).*different lengths"),
        (np.array([["a", "b"]] * 25), np.zeros((25, 2)), r"array of numbers.*<U1"),
        ([[None, "x"]] * 25, np.zeros((25, 2)), r"array of numbers.*not numbers"),
        (np.ones((25, 2), dtype=complex), np.zeros((25, 2)), r"array of numbers.*complex"),
        (3.0, np.zeros((25, 1)), r"shape \(n, d\).*got shape \(\)"),
    ],
)
@pytest.mark.parametrize("test", [mmd_test, domain_classifier_test])
def test_bad_inputs_raise_drift_error_naming_the_accepted_shape(
    test, reference, current, message
) -> None:
    with pytest.raises(DriftError, match=message):
        test(reference, current)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"permutations": 0}, r"permutations must be a whole number >= 1"),
        ({"permutations": 10}, r"permutations=10 cannot give a p-value <= threshold=0.05"),
        ({"bandwidth": -1.0}, r"bandwidth must be a positive number"),
        ({"bandwidth": math.nan}, r"bandwidth must be a positive number"),
        ({"threshold": 1.5}, r"threshold must be a number in \(0.0, 1\)"),
        ({"min_samples": 1}, r"min_samples must be a whole number >= 2"),
    ],
)
def test_mmd_bad_options_raise(options, message) -> None:
    with pytest.raises(DriftError, match=message):
        mmd_test(np.zeros((25, 2)), np.zeros((25, 2)), **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"folds": 1}, r"folds must be a whole number >= 2"),
        ({"folds": 5, "min_samples": 3}, r"min_samples must be a whole number >= 5"),
        ({"bootstrap": -1}, r"bootstrap must be a whole number >= 0"),
        ({"permutations": 9, "alpha": 0.05}, r"use at least 19 permutations"),
        ({"auc_threshold": 0.4}, r"auc_threshold must be a number in \(0.5, 1\)"),
        ({"alpha": 0.0}, r"alpha must be a number in \(0.0, 1\)"),
    ],
)
def test_domain_classifier_bad_options_raise(options, message) -> None:
    with pytest.raises(DriftError, match=message):
        domain_classifier_test(np.zeros((25, 2)), np.zeros((25, 2)), **options)


# ------------------------------------------------------------------------- descriptions


def test_descriptions_are_found_by_name() -> None:
    assert get_multivariate_test("mmd") is MMD_TEST
    assert get_multivariate_test("domain_classifier") is DOMAIN_CLASSIFIER_TEST
    assert get_multivariate_test(MMD_TEST) is MMD_TEST
    assert set(MULTIVARIATE_TESTS) == {"mmd", "domain_classifier"}
    assert (MMD_TEST.default_threshold, MMD_TEST.drifted_when) == (0.05, "<=")
    assert (DOMAIN_CLASSIFIER_TEST.default_threshold, DOMAIN_CLASSIFIER_TEST.drifted_when) == (
        0.55,
        ">",
    )
    assert all(test.allowed_data == ("embeddings",) for test in MULTIVARIATE_TESTS.values())


def test_unknown_test_name_lists_the_known_ones() -> None:
    with pytest.raises(DriftError, match="unknown .* 'ks'; known tests: domain_classifier, mmd"):
        get_multivariate_test("ks")


def test_description_runs_its_test_and_reads_its_score() -> None:
    reference, current = gaussian_pair(24, 30, 30, 3)

    mmd = MMD_TEST.func(reference, current, permutations=19)
    classifier = DOMAIN_CLASSIFIER_TEST.func(reference, current, permutations=19, bootstrap=0)

    assert MMD_TEST.score(mmd) == mmd.p_value
    assert isinstance(classifier, DomainClassifierResult)
    assert DOMAIN_CLASSIFIER_TEST.score(classifier) == classifier.auc
