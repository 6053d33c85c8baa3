"""What the API's routes do, without HTTP: predict, describe the model, summarise drift, readiness.

Every function takes the shared objects (Predictor, PredictionStore, Registry, Settings) as
arguments, so the same code serves the server and the unit tests, and the routes stay thin.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fakescope.acceleration import describe_runtime
from fakescope.cli import _outcome_row
from fakescope.config import Settings
from fakescope.drift import ReferenceProfile, drift_report
from fakescope.drift_checks import DEFAULT_WINDOW, check_window
from fakescope.errors import FakeScopeError
from fakescope.predictor import Predictor
from fakescope.reference import ReferenceChoice, load_reference
from fakescope.registry import Registry
from fakescope.safe_text import without_server_paths
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction, Rejection

SOURCE = "api"
# Per-request overrides stay where a verdict still means something: a threshold of 0.001
# would call every image fake, a band of 0.9 would call nearly every image uncertain.
THRESHOLD_BOUNDS = (0.05, 0.95)
BAND_BOUNDS = (0.0, 0.5)
# GET /api/v1/drift?window=...: the Monitor page's time ranges.
WINDOWS: dict[str, timedelta | None] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
REFERENCES = ("profile", "baseline")
MIN_BASELINE_ROWS = 30  # as the Monitor page: drift tests give no verdict on fewer samples
READY_PROBE_TIMEOUT_S = 1.0


class ApiError(Exception):
    """An error the API answers as JSON ``{"code", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def check_overrides(
    settings: Settings, threshold: float | None, band: float | None
) -> tuple[float, float]:
    """The threshold and uncertain band for one request (the settings' unless overridden).

    Raises:
        ApiError: 422 ``invalid_parameter`` when an override is outside its bounds.
    """
    chosen_threshold = settings.threshold if threshold is None else threshold
    chosen_band = settings.uncertain_band if band is None else band
    low, high = THRESHOLD_BOUNDS
    if threshold is not None and not low <= threshold <= high:
        raise ApiError(
            422, "invalid_parameter", f"threshold must be between {low} and {high}, got {threshold}"
        )
    low, high = BAND_BOUNDS
    if band is not None and not low <= band <= high:
        raise ApiError(
            422, "invalid_parameter", f"band must be between {low} and {high}, got {band}"
        )
    return chosen_threshold, chosen_band


@dataclass
class PredictOutcome:
    """One predict request's result: the response body, and what happened, for logs/metrics."""

    body: dict[str, Any]
    outcomes: list[Any] = field(default_factory=list)


def predict_files(
    predictor: Predictor,
    store: PredictionStore | None,
    files: Sequence[tuple[str, bytes]],
    *,
    threshold: float,
    band: float,
) -> PredictOutcome:
    """Judge uploaded files the way the Detect page and ``fakescope predict`` do, and log them.

    Args:
        predictor: the shared predictor.
        store: the prediction log, or None when it cannot be opened (the answer says so).
        files: (file name, bytes) per upload, in request order.
        threshold, band: the verdict threshold and uncertain band for this request.

    Returns:
        The response body (``results`` holds one ``fakescope predict --json`` row per file)
        and the outcomes.
    """
    names = [name for name, _ in files]
    outcomes = predictor.predict([data for _, data in files], errors="return", names=names)
    settings = predictor.settings
    if (threshold, band) != (settings.threshold, settings.uncertain_band):
        outcomes = [
            o.relabel(threshold, band) if isinstance(o, Prediction) else o for o in outcomes
        ]
    logged, log_error = _log(predictor, store, outcomes)
    info = predictor.info
    body = {
        "model": info.name,
        "model_version": info.version,
        "threshold": threshold,
        "uncertain_band": band,
        "count": len(outcomes),
        "rejected": sum(1 for o in outcomes if isinstance(o, Rejection)),
        "logged": logged,
        "results": [_outcome_row(Path(name), o) for name, o in zip(names, outcomes)],
    }
    if log_error:
        body["log_error"] = log_error
    return PredictOutcome(body, outcomes)


def _log(
    predictor: Predictor, store: PredictionStore | None, outcomes: list[Any]
) -> tuple[bool, str | None]:
    """Record outcomes with source ``api``; a log problem is reported, never fatal."""
    if store is None:
        return False, "the prediction log cannot be opened"
    try:
        predictions = [o for o in outcomes if isinstance(o, Prediction)]
        if predictions:
            store.record_predictions(predictions, source=SOURCE)
        for rejection in (o for o in outcomes if isinstance(o, Rejection)):
            store.record_rejection(
                rejection,
                source=SOURCE,
                model_name=predictor.info.name,
                model_version=predictor.info.version,
            )
    except FakeScopeError as exc:
        return False, str(exc)
    return True, None


def model_summary(predictor: Predictor, registry: Registry, settings: Settings) -> dict[str, Any]:
    """The served model: name, version, source, weights hash, runtime, precision, card metrics."""
    info = predictor.info
    metrics: dict[str, Any] = {}
    try:
        if info.version in {v.version for v in registry.versions()}:
            metrics = registry.get(info.version).metrics
    except FakeScopeError:
        metrics = {}  # a damaged registry file: the model still serves; the Models page repairs
    return {
        "name": info.name,
        "version": info.version,
        # A hub model is named by its pinned id; a local one by "local files": the API may be
        # public (a Space), and a path names the server's layout.
        "source": info.source if str(info.source).startswith("hf://") else "local files",
        "revision": info.revision,
        "weights_sha256": info.weights_sha256,
        "architecture": info.architecture,
        "parameter_count": info.parameter_count,
        "labels": {str(k): v for k, v in sorted(info.labels.items())},
        "label_roles": {str(k): v for k, v in sorted(info.label_roles.items())},
        "input_size": list(info.input_size),
        "precision": info.precision,
        "runtime": without_server_paths(describe_runtime(info.extra.get("acceleration", {}))),
        "limits": info.limits,
        "card_metrics": metrics,
        "threshold": settings.threshold,
        "uncertain_band": settings.uncertain_band,
        "api_limits": {
            "max_files": settings.api_max_files,
            "max_request_bytes": settings.api_max_request_bytes,
            "max_file_bytes": settings.max_file_bytes,
            "threshold_bounds": list(THRESHOLD_BOUNDS),
            "band_bounds": list(BAND_BOUNDS),
        },
    }


def _reference_profile(registry: Registry, version: str) -> ReferenceProfile:
    """The version's own reference (as the Monitor page reads it).

    Raises:
        ApiError: 409 ``no_reference`` with the reason when there is none to compare with.
    """
    try:
        return load_reference(ReferenceChoice.model(), registry, None, version)
    except FakeScopeError as exc:
        raise ApiError(
            409,
            "no_reference",
            f"{exc}; use reference=baseline to compare with an early part of the log",
        )


def drift_summary(
    store: PredictionStore,
    registry: Registry,
    *,
    window: str = "24h",
    reference: str = "profile",
    version: str | None = None,
    baseline_rows: int | None = None,
) -> dict[str, Any]:
    """The drift summary of the Monitor page's Drift tab, computed by :func:`drift_report`.

    Args:
        store: the prediction log.
        registry: the model registry (reference profiles, active version).
        window: ``1h``, ``24h``, ``7d``, ``30d`` or ``all``: how far back the log is read.
        reference: ``profile`` (the version's validation profile) or ``baseline`` (the first
            ``baseline_rows`` predictions of the window; default half of them, at least 30).
        version: the model version; default the registry's active one.

    Raises:
        ApiError: 422 for a bad parameter, 409 when there is no reference or too little data.
    """
    if window not in WINDOWS:
        raise ApiError(
            422, "invalid_parameter", f"window must be one of {', '.join(WINDOWS)}, got {window!r}"
        )
    if reference not in REFERENCES:
        raise ApiError(
            422,
            "invalid_parameter",
            f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}",
        )
    if version is None:
        try:
            version = registry.active_version()
        except FakeScopeError as exc:
            raise ApiError(409, "no_reference", f"the registry cannot be read: {exc}")
        if version is None:
            raise ApiError(409, "no_reference", "the registry has no active version")
    span = WINDOWS[window]
    since = datetime.now(timezone.utc) - span if span is not None else None
    current = store.predictions(since=since, model_version=version, embeddings=True)
    if reference == "baseline":
        rows = (
            baseline_rows
            if baseline_rows is not None
            else max(MIN_BASELINE_ROWS, len(current) // 2)
        )
        if rows < MIN_BASELINE_ROWS or len(current) < rows + MIN_BASELINE_ROWS:
            raise ApiError(
                409,
                "not_enough_data",
                f"a baseline of {rows} predictions (at least {MIN_BASELINE_ROWS}) needs at least "
                f"{max(rows, MIN_BASELINE_ROWS) + MIN_BASELINE_ROWS} in the window; "
                f"there are {len(current)}",
            )
        described = f"the first {rows} predictions by {version} in the window"
        profile = ReferenceProfile.from_frame(
            current.iloc[:rows], metadata={"name": "baseline", "description": described}
        )
        current = current.iloc[rows:]
    else:
        profile = _reference_profile(registry, version)
        described = f"{profile.name}: {profile.description}"
    report = drift_report(profile, current)
    table = report.to_frame()
    # Every test on the newest window, as the Monitor page's headline.
    check = check_window(profile, current.iloc[-DEFAULT_WINDOW:])
    return {
        "model_version": version,
        "window": window,
        "reference": reference,
        "reference_description": described,
        "status": report.status,
        "dataset_drifted": report.dataset_drifted,
        "drift_share": report.drift_share,
        "share_threshold": report.share_threshold,
        "drifted_features": report.drifted_features,
        "prediction_drifted": report.prediction_drifted,
        "n_reference": report.n_reference,
        "n_current": report.n_current,
        "tests": list(report.tests),
        # NaN is not JSON: missing scores become null.
        "features": [
            {k: (None if _is_nan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")
        ],
        "newest_window": {
            "reference": check.reference_label,
            "window": check.window_label,
            "drifted": check.drifted,
            "alarms": check.alarms,
            "level": check.level,
            "tests": [
                {k: (None if _is_nan(v) else v) for k, v in row.items()}
                for row in check.to_frame().to_dict(orient="records")
            ],
        },
    }


def record_label(store: PredictionStore | None, body: Any) -> dict[str, Any]:
    """``POST /api/v1/labels``: a ground-truth label for a logged prediction or an image.

    ``body`` is a JSON object: ``truth`` (``real``/``fake``) and ``prediction_id`` (the label
    applies to that prediction) or ``sha256`` (to every prediction of that image), optionally
    ``note``. The prediction itself never changes (see ``PredictionStore.record_label``).

    Raises:
        ApiError: 422 ``invalid_label`` for a malformed body or value, 404 ``not_found`` for an
            unknown prediction id, 503 ``log_unavailable`` when the log cannot be opened.
    """
    if store is None:
        raise ApiError(503, "log_unavailable", "the prediction log cannot be opened")
    accepted = (
        'a JSON object {"truth": "real" | "fake", "prediction_id": N} or {"truth": ..., '
        '"sha256": "<64 hex>"}, optionally "note"'
    )
    if not isinstance(body, dict) or set(body) - {"truth", "prediction_id", "sha256", "note"}:
        raise ApiError(422, "invalid_label", f"send {accepted}")
    prediction_id, logged = body.get("prediction_id"), None
    if prediction_id is not None:
        if isinstance(prediction_id, bool) or not isinstance(prediction_id, int):
            raise ApiError(
                422, "invalid_label", f"prediction_id must be a whole number; send {accepted}"
            )
        logged = store.find_prediction(prediction_id=prediction_id)
        if logged is None:
            raise ApiError(404, "not_found", f"no prediction with id {prediction_id}")
    try:
        label_id = store.record_label(
            truth=body.get("truth"),
            prediction_id=prediction_id,
            sha256=body.get("sha256"),
            source=SOURCE,
            note=body.get("note"),
        )
    except FakeScopeError as exc:
        raise ApiError(422, "invalid_label", f"{exc}; send {accepted}")
    return {
        "label_id": label_id,
        "truth": str(body["truth"]).strip().lower(),
        "prediction_id": prediction_id,
        "sha256": logged["sha256"] if logged is not None else str(body["sha256"]).strip().lower(),
    }


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def log_writable(store: PredictionStore | None, settings: Settings) -> str | None:
    """Why the prediction log cannot take a write right now, or None when it can.

    For SQLite the probe takes the write lock (``BEGIN IMMEDIATE``, then rolls back) with a
    short timeout: a read-only file, a full or vanished folder and a lock held elsewhere all
    show up, and nothing is written. Other databases get a round trip on the store's engine.
    """
    if store is None:
        return "the prediction log cannot be opened"
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.exists():
            return f"the prediction log {path.name} does not exist any more"
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            return f"the prediction log {path.name} or its folder is read-only"
        try:
            conn = sqlite3.connect(path, timeout=READY_PROBE_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return f"the prediction log cannot be written: {exc}"
        return None
    try:
        store.count()
    except FakeScopeError as exc:
        return f"the prediction log cannot be reached: {exc}"
    return None
