"""Latency, throughput and rejection summaries over the prediction log's DataFrames.

Every function takes the frames :class:`fakescope.store.PredictionStore` returns
(``predictions()`` / ``rejections()``) and gives back plain dicts or DataFrames ready to render.
Empty input gives empty frames or None values; nothing here raises on an empty log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fakescope.errors import ConfigError

PERCENTILES = (50, 95, 99)

LATENCY_OVER_TIME_COLUMNS = (
    "window_start",
    "model_version",
    "count",
    "rejections",
    "p50",
    "p95",
    "p99",
    "mean",
    "throughput_per_min",
    "rejection_rate",
)

REJECTION_REASON_COLUMNS = ("reason", "count", "share", "last_seen", "example_message")


def _rows(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame)


def _span_minutes(times: pd.Series) -> float:
    return (times.max() - times.min()).total_seconds() / 60.0


def latency_summary(
    predictions: pd.DataFrame, rejections: pd.DataFrame | None = None
) -> dict[str, float | int | None]:
    """Latency percentiles, throughput and rejection rate over a whole predictions frame.

    Args:
        predictions: frame with ``latency_ms`` and ``recorded_at`` columns.
        rejections: the matching rejections frame, to compute the rejection rate.

    Returns:
        ``count``, ``p50``, ``p95``, ``p99``, ``mean``, ``max`` (ms, linear-interpolated
        percentiles), ``span_minutes`` (first to last prediction), ``throughput_per_min``
        (predictions per minute over that span; None with fewer than two distinct times),
        ``rejections`` and ``rejection_rate`` (rejections / (predictions + rejections); None when
        no rejections frame is given or there was no traffic at all). Latency values are None
        when there are no predictions.
    """
    latencies = (
        np.asarray(predictions["latency_ms"], dtype="float64")
        if _rows(predictions)
        else np.empty(0)
    )
    latencies = latencies[np.isfinite(latencies)]
    summary: dict[str, float | int | None] = {
        "count": int(latencies.size),
        "p50": None,
        "p95": None,
        "p99": None,
        "mean": None,
        "max": None,
        "span_minutes": None,
        "throughput_per_min": None,
        "rejections": None if rejections is None else _rows(rejections),
        "rejection_rate": None,
    }
    if latencies.size:
        p50, p95, p99 = np.percentile(latencies, PERCENTILES)
        summary.update(
            p50=float(p50),
            p95=float(p95),
            p99=float(p99),
            mean=float(latencies.mean()),
            max=float(latencies.max()),
        )
    if _rows(predictions):
        span = _span_minutes(predictions["recorded_at"])
        summary["span_minutes"] = span
        if span > 0:
            summary["throughput_per_min"] = len(predictions) / span
    if rejections is not None:
        total = _rows(predictions) + _rows(rejections)
        summary["rejection_rate"] = _rows(rejections) / total if total else None
    return summary


def _window(window: str) -> pd.Timedelta:
    try:
        width = pd.Timedelta(pd.tseries.frequencies.to_offset(window))
    except (TypeError, ValueError):
        raise ConfigError(
            f"window must be a fixed time span such as '1min', '5min', '1h' or '1D', got {window!r}"
        ) from None
    if width <= pd.Timedelta(0):
        raise ConfigError(f"window must be a positive time span, got {window!r}")
    return width


def latency_over_time(
    predictions: pd.DataFrame,
    rejections: pd.DataFrame | None = None,
    *,
    window: str = "5min",
) -> pd.DataFrame:
    """Latency, throughput and rejection rate per time window and model version.

    Windows are aligned to the epoch (``5min`` windows start at :00, :05, ...); windows with no
    traffic are left out. A window where a version only had rejections has ``count`` 0 and NaN
    latencies. Rejections logged without a model version form rows with ``model_version`` None.

    Args:
        predictions: frame with ``recorded_at``, ``model_version``, ``latency_ms``.
        rejections: frame with ``recorded_at`` and ``model_version``, or None.
        window: a fixed span understood by pandas (``'1min'``, ``'5min'``, ``'1h'``).

    Returns:
        Columns :data:`LATENCY_OVER_TIME_COLUMNS`, sorted by window then version.
        ``throughput_per_min`` is predictions per minute of window; ``rejection_rate`` is
        rejections / (predictions + rejections), NaN when no rejections frame is given.

    Raises:
        ConfigError: ``window`` is not a positive fixed time span.
    """
    width = _window(window)
    frames = []
    if _rows(predictions):
        pred = predictions[["recorded_at", "model_version", "latency_ms"]].copy()
        pred["window_start"] = pred["recorded_at"].dt.floor(width)
        grouped = pred.groupby(["window_start", "model_version"], dropna=False)["latency_ms"]
        stats = grouped.agg(count="count", mean="mean")
        quantiles = grouped.quantile([p / 100 for p in PERCENTILES]).unstack()
        quantiles.columns = [f"p{p}" for p in PERCENTILES]
        frames.append(stats.join(quantiles))
    if _rows(rejections):
        rej = rejections[["recorded_at", "model_version"]].copy()
        rej["window_start"] = rej["recorded_at"].dt.floor(width)
        counts = rej.groupby(["window_start", "model_version"], dropna=False).size()
        frames.append(counts.rename("rejections").to_frame())
    if not frames:
        return pd.DataFrame(columns=list(LATENCY_OVER_TIME_COLUMNS))
    table = pd.concat(frames, axis=1).sort_index().reset_index()
    for column in LATENCY_OVER_TIME_COLUMNS:
        if column not in table:
            table[column] = np.nan
    table["count"] = table["count"].fillna(0).astype("int64")
    if rejections is not None:
        table["rejections"] = table["rejections"].fillna(0).astype("int64")
        table["rejection_rate"] = table["rejections"] / (table["count"] + table["rejections"])
    else:
        table["rejections"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table["throughput_per_min"] = table["count"] / (width.total_seconds() / 60.0)
    table["model_version"] = (
        table["model_version"].astype(object).where(table["model_version"].notna(), None)
    )
    return table[list(LATENCY_OVER_TIME_COLUMNS)]


def rejection_reasons(rejections: pd.DataFrame | None) -> pd.DataFrame:
    """How often each rejection reason happened, most frequent first.

    Args:
        rejections: frame with ``reason``, ``message`` and ``recorded_at``.

    Returns:
        Columns :data:`REJECTION_REASON_COLUMNS`: ``share`` of all rejections, ``last_seen``
        (UTC time of the newest) and the newest ``example_message`` for that reason.
    """
    if not _rows(rejections):
        return pd.DataFrame(columns=list(REJECTION_REASON_COLUMNS))
    ordered = rejections.sort_values("recorded_at", kind="stable")
    grouped = ordered.groupby("reason", sort=False)
    table = pd.DataFrame(
        {
            "count": grouped.size(),
            "last_seen": grouped["recorded_at"].max(),
            "example_message": grouped["message"].last(),
        }
    )
    table["share"] = table["count"] / len(rejections)
    table = table.reset_index().sort_values(
        ["count", "last_seen"], ascending=[False, False], kind="stable"
    )
    return table[list(REJECTION_REASON_COLUMNS)].reset_index(drop=True)
