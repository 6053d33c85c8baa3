"""Drift tests, reference profiles and drift reports, in evidently's shape.

Each test is one small pure function over two 1-D samples, with a :class:`StatTest` description
beside it (name, allowed data, default threshold, which way the threshold points), found by name
with :func:`get_stat_test`:

* ``ks``: two-sample Kolmogorov-Smirnov test; the score is the p-value and a feature drifts when
  ``p <= threshold`` (default 0.05). p-values across features can be corrected for multiple
  testing (Bonferroni or Benjamini-Hochberg).
* ``psi``: population stability index over quantile bins of the reference; a feature drifts when
  ``PSI >= threshold`` (default 0.25). Bands: < 0.1 stable, 0.1-0.25 moderate, >= 0.25
  significant.

Inputs are cleaned first: +-inf becomes NaN, NaN (and None) is dropped, non-numeric data raises
:class:`DriftError`. Samples smaller than ``min_samples`` give a result with
``status="not enough data (n < 30)"`` and ``drifted=None`` instead of a verdict.

A :class:`ReferenceProfile` holds raw validation samples of every image feature and of the fake
probability (``reference_profile.json`` next to each registered model), so any test can run on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fakescope.errors import DriftError
from fakescope.images import FEATURE_NAMES

PSI_SMOOTHING = 1e-4
PSI_BANDS = ((0.1, "stable"), (0.25, "moderate"), (math.inf, "significant"))
CORRECTIONS = ("bonferroni", "bh", None)
COMBINE_MODES = ("all", "any")
PREDICTION_COLUMN = "fake_probability"
STATUS_OK = "ok"
STATUS_MISSING = "missing from current data"

_NUMERIC_KINDS = frozenset(
    {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}
)


# ---------------------------------------------------------------------------------- input checks


def _as_float_array(values: Any, what: str = "data") -> np.ndarray:
    """Numbers -> float64 array with inf/NaN/None dropped.

    Raises:
        DriftError: the values are not one-dimensional numbers.
    """
    if isinstance(values, pd.Series):
        series = values
    else:
        try:
            array = np.asarray(values)
        except ValueError:
            raise DriftError(f"{what} must be a flat sequence of numbers") from None
        if array.ndim != 1:
            raise DriftError(f"{what} must be one-dimensional, got shape {array.shape}")
        series = pd.Series(array)
    dtype = series.dtype
    numeric = pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    )
    if not numeric:
        kind = pd.api.types.infer_dtype(series, skipna=True) if dtype == object else None
        if kind not in _NUMERIC_KINDS:
            raise DriftError(
                f"{what} must be numbers (int, float, bool; None/NaN are dropped), got "
                f"{kind or dtype} values"
            )
    try:
        array = series.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise DriftError(
            f"{what} must be numbers; some values could not be read as floats"
        ) from None
    return array[np.isfinite(array)]


def _check_not_empty(reference: np.ndarray, current: np.ndarray) -> None:
    if reference.size == 0 or current.size == 0:
        raise DriftError(
            "not enough data: reference has "
            f"{reference.size} and current has {current.size} finite values (need at least 1 each)"
        )


# --------------------------------------------------------------------------------- the tests


def _ks_p_value(reference: np.ndarray, current: np.ndarray) -> float:
    with warnings.catch_warnings():
        # scipy warns when its exact method falls back to the asymptotic one; both are fine.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ks_2samp(reference, current, method="auto").pvalue)


def ks_test(reference: Any, current: Any) -> float:
    """Two-sample Kolmogorov-Smirnov test (two-sided; exact for small samples).

    Args:
        reference, current: 1-D numbers; inf, NaN and None are dropped.

    Returns:
        The p-value (drift when ``p <= threshold``).

    Raises:
        DriftError: non-numeric data, or nothing left after dropping missing values.
    """
    ref = _as_float_array(reference, "reference")
    cur = _as_float_array(current, "current")
    _check_not_empty(ref, cur)
    return _ks_p_value(ref, cur)


def _psi_cuts(reference: np.ndarray, bins: int) -> np.ndarray:
    cuts = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    if reference.min() == reference.max():
        # A constant reference gets a bin of its own, so any other value, above or below, counts.
        value = reference[0]
        cuts = np.array([value, np.nextafter(value, np.inf)])
    return cuts


def _psi_value(reference: np.ndarray, current: np.ndarray, bins: int) -> float:
    cuts = _psi_cuts(reference, bins)
    # Bins are (-inf, c1), [c1, c2), ..., [ck, inf): current values outside the reference range
    # land in the outer bins instead of being lost.
    ref_counts = np.bincount(
        np.searchsorted(cuts, reference, side="right"), minlength=cuts.size + 1
    )
    cur_counts = np.bincount(np.searchsorted(cuts, current, side="right"), minlength=cuts.size + 1)
    ref_share = ref_counts / reference.size
    cur_share = cur_counts / current.size
    # Empty bins would make the log infinite: their share becomes PSI_SMOOTHING (as evidently).
    ref_share = np.where(ref_share == 0, PSI_SMOOTHING, ref_share)
    cur_share = np.where(cur_share == 0, PSI_SMOOTHING, cur_share)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """Population stability index over quantile bins of the reference.

    Cut points are the reference's 1/bins ... (bins-1)/bins quantiles (duplicates merged); the
    outer bins are open, so current values beyond the reference range are counted. A bin share
    of 0 is replaced by ``PSI_SMOOTHING`` (1e-4) on both sides, without renormalising.

    Args:
        reference, current: 1-D numbers; inf, NaN and None are dropped.
        bins: number of quantile bins (at least 2).

    Returns:
        PSI >= 0 (drift when ``PSI >= threshold``; see :data:`PSI_BANDS`).

    Raises:
        DriftError: non-numeric data, nothing left after dropping missing values, or bins < 2.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise DriftError(f"psi bins must be a whole number >= 2, got {bins!r}")
    ref = _as_float_array(reference, "reference")
    cur = _as_float_array(current, "current")
    _check_not_empty(ref, cur)
    return _psi_value(ref, cur, bins)


def psi_band(score: float | None) -> str | None:
    """``stable`` (< 0.1), ``moderate`` (< 0.25) or ``significant`` for a PSI value."""
    if score is None or not math.isfinite(score):
        return None
    return next(name for upper, name in PSI_BANDS if score < upper)


@dataclass(frozen=True)
class StatTest:
    """What a drift test is and how to read its score.

    Attributes:
        name: registry key (``ks``, ``psi``).
        display_name: for tables and charts.
        func: ``func(reference, current) -> score`` on cleaned float arrays.
        default_threshold: the threshold used unless another is given.
        drifted_when: ``"<="`` (p-values: drift when score <= threshold) or ``">="``
            (distances: drift when score >= threshold).
        allowed_data: the kinds of data the test accepts.
        band: optional ``band(score) -> name`` (PSI's stable / moderate / significant).
    """

    name: str
    display_name: str
    func: Callable[[np.ndarray, np.ndarray], float]
    default_threshold: float
    drifted_when: str
    allowed_data: tuple[str, ...] = ("numerical",)
    band: Callable[[float | None], str | None] | None = None

    @property
    def is_p_value(self) -> bool:
        """True when the score is a p-value (lower means more drift)."""
        return self.drifted_when == "<="

    def drifted(self, score: float, threshold: float | None = None) -> bool:
        """Whether ``score`` means drift at ``threshold`` (the default one when None)."""
        limit = self.default_threshold if threshold is None else threshold
        return bool(score <= limit) if self.is_p_value else bool(score >= limit)


KS_TEST = StatTest(
    name="ks",
    display_name="Kolmogorov-Smirnov p-value",
    func=_ks_p_value,
    default_threshold=0.05,
    drifted_when="<=",
)
PSI_TEST = StatTest(
    name="psi",
    display_name="Population stability index",
    func=lambda reference, current: _psi_value(reference, current, 10),
    default_threshold=0.25,
    drifted_when=">=",
    band=psi_band,
)
STAT_TESTS: dict[str, StatTest] = {test.name: test for test in (KS_TEST, PSI_TEST)}


def get_stat_test(name: str | StatTest) -> StatTest:
    """The drift test called ``name`` (a :class:`StatTest` is returned as is).

    Raises:
        DriftError: unknown name; the message lists the known ones.
    """
    if isinstance(name, StatTest):
        return name
    try:
        return STAT_TESTS[name]
    except (KeyError, TypeError):
        raise DriftError(
            f"unknown drift test {name!r}; known tests: {', '.join(sorted(STAT_TESTS))}"
        ) from None


def adjust_p_values(p_values: Sequence[float], method: str | None) -> np.ndarray:
    """Correct p-values for testing several features at once.

    Args:
        p_values: raw p-values in [0, 1].
        method: ``"bonferroni"`` (p * m), ``"bh"`` (Benjamini-Hochberg: p_(i) * m / i, made
            monotone from the largest down) or None (unchanged). Results are capped at 1.

    Returns:
        Adjusted p-values, in the input order.

    Raises:
        DriftError: unknown method.
    """
    if method not in CORRECTIONS:
        raise DriftError(f"unknown p-value correction {method!r}; use 'bonferroni', 'bh' or None")
    p = np.asarray(p_values, dtype="float64")
    m = p.size
    if method is None or m == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(monotone, 1.0)
    return adjusted


# ------------------------------------------------------------------------------------ profiles


@dataclass(eq=False)
class ReferenceProfile:
    """Raw reference samples: what "normal" looks like for one model version.

    The JSON form (``reference_profile.json``)::

        {"features": {"brightness": [0.41, ...], "jpeg_quality": [92.0, null, ...], ...},
         "fake_probability": [0.03, 0.97, ...],
         "embeddings": [[0.12, -1.3, ...], ...], "embedding_space": "pca32-0a1b2c3d4e5f",
         "n_images": 400,
         "name": "...", "description": "..."}

    Attributes:
        features: feature name -> raw values (NaN where an image had none).
        fake_probability: the model's fake probabilities on the same images, or None.
        n_images: number of images the profile was built from.
        metadata: any other top-level keys of the JSON form, kept as they are (``name`` and
            ``description`` say what the profile is, ``built_from`` how it was made).
        embeddings: (n, d) embeddings of the images (:mod:`fakescope.embedding`), or None.
        embedding_space: the id of their projection; only embeddings of this space compare.
    """

    features: dict[str, np.ndarray]
    fake_probability: np.ndarray | None = None
    n_images: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    embedding_space: str | None = None
    _clean: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def fingerprint(self) -> str:
        """A hash of everything the profile holds (a cache key that changes with its content)."""
        digest = hashlib.sha256(json.dumps(self.metadata, sort_keys=True, default=str).encode())
        for name in sorted(self.features):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(self.features[name], dtype="<f8").tobytes())
        for values in (self.fake_probability, self.embeddings):
            if values is not None:
                digest.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
        digest.update(f"{self.n_images}|{self.embedding_space}".encode())
        return digest.hexdigest()

    @property
    def name(self) -> str:
        """Short name: a named reference's name, else ``reference_profile.json``."""
        return str(self.metadata.get("name") or "reference_profile.json")

    @property
    def description(self) -> str:
        """What the reference is made of, in a sentence (shown beside every drift figure)."""
        text = self.metadata.get("description")
        return str(text) if text else f"{self.n_images:,} images"

    def cleaned(self, name: str) -> np.ndarray:
        """Finite values of a feature (or of ``fake_probability``), computed once."""
        if name not in self._clean:
            raw = self.fake_probability if name == PREDICTION_COLUMN else self.features[name]
            self._clean[name] = _as_float_array(raw, f"reference {name!r}")
        return self._clean[name]

    @classmethod
    def from_json(cls, source: str | Path | Mapping[str, Any]) -> ReferenceProfile:
        """Read a profile from a JSON file or an already-parsed dict.

        Raises:
            DriftError: the file cannot be read or is not in the profile format.
        """
        where = "reference profile"
        if isinstance(source, Mapping):
            data: Any = source
        else:
            where = f"reference profile {source}"
            try:
                data = json.loads(Path(source).read_text(encoding="utf-8"))
            except OSError as exc:
                raise DriftError(f"cannot read {where}: {exc.strerror or exc}") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DriftError(f"{where} is not valid JSON: {exc}") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("features"), Mapping):
            raise DriftError(
                f"{where} must be a JSON object with 'features' (name -> list of numbers), "
                "'fake_probability' (list of numbers) and 'n_images' (integer)"
            )
        features = {}
        for name, values in data["features"].items():
            if not isinstance(values, list):
                raise DriftError(f"{where}: feature {name!r} must be a list of numbers or null")
            features[str(name)] = _raw_floats(values, f"{where}: feature {name!r}")
        probability = data.get(PREDICTION_COLUMN)
        if probability is not None:
            if not isinstance(probability, list):
                raise DriftError(f"{where}: 'fake_probability' must be a list of numbers")
            probability = _raw_floats(probability, f"{where}: 'fake_probability'")
        sizes = [len(v) for v in features.values()]
        if probability is not None:
            sizes.append(len(probability))
        n_images = data.get("n_images", max(sizes, default=0))
        if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 0:
            raise DriftError(f"{where}: 'n_images' must be a whole number >= 0, got {n_images!r}")
        embeddings, space = _read_embeddings(data, where)
        metadata = {
            k: v
            for k, v in data.items()
            if k not in ("features", PREDICTION_COLUMN, "n_images", *_EMBEDDING_KEYS)
        }
        return cls(features, probability, n_images, metadata, embeddings, space)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        feature_names: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ReferenceProfile:
        """Build a profile from a predictions frame (``PredictionStore.predictions()``).

        Args:
            frame: one row per image, a column per feature, optionally ``fake_probability``,
                and ``embedding`` + ``embedding_space`` (``predictions(embeddings=True)``):
                the embeddings of the most common space are kept.
            feature_names: the feature columns to keep; default the known image features
                (``fakescope.images.FEATURE_NAMES``) that the frame has.
            metadata: ``name``, ``description`` and anything else to keep with the profile.

        Raises:
            DriftError: a named column is missing or not numeric.
        """
        if feature_names is None:
            names = [name for name in FEATURE_NAMES if name in frame.columns]
        else:
            names = list(feature_names)
            missing = [name for name in names if name not in frame.columns]
            if missing:
                raise DriftError(
                    f"the frame has no column {', '.join(map(repr, missing))}; it has "
                    f"{', '.join(map(str, frame.columns))}"
                )
        features = {name: _raw_floats(frame[name], f"column {name!r}") for name in names}
        probability = (
            _raw_floats(frame[PREDICTION_COLUMN], f"column {PREDICTION_COLUMN!r}")
            if PREDICTION_COLUMN in frame.columns
            else None
        )
        space, embeddings = embeddings_of(frame)
        return cls(features, probability, len(frame), dict(metadata or {}), embeddings, space)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (NaN written as null)."""
        data: dict[str, Any] = dict(self.metadata)
        data["features"] = {name: _json_list(values) for name, values in self.features.items()}
        data[PREDICTION_COLUMN] = (
            None if self.fake_probability is None else _json_list(self.fake_probability)
        )
        data["n_images"] = int(self.n_images)
        if self.embeddings is not None:
            data["embeddings"] = [[round(float(v), 6) for v in row] for row in self.embeddings]
            data["embedding_space"] = self.embedding_space
        return data

    def to_json(self, path: str | Path) -> Path:
        """Write the profile as JSON.

        Returns:
            The path written.

        Raises:
            DriftError: the file cannot be written.
        """
        path = Path(path)
        try:
            path.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        except OSError as exc:
            raise DriftError(
                f"cannot write reference profile {path}: {exc.strerror or exc}"
            ) from None
        return path


_EMBEDDING_KEYS = ("embeddings", "embedding_space")


def _read_embeddings(data: Mapping[str, Any], where: str) -> tuple[np.ndarray | None, str | None]:
    """The optional ``embeddings`` (list of equal-length number lists) and their space id."""
    rows, space = data.get("embeddings"), data.get("embedding_space")
    if rows is None:
        return None, None
    try:
        embeddings = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        embeddings = None
    if (
        embeddings is None
        or embeddings.ndim != 2
        or not np.isfinite(embeddings).all()
        or not isinstance(space, str)
    ):
        raise DriftError(
            f"{where}: 'embeddings' must be lists of equal length of finite numbers, with "
            "'embedding_space' naming their projection"
        )
    return embeddings, space


def embeddings_of(
    frame: pd.DataFrame, space: str | None = None
) -> tuple[str | None, np.ndarray | None]:
    """(space, (n, d) float32 array) of a frame's embeddings of one space.

    ``space`` None picks the most common space of the frame. Rows without an embedding of that
    space are left out. (None, None) when the frame has no embeddings.
    """
    if "embedding" not in frame.columns or "embedding_space" not in frame.columns:
        return None, None
    spaces = frame["embedding_space"].dropna()
    if space is None:
        if spaces.empty:
            return None, None
        space = str(spaces.value_counts().index[0])
    rows = [
        np.asarray(value, dtype=np.float32)
        for value, row_space in zip(frame["embedding"], frame["embedding_space"])
        if row_space == space and value is not None
    ]
    if not rows:
        return space, None
    return space, np.stack(rows)


def _raw_floats(values: Any, what: str) -> np.ndarray:
    """Numbers (None allowed) -> float64 array keeping NaN, for storage rather than testing."""
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind not in _NUMERIC_KINDS:
        raise DriftError(f"{what} must be numbers or null, got {kind} values")
    return series.to_numpy(dtype="float64", na_value=np.nan)


def _json_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype="float64")]


# ------------------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class FeatureDrift:
    """One test's result on one feature.

    Attributes:
        feature: column name (``fake_probability`` for prediction drift).
        test: test name (``ks``, ``psi``).
        score: the score compared with the threshold: the corrected p-value for ``ks`` when a
            correction is used, else the raw score; None when the test did not run.
        threshold: the threshold used.
        drifted: True / False, or None when there was no verdict (see ``status``).
        status: ``ok``, ``not enough data (n < 30)`` or ``missing from current data``.
        n_reference, n_current: finite values used on each side.
        raw_score: the score before any multiple-testing correction.
        drifted_when: ``"<="`` or ``">="``: how score and threshold compare when drifting.
        band: PSI band (``stable`` / ``moderate`` / ``significant``), else None.
    """

    feature: str
    test: str
    score: float | None
    threshold: float
    drifted: bool | None
    status: str
    n_reference: int
    n_current: int
    raw_score: float | None = None
    drifted_when: str = "<="
    band: str | None = None


@dataclass(frozen=True)
class DriftReport:
    """Drift of every feature and of the prediction distribution against a reference.

    Attributes:
        features: one :class:`FeatureDrift` per feature and test.
        drift_share: share of features (with a verdict) that drifted; None when none had one.
        dataset_drifted: ``drift_share >= share_threshold``; None when drift_share is None.
        share_threshold: the ``drift_share`` argument.
        prediction_drift: one :class:`FeatureDrift` per test on ``fake_probability`` (empty when
            either side has no fake probabilities).
        prediction_drifted: the combined verdict on ``fake_probability``, or None.
        feature_drifted: feature -> combined verdict of its tests (see ``combine``).
        tests: the test names used.
        correction: the p-value correction used.
        combine: ``all`` (a feature drifts when every test says so) or ``any``.
        n_reference: images in the reference; n_current: rows in the current data.
        min_samples: the smallest sample that gets a verdict.
        status: ``ok`` or why there is no dataset verdict.
    """

    features: list[FeatureDrift]
    drift_share: float | None
    dataset_drifted: bool | None
    share_threshold: float
    prediction_drift: list[FeatureDrift]
    prediction_drifted: bool | None
    feature_drifted: dict[str, bool | None]
    tests: tuple[str, ...]
    correction: str | None
    combine: str
    n_reference: int
    n_current: int
    min_samples: int
    status: str

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features whose combined verdict is drift."""
        return [name for name, drifted in self.feature_drifted.items() if drifted]

    def to_frame(self) -> pd.DataFrame:
        """One row per feature and test (prediction rows last, ``kind`` = ``prediction``)."""
        rows = []
        for kind, results in (("feature", self.features), ("prediction", self.prediction_drift)):
            for result in results:
                combined = (
                    self.prediction_drifted
                    if kind == "prediction"
                    else self.feature_drifted.get(result.feature)
                )
                rows.append(
                    {
                        "kind": kind,
                        "feature": result.feature,
                        "test": result.test,
                        "score": result.score,
                        "raw_score": result.raw_score,
                        "threshold": result.threshold,
                        "drifted_when": result.drifted_when,
                        "drifted": result.drifted,
                        "band": result.band,
                        "status": result.status,
                        "n_reference": result.n_reference,
                        "n_current": result.n_current,
                        "feature_drifted": combined,
                    }
                )
        columns = [
            "kind",
            "feature",
            "test",
            "score",
            "raw_score",
            "threshold",
            "drifted_when",
            "drifted",
            "band",
            "status",
            "n_reference",
            "n_current",
            "feature_drifted",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("drifted", "feature_drifted"):
            frame[column] = frame[column].astype(object)
        return frame


def _not_enough(min_samples: int) -> str:
    return f"not enough data (n < {min_samples})"


def _combine(verdicts: list[bool | None], mode: str) -> bool | None:
    known = [v for v in verdicts if v is not None]
    if not known:
        return None
    return all(known) if mode == "all" else any(known)


def _check_options(
    tests: Iterable[str | StatTest],
    correction: str | None,
    drift_share: float,
    min_samples: int,
    combine: str,
) -> list[StatTest]:
    chosen = [get_stat_test(name) for name in tests]
    if not chosen:
        raise DriftError(f"give at least one drift test; known tests: {', '.join(STAT_TESTS)}")
    for test in chosen:
        if "numerical" not in test.allowed_data:
            raise DriftError(f"drift test {test.name!r} does not accept numerical data")
    if correction not in CORRECTIONS:
        raise DriftError(
            f"unknown p-value correction {correction!r}; use 'bonferroni', 'bh' or None"
        )
    if not 0.0 < drift_share <= 1.0:
        raise DriftError(f"drift_share must be in (0, 1], got {drift_share!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise DriftError(f"min_samples must be a whole number >= 1, got {min_samples!r}")
    if combine not in COMBINE_MODES:
        raise DriftError(f"combine must be 'all' or 'any', got {combine!r}")
    return chosen


def _run_tests(
    column: str,
    reference: np.ndarray | None,
    current: np.ndarray | None,
    tests: list[StatTest],
    thresholds: Mapping[str, float],
    min_samples: int,
) -> list[FeatureDrift]:
    n_ref = 0 if reference is None else int(reference.size)
    n_cur = 0 if current is None else int(current.size)
    if current is None:
        status = STATUS_MISSING
    elif n_ref < min_samples or n_cur < min_samples:
        status = _not_enough(min_samples)
    else:
        status = STATUS_OK
    results = []
    for test in tests:
        threshold = float(thresholds.get(test.name, test.default_threshold))
        score = None
        if status == STATUS_OK:
            score = test.func(reference, current)
        results.append(
            FeatureDrift(
                feature=column,
                test=test.name,
                score=score,
                threshold=threshold,
                drifted=None if score is None else test.drifted(score, threshold),
                status=status,
                n_reference=n_ref,
                n_current=n_cur,
                raw_score=score,
                drifted_when=test.drifted_when,
                band=test.band(score) if test.band else None,
            )
        )
    return results


def _apply_correction(
    results: list[FeatureDrift], tests: list[StatTest], correction: str | None
) -> list[FeatureDrift]:
    if correction is None:
        return results
    results = list(results)
    for test in tests:
        if not test.is_p_value:
            continue
        where = [i for i, r in enumerate(results) if r.test == test.name and r.score is not None]
        adjusted = adjust_p_values([results[i].raw_score for i in where], correction)
        for i, p in zip(where, adjusted):
            old = results[i]
            results[i] = FeatureDrift(
                **{
                    **old.__dict__,
                    "score": float(p),
                    "drifted": test.drifted(float(p), old.threshold),
                }
            )
    return results


def _current_column(current: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in current.columns:
        return None
    return _as_float_array(current[name], f"current column {name!r}")


def drift_report(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    *,
    tests: Sequence[str | StatTest] = ("ks", "psi"),
    correction: str | None = "bh",
    drift_share: float = 0.5,
    min_samples: int = 30,
    combine: str = "all",
    thresholds: Mapping[str, float] | None = None,
    features: Iterable[str] | None = None,
) -> DriftReport:
    """Test every reference feature, and the fake probability, against recent data.

    Args:
        reference: the model version's reference profile.
        current: recent predictions (``PredictionStore.predictions()``), a column per feature.
        tests: drift test names (see :data:`STAT_TESTS`).
        correction: multiple-testing correction of p-value tests across features
            (``"bh"``, ``"bonferroni"`` or None); prediction drift is tested alone.
        drift_share: the dataset drifts when the share of drifted features reaches this.
        min_samples: fewer finite values than this on either side gives no verdict.
        combine: ``"all"``: a feature drifts only when every test says so (KS alone flags tiny
            shifts on large samples, PSI alone is noisy on small ones); ``"any"``: when one does.
        thresholds: test name -> threshold, overriding the defaults (ks 0.05, psi 0.25).
        features: the features to test; default every feature of the reference.

    Returns:
        A :class:`DriftReport`.

    Raises:
        DriftError: unknown test or correction, bad options, or non-numeric data.
    """
    chosen = _check_options(tests, correction, drift_share, min_samples, combine)
    if not isinstance(current, pd.DataFrame):
        raise DriftError(f"current data must be a pandas DataFrame, got {type(current).__name__}")
    thresholds = dict(thresholds or {})
    unknown = set(thresholds) - {t.name for t in chosen}
    if unknown:
        raise DriftError(
            f"thresholds given for tests not run: {', '.join(sorted(unknown))}; "
            f"tests run: {', '.join(t.name for t in chosen)}"
        )
    names = list(reference.features) if features is None else list(features)
    missing = [name for name in names if name not in reference.features]
    if missing:
        raise DriftError(
            f"the reference profile has no feature {', '.join(map(repr, missing))}; it has "
            f"{', '.join(reference.features) or 'none'}"
        )

    results: list[FeatureDrift] = []
    for name in names:
        results += _run_tests(
            name,
            reference.cleaned(name),
            _current_column(current, name),
            chosen,
            thresholds,
            min_samples,
        )
    results = _apply_correction(results, chosen, correction)
    feature_drifted = {
        name: _combine([r.drifted for r in results if r.feature == name], combine) for name in names
    }

    prediction: list[FeatureDrift] = []
    if reference.fake_probability is not None and PREDICTION_COLUMN in current.columns:
        prediction = _run_tests(
            PREDICTION_COLUMN,
            reference.cleaned(PREDICTION_COLUMN),
            _current_column(current, PREDICTION_COLUMN),
            chosen,
            thresholds,
            min_samples,
        )
    prediction_drifted = _combine([r.drifted for r in prediction], combine)

    verdicts = [v for v in feature_drifted.values() if v is not None]
    share = sum(verdicts) / len(verdicts) if verdicts else None
    if share is not None:
        status = STATUS_OK
    elif not names:
        status = "no features to test"
    elif all(r.status == STATUS_MISSING for r in results):
        status = STATUS_MISSING
    else:
        status = _not_enough(min_samples)
    return DriftReport(
        features=results,
        drift_share=share,
        dataset_drifted=None if share is None else share >= drift_share,
        share_threshold=drift_share,
        prediction_drift=prediction,
        prediction_drifted=prediction_drifted,
        feature_drifted=feature_drifted,
        tests=tuple(t.name for t in chosen),
        correction=correction,
        combine=combine,
        n_reference=int(reference.n_images),
        n_current=len(current),
        min_samples=min_samples,
        status=status,
    )


DRIFT_OVER_TIME_COLUMNS = (
    "window_start",
    "window_end",
    "n",
    "drift_share",
    "dataset_drifted",
    "prediction_drifted",
    "status",
)


def parse_window(window: Any) -> pd.Timedelta | int:
    """A window as a fixed time span (``"1h"``, ``"30min"``) or a whole number of rows.

    Raises:
        DriftError: anything else (a month, a negative span, 0 rows), with what is accepted.
    """
    if isinstance(window, bool) or not isinstance(window, (str, int)):
        raise DriftError(f"window must be a time span such as '1h' or a row count, got {window!r}")
    if isinstance(window, int):
        if window < 1:
            raise DriftError(f"a window in rows must be at least 1, got {window}")
        return window
    try:
        width = pd.Timedelta(pd.tseries.frequencies.to_offset(window))
    except (TypeError, ValueError):
        raise DriftError(
            f"window must be a fixed time span such as '30min', '1h', '1D' or a row count, "
            f"got {window!r}"
        ) from None
    if width <= pd.Timedelta(0):
        raise DriftError(f"window must be a positive time span, got {window!r}")
    return width


def split_windows(
    frame: pd.DataFrame, window: pd.Timedelta | int
) -> Iterator[tuple[pd.Timestamp, pd.Timestamp, pd.DataFrame]]:
    """(start, end, rows) per window of a frame with ``recorded_at``, oldest first.

    Time windows are aligned to the epoch (empty ones left out; ``end`` exclusive); row windows
    are consecutive chunks in time order (``end`` = the last row's time; the last may be short).
    """
    ordered = frame.sort_values("recorded_at", kind="stable")
    if isinstance(window, pd.Timedelta):
        starts = ordered["recorded_at"].dt.floor(window)
        for start, chunk in ordered.groupby(starts):
            yield start, start + window, chunk
        return
    times = ordered["recorded_at"]
    for i in range(0, len(ordered), window):
        yield times.iloc[i], times.iloc[min(i + window, len(ordered)) - 1], ordered.iloc[
            i : i + window
        ]


def drift_over_time(
    reference: ReferenceProfile,
    predictions: pd.DataFrame,
    *,
    window: str | int = "1h",
    **options: Any,
) -> pd.DataFrame:
    """The drift report over consecutive windows of the prediction log.

    Args:
        reference: the model version's reference profile.
        predictions: frame with ``recorded_at`` and the feature columns.
        window: a fixed time span (``"1h"``, ``"30min"``; windows aligned to the epoch, empty
            ones left out) or a whole number of rows (consecutive chunks in time order; the last
            may be smaller).
        **options: passed to :func:`drift_report` (tests, correction, drift_share, min_samples,
            combine, thresholds, features).

    Returns:
        Columns :data:`DRIFT_OVER_TIME_COLUMNS`, then one score column per feature and test
        (``"<feature>_<test>"``, ``fake_probability_<test>`` included); one row per window,
        oldest first. ``window_end`` is exclusive for time windows and the last row's time for
        row windows.

    Raises:
        DriftError: bad window or options, or non-numeric data.
    """
    width = parse_window(window)
    if predictions is None or len(predictions) == 0:
        return pd.DataFrame(columns=list(DRIFT_OVER_TIME_COLUMNS))
    if "recorded_at" not in predictions.columns:
        raise DriftError("predictions must have a 'recorded_at' column (PredictionStore output)")

    rows = []
    groups = split_windows(predictions, width)
    for start, end, chunk in groups:
        report = drift_report(reference, chunk, **options)
        row: dict[str, Any] = {
            "window_start": start,
            "window_end": end,
            "n": len(chunk),
            "drift_share": report.drift_share,
            "dataset_drifted": report.dataset_drifted,
            "prediction_drifted": report.prediction_drifted,
            "status": report.status,
        }
        for result in report.features + report.prediction_drift:
            row[f"{result.feature}_{result.test}"] = result.score
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["drift_share"] = frame["drift_share"].astype("float64")
    return frame
