"""Multivariate drift tests for embeddings: MMD and a domain classifier.

Both compare a reference sample and a current sample of vectors (arrays of shape (n, d), one row
per prediction) and say whether they come from different distributions. Each test is one function
returning a plain result dataclass, with a :class:`MultivariateTest` description beside it, found
by name with :func:`get_multivariate_test`:

* ``mmd`` (:func:`mmd_test`): the unbiased estimate of the squared maximum mean discrepancy,
  MMD²_u of Gretton et al., "A Kernel Two-Sample Test", JMLR 13 (2012), eq. 3, with the Gaussian
  kernel ``k(x, y) = exp(-||x - y||² / (2 σ²))``. Unless given, the bandwidth σ is the median
  heuristic: the median Euclidean distance over all distinct pairs of rows of the pooled sample
  (:func:`median_heuristic`). The p-value is a permutation test,
  ``(1 + #{permuted MMD²_u >= observed}) / (1 + permutations)``. The pooled sample is the reference
  rows followed by the current rows; ``rng = numpy.random.default_rng(seed)`` and each round draws
  ``rng.permutation(n_reference + n_current)``, whose first ``n_reference`` entries index the
  permuted reference and the rest the permuted current sample. The kernel matrix is computed once;
  rounds only re-index it. Drift when ``p <= threshold`` (0.05).
* ``domain_classifier`` (:func:`domain_classifier_test`): the classifier two-sample test of
  Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017, as used for dataset
  shift by Rabanser et al., "Failing Loudly", NeurIPS 2019. Reference rows get label 0, current
  rows label 1; an L2-regularised logistic regression (:func:`fit_logistic_regression`, Newton's
  method in numpy; scikit-learn's objective with ``C = 1``) is trained on features standardised
  with the training fold's mean and std in stratified k-fold, and every row gets an out-of-fold
  score (its log-odds of being current). The score is the ROC AUC of those scores (ties count
  half; equal to Mann-Whitney U / (n0 n1)), with a percentile bootstrap 95 % interval
  (resampling within each class). The p-value for "AUC > 0.5" is a permutation test that refits
  the cross-validation on relabelled data (Ojala & Garriga, JMLR 2010), not the Mann-Whitney
  test on the out-of-fold scores: those scores are not independent (every pair of folds' models
  shares training rows, so the folds' AUCs err together), and the Mann-Whitney p-value rejects
  about 10 % of no-drift samples at 0.05 (measured, 1,000 trials; it is kept in the result as
  ``mannwhitney_p_value`` for comparison). Drift when ``AUC > auc_threshold`` (0.55: an effect-size
  margin, so that a significant but negligible separation on a large window does not alarm;
  NannyML's ``DomainClassifierCalculator`` alarms above 0.65 by default, alibi-detect's
  ``ClassifierDrift`` on a p-value alone) and ``p <= alpha`` (0.05).

Inputs are cleaned first: lists and 1-D arrays are accepted (1-D is read as (n, 1)), rows with NaN
or +-inf are dropped and counted in the result (``dropped_reference``, ``dropped_current``), and
non-numeric data, a shape other than (n, d) with d >= 1, or different d on the two sides raise
:class:`DriftError`. Fewer than ``min_samples`` (20) rows on either side give a result with
``p_value=None``, ``drifted=None`` and ``status="not enough data (n < 20)"`` instead of a verdict.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import pdist, squareform
from scipy.special import expit

from fakescope.drift import STATUS_OK
from fakescope.errors import DriftError

MIN_SAMPLES = 20
# scikit-learn's default inverse regularisation strength: the objective is
# 0.5 * ||w||² + C * sum(log-loss), the intercept unpenalised.
REGULARISATION_C = 1.0
# Permuted statistics within this of the observed one count as ties: a permutation that only
# swaps identical rows gives the same MMD² up to rounding, and must not be lost to it.
_TIE_TOLERANCE = 1e-12
# Permutation rounds per matrix product: bounds memory at about this many copies of one kernel row.
_PERMUTATION_BATCH = 128
_NEWTON_MAX_ITERATIONS = 100
_NEWTON_TOLERANCE = 1e-12
_ACCEPTED = "a 2-D array of numbers of shape (n, d) with d >= 1 (a 1-D array is read as (n, 1))"


# ---------------------------------------------------------------------------------- input checks


def _as_float_rows(values: Any, what: str) -> tuple[np.ndarray, int]:
    """Numbers of shape (n, d) -> (float64 rows without NaN/inf, number of rows dropped).

    Raises:
        DriftError: not numbers, not 1-D or 2-D, or no columns.
    """
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise DriftError(f"{what} must be {_ACCEPTED}; rows have different lengths") from None
    if array.dtype == object:
        # Only plain numbers and None (read as missing) may hide in an object array.
        if not all(
            value is None or isinstance(value, (numbers.Real, np.bool_)) for value in array.flat
        ):
            raise DriftError(f"{what} must be {_ACCEPTED}; some values are not numbers")
    elif array.dtype.kind not in "biuf":
        raise DriftError(f"{what} must be {_ACCEPTED}; got {array.dtype} values")
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise DriftError(f"{what} must be {_ACCEPTED}; got shape {array.shape}")
    if array.shape[1] == 0:
        raise DriftError(f"{what} must be {_ACCEPTED}; got shape {array.shape} (no columns)")
    array = array.astype("float64")
    finite = np.isfinite(array).all(axis=1)
    return array[finite], int(array.shape[0] - finite.sum())


def _clean_pair(reference: Any, current: Any) -> tuple[np.ndarray, np.ndarray, int, int]:
    ref, dropped_ref = _as_float_rows(reference, "reference")
    cur, dropped_cur = _as_float_rows(current, "current")
    if ref.shape[1] != cur.shape[1]:
        raise DriftError(
            "reference and current must have the same number of columns (d in shape (n, d)); "
            f"got {ref.shape[1]} and {cur.shape[1]}"
        )
    return ref, cur, dropped_ref, dropped_cur


def _check_whole(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DriftError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _check_level(name: str, value: Any, low: float = 0.0) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low < value < 1:
        raise DriftError(f"{name} must be a number in ({low}, 1), got {value!r}")


def _check_reachable(permutations: int, level: float, name: str) -> None:
    # A permutation p-value is at least 1 / (1 + permutations): a test that can never reach its
    # level would silently never alarm.
    if 1.0 / (1 + permutations) > level:
        raise DriftError(
            f"permutations={permutations} cannot give a p-value <= {name}={level}; "
            f"use at least {math.ceil(1.0 / level) - 1} permutations"
        )


def _not_enough_data(min_samples: int) -> str:
    return f"not enough data (n < {min_samples})"


# ------------------------------------------------------------------------------------------ MMD


@dataclass(frozen=True)
class MMDResult:
    """The MMD permutation test of a current sample against a reference.

    Attributes:
        statistic: MMD²_u (unbiased, so it can be slightly negative); None without enough data.
        p_value: permutation p-value; None without enough data.
        drifted: ``p_value <= threshold``; None without enough data.
        threshold: the p-value threshold used.
        bandwidth: the kernel's σ (given, or the median heuristic); None without enough data.
        permutations: number of permutation rounds.
        n_reference, n_current: rows used (after dropping rows with NaN/inf).
        dropped_reference, dropped_current: rows dropped for NaN/inf.
        status: ``"ok"`` or ``"not enough data (n < 20)"``.
    """

    statistic: float | None
    p_value: float | None
    drifted: bool | None
    threshold: float
    bandwidth: float | None
    permutations: int
    n_reference: int
    n_current: int
    dropped_reference: int = 0
    dropped_current: int = 0
    status: str = STATUS_OK

    @property
    def dropped_rows(self) -> int:
        """Rows dropped for NaN/inf on both sides together."""
        return self.dropped_reference + self.dropped_current


def median_heuristic(pooled: Any) -> float:
    """Gaussian kernel bandwidth σ: the median Euclidean distance over distinct pairs of rows.

    When that median is 0 (more than half of the pairs are duplicates) the mean of the positive
    distances is used instead; when every row is the same, 1.0 (any σ then gives MMD² = 0).

    Args:
        pooled: rows of shape (n, d), n >= 2 (reference and current stacked); NaN/inf rows dropped.

    Raises:
        DriftError: not numbers of shape (n, d), or fewer than 2 finite rows.
    """
    rows, _ = _as_float_rows(pooled, "pooled sample")
    if rows.shape[0] < 2:
        raise DriftError(f"the median heuristic needs at least 2 rows, got {rows.shape[0]}")
    return _median_distance(pdist(rows, "euclidean"))


def _median_distance(distances: np.ndarray) -> float:
    median = float(np.median(distances))
    if median > 0:
        return median
    positive = distances[distances > 0]
    return float(positive.mean()) if positive.size else 1.0


def _mmd2_of_splits(
    kernel: np.ndarray, splits: np.ndarray, n_reference: int, n_current: int
) -> np.ndarray:
    """MMD²_u for each row of ``splits``, a 0/1 indicator over the pooled rows of the reference.

    ``kernel`` must have a zero diagonal, which drops the i == j terms of Gretton's eq. 3.
    """
    row_sums = kernel.sum(axis=1)
    total = row_sums.sum()
    within_ref = np.einsum("pn,pn->p", splits @ kernel, splits)
    ref_to_all = splits @ row_sums
    between = ref_to_all - within_ref
    within_cur = total - 2.0 * ref_to_all + within_ref
    return (
        within_ref / (n_reference * (n_reference - 1))
        + within_cur / (n_current * (n_current - 1))
        - 2.0 * between / (n_reference * n_current)
    )


def mmd_test(
    reference: Any,
    current: Any,
    *,
    permutations: int = 500,
    seed: int | None = 0,
    bandwidth: float | None = None,
    threshold: float = 0.05,
    min_samples: int = MIN_SAMPLES,
) -> MMDResult:
    """Maximum mean discrepancy two-sample test with a Gaussian kernel and permutations.

    Args:
        reference, current: rows of shape (n, d) (lists, arrays; 1-D is read as (n, 1)); rows
            with NaN/inf are dropped.
        permutations: permutation rounds; round r uses the r-th ``rng.permutation(n_ref + n_cur)``
            of ``numpy.random.default_rng(seed)`` (see the module docstring).
        seed: seed of the permutations; the same seed gives the same p-value.
        bandwidth: the kernel's σ in ``exp(-||x - y||² / (2 σ²))``; None: the median heuristic on
            the pooled sample (:func:`median_heuristic`).
        threshold: drift when ``p_value <= threshold``.
        min_samples: fewer rows than this on either side gives no verdict.

    Returns:
        An :class:`MMDResult`. Memory and time grow with (n_ref + n_cur)²: the kernel matrix.

    Raises:
        DriftError: bad shapes or non-numeric data (see the module docstring), or bad options.
    """
    _check_whole("permutations", permutations, 1)
    _check_whole("min_samples", min_samples, 2)
    _check_level("threshold", threshold)
    _check_reachable(permutations, threshold, "threshold")
    if bandwidth is not None and (
        isinstance(bandwidth, bool)
        or not isinstance(bandwidth, numbers.Real)
        or not math.isfinite(bandwidth)
        or bandwidth <= 0
    ):
        raise DriftError(f"bandwidth must be a positive number or None, got {bandwidth!r}")
    ref, cur, dropped_ref, dropped_cur = _clean_pair(reference, current)
    n_ref, n_cur = ref.shape[0], cur.shape[0]
    common = dict(
        threshold=float(threshold),
        permutations=int(permutations),
        n_reference=n_ref,
        n_current=n_cur,
        dropped_reference=dropped_ref,
        dropped_current=dropped_cur,
    )
    if min(n_ref, n_cur) < min_samples:
        return MMDResult(
            statistic=None,
            p_value=None,
            drifted=None,
            bandwidth=None,
            status=_not_enough_data(min_samples),
            **common,
        )

    pooled = np.vstack([ref, cur])
    # pdist subtracts rows before squaring, so distances stay exact for near-identical rows.
    distances = pdist(pooled, "euclidean")
    sigma = _median_distance(distances) if bandwidth is None else float(bandwidth)
    kernel = squareform(np.exp(-(distances**2) / (2.0 * sigma**2)))  # zero diagonal

    n_pooled = n_ref + n_cur
    observed_split = np.zeros((1, n_pooled))
    observed_split[0, :n_ref] = 1.0
    # The observed value goes through the same arithmetic as the permuted ones, so a permutation
    # that reproduces the observed split compares equal.
    observed = float(_mmd2_of_splits(kernel, observed_split, n_ref, n_cur)[0])

    rng = np.random.default_rng(seed)
    at_least_observed = 0
    for start in range(0, permutations, _PERMUTATION_BATCH):
        rounds = min(_PERMUTATION_BATCH, permutations - start)
        splits = np.zeros((rounds, n_pooled))
        for r in range(rounds):
            splits[r, rng.permutation(n_pooled)[:n_ref]] = 1.0
        permuted = _mmd2_of_splits(kernel, splits, n_ref, n_cur)
        at_least_observed += int(np.count_nonzero(permuted >= observed - _TIE_TOLERANCE))
    p_value = (1 + at_least_observed) / (1 + permutations)
    return MMDResult(
        statistic=observed,
        p_value=p_value,
        drifted=p_value <= threshold,
        bandwidth=sigma,
        **common,
    )


# -------------------------------------------------------------------------- domain classifier


@dataclass(frozen=True)
class DomainClassifierResult:
    """The domain-classifier test of a current sample against a reference.

    Attributes:
        auc: ROC AUC of the out-of-fold scores (0.5: indistinguishable); None without enough data.
        ci_low, ci_high: percentile bootstrap 95 % interval of the AUC; None without enough data
            or with ``bootstrap=0``.
        p_value: permutation p-value of the AUC (cross-validation refitted on relabelled data);
            None without enough data.
        drifted: ``auc > auc_threshold and p_value <= alpha``; None without enough data.
        auc_threshold, alpha: the thresholds used.
        folds: number of cross-validation folds.
        permutations: number of relabellings in the permutation test.
        bootstrap: number of bootstrap resamples.
        n_reference, n_current: rows used (after dropping rows with NaN/inf).
        dropped_reference, dropped_current: rows dropped for NaN/inf.
        status: ``"ok"`` or ``"not enough data (n < 20)"``.
        mannwhitney_p_value: one-sided Mann-Whitney U p-value of the out-of-fold scores, for
            comparison only: it treats the scores as independent, which they are not (the folds'
            models share training rows), and rejects about twice as often as it should under
            no drift. Never used for ``drifted``.
        scores: out-of-fold log-odds of being current, reference rows first; None without data.
        labels: 0 for reference rows, 1 for current rows, aligned with ``scores``.
        fold_ids: the fold (0 .. folds-1) in which each row was scored.
    """

    auc: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    drifted: bool | None
    auc_threshold: float
    alpha: float
    folds: int
    permutations: int
    bootstrap: int
    n_reference: int
    n_current: int
    dropped_reference: int = 0
    dropped_current: int = 0
    status: str = STATUS_OK
    mannwhitney_p_value: float | None = None
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    fold_ids: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def dropped_rows(self) -> int:
        """Rows dropped for NaN/inf on both sides together."""
        return self.dropped_reference + self.dropped_current


def _fit_logistic_many(design: np.ndarray, targets: np.ndarray, c: float) -> np.ndarray:
    """Newton's method on many label vectors that share one design matrix, all at once.

    Args:
        design: (n, k) with a leading column of ones (the intercept, unpenalised).
        targets: (p, n) labels 0/1, one problem per row.
        c: inverse regularisation strength.

    Returns:
        (p, k) parameters, intercept first.
    """
    penalty = np.ones(design.shape[1])
    penalty[0] = 0.0

    def objective(params: np.ndarray, rows: Any) -> np.ndarray:
        logits = params @ design.T
        loss = np.logaddexp(0.0, logits) - targets[rows] * logits
        return 0.5 * (penalty * params**2).sum(axis=1) + c * loss.sum(axis=1)

    params = np.zeros((targets.shape[0], design.shape[1]))
    values = objective(params, slice(None))
    active = np.arange(targets.shape[0])
    for _ in range(_NEWTON_MAX_ITERATIONS):
        if active.size == 0:
            break
        probabilities = expit(params[active] @ design.T)
        gradient = penalty * params[active] + c * (probabilities - targets[active]) @ design
        weights = c * probabilities * (1.0 - probabilities)
        hessian = (design.T * weights[:, None, :]) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        decrement = np.einsum("pk,pk->p", gradient, step)
        # Backtracking (Armijo) line search, one step size for the batch, each problem leaving
        # the search once its own step is accepted.
        moved = np.zeros(active.size, dtype=bool)
        searching = decrement / 2.0 > _NEWTON_TOLERANCE
        size = 1.0
        while searching.any() and size > 1e-10:
            where = np.flatnonzero(searching)
            rows = active[where]
            candidate = params[rows] - size * step[where]
            candidate_values = objective(candidate, rows)
            accepted = candidate_values <= values[rows] - 1e-4 * size * decrement[where]
            params[rows[accepted]] = candidate[accepted]
            values[rows[accepted]] = candidate_values[accepted]
            moved[where[accepted]] = True
            searching[where[accepted]] = False
            size /= 2.0
        # Converged problems (tiny Newton decrement, or no descent left within rounding) stop.
        active = active[moved]
    return params


def fit_logistic_regression(
    features: np.ndarray, labels: np.ndarray, *, c: float = REGULARISATION_C
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (with backtracking line search).

    Minimises ``0.5 * ||w||² + c * sum_i log(1 + exp(-s_i (x_i·w + b)))`` with ``s_i = ±1``, the
    intercept ``b`` unpenalised: scikit-learn's ``LogisticRegression(C=c)`` objective. The
    problem is strictly convex and small (d + 1 unknowns), so Newton converges in a few steps to
    the optimum, where L-BFGS would stop at a looser tolerance.

    Args:
        features: (n, d) floats, best standardised.
        labels: n labels, 0 or 1.
        c: inverse regularisation strength (> 0).

    Returns:
        (coefficients of shape (d,), intercept).
    """
    features = np.asarray(features, dtype="float64")
    design = np.hstack([np.ones((features.shape[0], 1)), features])
    params = _fit_logistic_many(design, np.asarray(labels, dtype="float64")[None, :], c)[0]
    return params[1:], float(params[0])


def _stratified_fold_ids(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row: each class shuffled, then dealt round-robin, the count carried over from
    class 0 to class 1 so that fold sizes differ by at most one overall and within each class."""
    fold_ids = np.empty(labels.size, dtype=np.intp)
    dealt = 0
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_ids[members] = (dealt + np.arange(members.size)) % folds
        dealt += members.size
    return fold_ids


def _out_of_fold_scores(
    features: np.ndarray, label_sets: np.ndarray, fold_ids: np.ndarray, folds: int
) -> np.ndarray:
    """Out-of-fold log-odds, shape (p, n), for each row of ``label_sets`` (p, n)."""
    scores = np.empty(label_sets.shape)
    for fold in range(folds):
        held_out = fold_ids == fold
        train = features[~held_out]
        mean = train.mean(axis=0)
        std = train.std(axis=0)
        std[std == 0] = 1.0  # a constant column carries nothing; keep it at 0, not NaN
        design = np.hstack([np.ones((train.shape[0], 1)), (train - mean) / std])
        params = _fit_logistic_many(design, label_sets[:, ~held_out], REGULARISATION_C)
        # Log-odds rather than probabilities: expit rounds large scores to exactly 1, making ties.
        scores[:, held_out] = params[:, 1:] @ ((features[held_out] - mean) / std).T
        scores[:, held_out] += params[:, :1]
    return scores


def _auc(scores: np.ndarray, label_sets: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of ``scores`` against the same row of ``label_sets`` (ties: half)."""
    n_current = label_sets[0].sum()
    n_reference = label_sets.shape[1] - n_current
    rank_sum = (stats.rankdata(scores, axis=1) * label_sets).sum(axis=1)
    return (rank_sum - n_current * (n_current + 1) / 2.0) / (n_current * n_reference)


def _relabellings(
    labels: np.ndarray,
    fold_ids: np.ndarray,
    folds: int,
    permutations: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(permutations, n) label vectors, each a shuffle of ``labels`` within every fold."""
    relabelled = np.empty((permutations, labels.size))
    for fold in range(folds):
        rows = np.flatnonzero(fold_ids == fold)
        relabelled[:, rows] = rng.permuted(np.tile(labels[rows], (permutations, 1)), axis=1)
    return relabelled


def domain_classifier_test(
    reference: Any,
    current: Any,
    *,
    folds: int = 5,
    seed: int | None = 0,
    permutations: int = 200,
    bootstrap: int = 500,
    auc_threshold: float = 0.55,
    alpha: float = 0.05,
    min_samples: int = MIN_SAMPLES,
) -> DomainClassifierResult:
    """Can a logistic regression tell current rows from reference rows? (classifier two-sample test)

    The p-value is a permutation test of the whole procedure (Ojala & Garriga, "Permutation Tests
    for Studying Classifier Performance", JMLR 11, 2010): labels are shuffled within each fold,
    the k models refitted and the out-of-fold AUC recomputed,
    ``p = (1 + #{relabelled AUC >= observed AUC}) / (1 + permutations)``. Shuffling within folds
    keeps each fold's class counts and standardisation, and is exact under no drift (the rows
    are then exchangeable within each fold).

    Random numbers come from ``rng = numpy.random.default_rng(seed)``, in this order: the folds
    (for class 0 then 1, ``rng.permutation`` of the class's row indices, dealt round-robin); the
    relabellings (for fold 0 .. folds-1, ``rng.permuted(np.tile(labels[fold_rows],
    (permutations, 1)), axis=1)``); the bootstrap (``rng.integers(0, n_cur, (bootstrap, n_cur))``
    for current rows, then the same for reference rows).

    Args:
        reference, current: rows of shape (n, d) (lists, arrays; 1-D is read as (n, 1)); rows
            with NaN/inf are dropped.
        folds: stratified cross-validation folds (every row is scored by a model not trained on
            it).
        seed: seed of the random numbers; the same seed gives the same result.
        permutations: relabellings for the p-value (``1 / (1 + permutations)`` is the smallest
            p-value, so it must be <= alpha).
        bootstrap: bootstrap resamples for the AUC's 95 % interval (0: no interval).
        auc_threshold: drift needs ``auc > auc_threshold``.
        alpha: drift needs ``p_value <= alpha``.
        min_samples: fewer rows than this on either side gives no verdict (at least ``folds``).

    Returns:
        A :class:`DomainClassifierResult`, with the out-of-fold scores, labels and folds.

    Raises:
        DriftError: bad shapes or non-numeric data (see the module docstring), or bad options.
    """
    _check_whole("folds", folds, 2)
    _check_whole("permutations", permutations, 1)
    _check_whole("bootstrap", bootstrap, 0)
    _check_whole("min_samples", min_samples, folds)
    _check_level("auc_threshold", auc_threshold, low=0.5)
    _check_level("alpha", alpha)
    _check_reachable(permutations, alpha, "alpha")
    ref, cur, dropped_ref, dropped_cur = _clean_pair(reference, current)
    n_ref, n_cur = ref.shape[0], cur.shape[0]
    common = dict(
        auc_threshold=float(auc_threshold),
        alpha=float(alpha),
        folds=int(folds),
        permutations=int(permutations),
        bootstrap=int(bootstrap),
        n_reference=n_ref,
        n_current=n_cur,
        dropped_reference=dropped_ref,
        dropped_current=dropped_cur,
    )
    if min(n_ref, n_cur) < min_samples:
        return DomainClassifierResult(
            auc=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            drifted=None,
            status=_not_enough_data(min_samples),
            **common,
        )

    features = np.vstack([ref, cur])
    labels = np.concatenate([np.zeros(n_ref, dtype=np.intp), np.ones(n_cur, dtype=np.intp)])
    rng = np.random.default_rng(seed)
    fold_ids = _stratified_fold_ids(labels, folds, rng)
    observed = labels[None, :].astype("float64")
    scores = _out_of_fold_scores(features, observed, fold_ids, folds)[0]
    auc = float(_auc(scores[None, :], observed)[0])

    relabelled = _relabellings(labels, fold_ids, folds, permutations, rng)
    at_least_observed = 0
    for start in range(0, permutations, _PERMUTATION_BATCH):
        batch = relabelled[start : start + _PERMUTATION_BATCH]
        batch_aucs = _auc(_out_of_fold_scores(features, batch, fold_ids, folds), batch)
        at_least_observed += int(np.count_nonzero(batch_aucs >= auc))
    p_value = (1 + at_least_observed) / (1 + permutations)

    current_scores, reference_scores = scores[labels == 1], scores[labels == 0]
    mannwhitney_p = float(
        stats.mannwhitneyu(current_scores, reference_scores, alternative="greater").pvalue
    )
    ci_low = ci_high = None
    if bootstrap:
        resampled = np.hstack(
            [
                current_scores[rng.integers(0, n_cur, size=(bootstrap, n_cur))],
                reference_scores[rng.integers(0, n_ref, size=(bootstrap, n_ref))],
            ]
        )
        resampled_labels = np.zeros((1, n_cur + n_ref))
        resampled_labels[0, :n_cur] = 1.0
        aucs = _auc(resampled, np.broadcast_to(resampled_labels, resampled.shape))
        ci_low, ci_high = (float(q) for q in np.quantile(aucs, [0.025, 0.975]))
    return DomainClassifierResult(
        auc=auc,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        drifted=bool(auc > auc_threshold and p_value <= alpha),
        status=STATUS_OK,
        mannwhitney_p_value=mannwhitney_p,
        scores=scores,
        labels=labels,
        fold_ids=fold_ids,
        **common,
    )


# -------------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class MultivariateTest:
    """What a multivariate drift test is and how to read its result.

    Unlike :class:`fakescope.drift.StatTest`, whose function returns one score, these return a
    result dataclass with the verdict in it (the domain classifier's needs two numbers).

    Attributes:
        name: registry key (``mmd``, ``domain_classifier``).
        display_name: for tables and charts.
        func: ``func(reference, current, **options) -> result`` (:func:`mmd_test`, ...).
        score_field: the result attribute shown as the score (``p_value``, ``auc``).
        default_threshold: the threshold on that score unless another is given.
        drifted_when: how the score compares with the threshold on drift (``"<="``, ``">"``).
        meaning: what a drift verdict means, in words.
        allowed_data: the kinds of data the test accepts.
    """

    name: str
    display_name: str
    func: Callable[..., MMDResult | DomainClassifierResult]
    score_field: str
    default_threshold: float
    drifted_when: str
    meaning: str
    allowed_data: tuple[str, ...] = ("embeddings",)

    def score(self, result: MMDResult | DomainClassifierResult) -> float | None:
        """The score of ``result`` (None without enough data)."""
        return getattr(result, self.score_field)


MMD_TEST = MultivariateTest(
    name="mmd",
    display_name="MMD permutation p-value",
    func=mmd_test,
    score_field="p_value",
    default_threshold=0.05,
    drifted_when="<=",
    meaning=(
        "the current rows come from another distribution than the reference's: the permutation "
        "p-value of MMD² (Gaussian kernel) is <= the threshold"
    ),
)
DOMAIN_CLASSIFIER_TEST = MultivariateTest(
    name="domain_classifier",
    display_name="Domain classifier ROC AUC",
    func=domain_classifier_test,
    score_field="auc",
    default_threshold=0.55,
    drifted_when=">",
    meaning=(
        "a logistic regression tells current rows from reference rows better than chance: "
        "out-of-fold AUC > the threshold and its one-sided Mann-Whitney p-value <= alpha (0.05)"
    ),
)
MULTIVARIATE_TESTS: dict[str, MultivariateTest] = {
    test.name: test for test in (MMD_TEST, DOMAIN_CLASSIFIER_TEST)
}


def get_multivariate_test(name: str | MultivariateTest) -> MultivariateTest:
    """The multivariate drift test called ``name`` (a :class:`MultivariateTest` is returned as is).

    Raises:
        DriftError: unknown name; the message lists the known ones.
    """
    if isinstance(name, MultivariateTest):
        return name
    try:
        return MULTIVARIATE_TESTS[name]
    except (KeyError, TypeError):
        raise DriftError(
            f"unknown multivariate drift test {name!r}; known tests: "
            f"{', '.join(sorted(MULTIVARIATE_TESTS))}"
        ) from None
