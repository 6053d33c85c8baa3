"""Monitor: latency, throughput, rejections and drift, from the prediction log.

All numbers come from ``fakescope.monitoring`` and ``fakescope.drift``; this page only picks the
rows (filters), asks for the summaries and draws them with Plotly.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import components
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import resources
import streamlit as st

from fakescope.drift import PREDICTION_COLUMN, ReferenceProfile, drift_over_time, drift_report
from fakescope.errors import FakeScopeError
from fakescope.monitoring import latency_over_time, latency_summary, rejection_reasons

RANGES = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}
ALL_VERSIONS = "All versions"
SOURCES = ("All sources", "dashboard", "api", "cli", "simulate")
# Drift over time: consecutive windows of this many rows at least (a verdict needs samples).
DRIFT_WINDOWS = 12
CHART_HEIGHT = 320
REFERENCE_PROFILE = "Model's validation profile"
REFERENCE_BASELINE = "Baseline window of the log"
MIN_BASELINE_ROWS = 30  # drift tests give no verdict on fewer samples


@st.cache_data(ttl=30, max_entries=16, show_spinner="Reading the prediction log...")
def _read_log(
    _store: Any, url: str, range_name: str, version: str | None, source: str | None, refresh: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and rejections for the filters, kept 30 s so that changing a chart's option
    does not read the log again (``refresh`` changes when the Refresh button is pressed)."""
    span = RANGES[range_name]
    since = datetime.now(timezone.utc) - span if span is not None else None
    return (
        _store.predictions(since=since, model_version=version, source=source),
        _store.rejections(since=since, model_version=version, source=source),
    )


def _refresh() -> None:
    st.session_state["monitor_refreshes"] = st.session_state.get("monitor_refreshes", 0) + 1


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _kpis(summary: dict[str, Any]) -> None:
    cols = st.columns(5)
    cols[0].metric("Predictions", f"{summary['count']:,}")
    cols[1].metric("Latency p50", _fmt_ms(summary["p50"]))
    cols[2].metric("Latency p95", _fmt_ms(summary["p95"]))
    throughput = summary["throughput_per_min"]
    cols[3].metric("Throughput", "-" if throughput is None else f"{throughput:.1f} / min")
    rate = summary["rejection_rate"]
    cols[4].metric("Rejected", "-" if rate is None else f"{rate:.1%}")


def _latency_section(predictions: pd.DataFrame, rejections: pd.DataFrame, window: str) -> None:
    over_time = latency_over_time(predictions, rejections, window=window)
    scored = over_time[over_time["count"] > 0]
    left, right = st.columns(2, gap="medium")
    with left:
        st.markdown(f"**Latency over time** (p50 and p95 per {window} window)")
        figure = go.Figure()
        for version, rows in scored.groupby("model_version", dropna=False):
            for column, dash in (("p50", "solid"), ("p95", "dot")):
                figure.add_trace(
                    go.Scatter(
                        x=rows["window_start"],
                        y=rows[column],
                        mode="lines+markers",
                        name=f"{version} {column}",
                        line={"dash": dash},
                    )
                )
        figure.update_layout(
            height=CHART_HEIGHT,
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            yaxis_title="ms",
            legend={"orientation": "h", "y": -0.2},
        )
        st.plotly_chart(figure, key="monitor_latency_chart")
    with right:
        st.markdown("**Latency distribution**")
        histogram = px.histogram(
            predictions, x="latency_ms", color="model_version", nbins=40, opacity=0.8
        )
        histogram.update_layout(
            height=CHART_HEIGHT,
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            xaxis_title="latency (ms)",
            yaxis_title="predictions",
            legend={"orientation": "h", "y": -0.2},
            barmode="overlay",
        )
        st.plotly_chart(histogram, key="monitor_latency_histogram")

    st.markdown(f"**Throughput** (predictions and rejections per {window} window)")
    per_window = (
        over_time.groupby("window_start")[["count", "rejections"]].sum().reset_index()
        if len(over_time)
        else over_time
    )
    throughput = go.Figure(
        [
            go.Bar(x=per_window["window_start"], y=per_window["count"], name="predictions"),
            go.Bar(
                x=per_window["window_start"],
                y=per_window["rejections"],
                name="rejections",
                marker_color="#dc2626",
            ),
        ]
    )
    throughput.update_layout(
        barmode="stack",
        height=260,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    st.plotly_chart(throughput, key="monitor_throughput_chart")


def _rejections_section(rejections: pd.DataFrame) -> None:
    reasons = rejection_reasons(rejections)
    if reasons.empty:
        st.info("No rejected uploads in this selection.")
        return
    figure = px.bar(reasons, x="count", y="reason", orientation="h", text="count")
    figure.update_layout(
        height=120 + 40 * len(reasons),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"categoryorder": "total ascending", "title": None},
        # Whole numbers only: a count axis with 0.5 steps reads as nonsense.
        xaxis={"tickformat": "d", "dtick": 1 if reasons["count"].max() <= 10 else None},
    )
    st.plotly_chart(figure, key="monitor_rejection_chart")
    st.dataframe(
        reasons,
        hide_index=True,
        key="monitor_rejection_table",
        column_config={
            "share": st.column_config.NumberColumn("share", format="percent"),
            "last_seen": st.column_config.DatetimeColumn("last seen (UTC)"),
            "example_message": st.column_config.TextColumn("latest message", width="large"),
        },
    )


def _reference(registry: Any, version: str | None) -> tuple[ReferenceProfile | None, str]:
    """The version's reference profile, or None with the reason shown to the user."""
    if version is None:
        return None, "The registry has no active version, so there is no reference to compare to."
    try:
        known = {v.version for v in registry.versions()}
        if version not in known:
            return None, (
                f"Model version {version} is not in the registry, so it has no reference "
                "profile: drift cannot be measured for it."
            )
        data = registry.read_json(version, "reference_profile.json")
    except FakeScopeError as exc:  # a damaged registry file: say which, keep the page
        return None, f"The reference profile cannot be read: {exc}"
    if data is None:
        return None, (
            f"Version {version} has no reference_profile.json, so drift cannot be measured. The "
            "training pipeline writes one next to each model it registers."
        )
    try:
        return ReferenceProfile.from_json(data), ""
    except (FakeScopeError, KeyError, TypeError, ValueError) as exc:
        return None, f"Version {version}'s reference_profile.json is malformed ({exc!r})."


def _drift_section(predictions: pd.DataFrame, registry: Any, chosen_version: str | None) -> None:
    try:
        active = registry.active_version()
    except FakeScopeError as exc:  # a damaged registry.json: the Models page can repair it
        st.warning(f"The registry cannot be read ({exc}); see the Models page.")
        active = None
    version = chosen_version or active
    current = predictions[predictions["model_version"] == version]
    # The model's validation profile answers "is traffic like what the model was checked on?";
    # an early window of the log answers "has traffic changed since then?" - the question a
    # demo stream of a few sample images (never like the validation set) can show.
    basis = st.radio(
        "Reference",
        [REFERENCE_PROFILE, REFERENCE_BASELINE],
        horizontal=True,
        key="monitor_reference",
        help="Compare recent predictions with the model's validation images, or with the "
        "earliest predictions of the selected range.",
    )
    if basis == REFERENCE_BASELINE:
        baseline_rows = st.number_input(
            "Baseline: first N predictions of the range",
            min_value=MIN_BASELINE_ROWS,
            value=max(MIN_BASELINE_ROWS, len(current) // 2),
            step=10,
            key="monitor_baseline_rows",
        )
        if len(current) < baseline_rows + MIN_BASELINE_ROWS:
            st.info(
                f"A baseline of {baseline_rows} predictions needs at least "
                f"{baseline_rows + MIN_BASELINE_ROWS} in the range; there are {len(current)}.",
                icon=":material/hourglass_empty:",
            )
            return
        reference = ReferenceProfile.from_frame(current.iloc[: int(baseline_rows)])
        current = current.iloc[int(baseline_rows) :]
        st.caption(
            f"Reference: the first {int(baseline_rows):,} predictions by {version} in the "
            f"selected range. Current: the {len(current):,} after them."
        )
    else:
        reference, problem = _reference(registry, version)
        if reference is None:
            st.warning(problem, icon=":material/warning:")
            return
        which = "the active version" if version == active else "the selected version"
        st.caption(
            f"Reference: reference_profile.json of {version} ({which}), {reference.n_images:,} "
            f"images. Current: {len(current):,} predictions by {version} in the selected range."
        )
    report = drift_report(reference, current)
    if report.dataset_drifted is None:
        st.info(f"No drift verdict yet: {report.status}.", icon=":material/hourglass_empty:")
    elif report.dataset_drifted:
        st.error(
            f"**Drift detected**: {report.drift_share:.0%} of features drifted (alarm at "
            f"{report.share_threshold:.0%}): {', '.join(report.drifted_features)}.",
            icon=":material/crisis_alert:",
        )
    else:
        drifted = report.drifted_features
        st.success(
            f"**No dataset drift**: {report.drift_share:.0%} of features drifted (alarm at "
            f"{report.share_threshold:.0%})."
            + (f" Drifting alone: {', '.join(drifted)}." if drifted else ""),
            icon=":material/check_circle:",
        )
    if report.prediction_drifted:
        st.warning(
            "The distribution of fake probabilities has shifted from the reference: the model "
            "is answering differently than on its validation data.",
            icon=":material/warning:",
        )

    table = report.to_frame()[
        ["feature", "test", "score", "threshold", "drifted_when", "drifted", "band", "status"]
    ]
    st.dataframe(
        table,
        hide_index=True,
        key="monitor_drift_table",
        column_config={
            "score": st.column_config.NumberColumn("score", format="%.4f"),
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f"),
            "drifted_when": st.column_config.TextColumn(
                "drifts when", help="score <= threshold for p-values (KS), >= for PSI"
            ),
            "drifted": st.column_config.CheckboxColumn("drifted"),
        },
    )

    over_time_col, distribution_col = st.columns(2, gap="medium")
    with over_time_col:
        rows = max(report.min_samples, math.ceil(len(current) / DRIFT_WINDOWS))
        st.markdown(f"**Drift over time** (share of drifted features, windows of {rows} rows)")
        history = drift_over_time(reference, current, window=rows)
        if len(current) < rows or not len(history):
            # Less than one full window gives one unjudged point on sub-millisecond time ticks:
            # say what is missing instead.
            st.info(
                f"Too little data for a drift-over-time chart: one window needs {rows} "
                f"predictions by {version}, and there are {len(current)}.",
                icon=":material/hourglass_empty:",
            )
        else:
            figure = go.Figure()
            colours = [
                "#dc2626" if flag is True else "#16a34a" if flag is False else "#9ca3af"
                for flag in history["dataset_drifted"]
            ]
            figure.add_trace(
                go.Scatter(
                    x=history["window_end"],
                    y=history["drift_share"],
                    mode="lines+markers",
                    marker={"color": colours, "size": 9},
                    name="drift share",
                )
            )
            figure.add_hline(
                y=report.share_threshold,
                line_dash="dash",
                line_color="#dc2626",
                annotation_text="alarm",
            )
            figure.update_layout(
                height=CHART_HEIGHT,
                margin={"l": 10, "r": 10, "t": 10, "b": 10},
                yaxis={"range": [0, 1.05], "tickformat": ".0%"},
                showlegend=False,
            )
            st.plotly_chart(figure, key="monitor_drift_chart")
    with distribution_col:
        options = list(reference.features)
        if reference.fake_probability is not None:
            options.append(PREDICTION_COLUMN)
        feature = st.selectbox(
            "Reference against current for",
            options,
            index=options.index("brightness") if "brightness" in options else 0,
            key="monitor_feature",
        )
        frame = pd.concat(
            [
                pd.DataFrame({"value": reference.cleaned(feature), "data": "reference"}),
                pd.DataFrame(
                    {
                        "value": pd.to_numeric(current.get(feature), errors="coerce"),
                        "data": "current",
                    }
                ),
            ],
            ignore_index=True,
        )
        figure = px.histogram(
            frame.dropna(),
            x="value",
            color="data",
            histnorm="probability density",
            barmode="overlay",
            nbins=40,
            opacity=0.6,
            color_discrete_map={"reference": "#6b7280", "current": "#2563eb"},
        )
        figure.update_layout(
            height=CHART_HEIGHT - 60,
            margin={"l": 10, "r": 10, "t": 10, "b": 10},
            xaxis_title=feature,
            legend={"orientation": "h", "y": -0.25},
        )
        st.plotly_chart(figure, key="monitor_distribution_chart")


def main() -> None:
    """Render the page."""
    settings = resources.settings()
    st.title("Monitor")
    store = resources.store(settings, stop=True)
    registry = resources.registry(settings)

    if store.count() == 0 and store.count_rejections() == 0:
        st.info(
            "The prediction log is empty: nothing has been scored yet. Upload images on the "
            "**Detect** page, or fill the log with `fakescope simulate-traffic --count 300` "
            "(add `--shift brightness` to see a drift alarm).",
            icon=":material/inbox:",
        )
        st.stop()

    filters = st.columns([1, 1, 1, 1])
    range_name = filters[0].selectbox("Time range", list(RANGES), index=1, key="monitor_range")
    versions = [ALL_VERSIONS, *store.model_versions()]
    version_name = filters[1].selectbox("Model version", versions, key="monitor_version")
    source_name = filters[2].selectbox("Source", SOURCES, key="monitor_source")
    filters[3].button(
        "Refresh", key="monitor_refresh", icon=":material/refresh:", on_click=_refresh
    )

    version = None if version_name == ALL_VERSIONS else version_name
    source = None if source_name == SOURCES[0] else source_name
    try:
        predictions, rejections = _read_log(
            store,
            store.url,
            range_name,
            version,
            source,
            st.session_state.get("monitor_refreshes", 0),
        )
    except FakeScopeError as exc:
        st.error(f"The prediction log cannot be read: {exc}")
        st.stop()

    if predictions.empty and rejections.empty:
        st.info(
            f"No traffic matches these filters ({range_name.lower()}, {version_name.lower()}, "
            f"{source_name.lower()}); the log holds {store.count():,} predictions in all. "
            "Widen the time range.",
            icon=":material/filter_alt_off:",
        )
        st.stop()

    _kpis(latency_summary(predictions, rejections))
    times = pd.concat([predictions["recorded_at"], rejections["recorded_at"]])
    window = components.pick_window(times.max() - times.min())

    latency_tab, rejections_tab, drift_tab = st.tabs(
        ["Latency & throughput", "Rejections", "Drift"], key="monitor_tabs"
    )
    with latency_tab:
        if predictions.empty:
            st.info("Only rejections in this selection: no latency to show.")
        else:
            _latency_section(predictions, rejections, window)
    with rejections_tab:
        _rejections_section(rejections)
    with drift_tab:
        try:
            _drift_section(predictions, registry, version)
        except FakeScopeError as exc:
            st.error(f"Drift cannot be computed: {exc}")


main()
