"""Monitor: latency, throughput, rejections and drift, from the prediction log.

All numbers come from ``fakescope.monitoring`` and ``fakescope.drift``; this page only picks the
rows (filters), asks for the summaries and draws them with Plotly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import components
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import resources
import streamlit as st

from fakescope import alerts
from fakescope.drift import PREDICTION_COLUMN, ReferenceProfile
from fakescope.drift_checks import (
    DEFAULT_WINDOW,
    MIN_WINDOW,
    WindowCheck,
    check_over_time,
    check_window,
)
from fakescope.errors import FakeScopeError
from fakescope.feedback import (
    SIDE_BY_SIDE_COLUMNS,
    estimated_performance_over_time,
    labelled_images_dir,
    mistakes_zip,
    performance_over_time,
    select_mistakes,
    side_by_side,
)
from fakescope.monitor_report import to_html, to_json
from fakescope.monitor_views import (
    accuracy_figure,
    distribution_figure,
    drift_document,
    drift_over_time_figure,
    headline,
)
from fakescope.monitoring import latency_over_time, latency_summary, rejection_reasons
from fakescope.reference import load_reference, reference_choices, reference_from_window
from fakescope.safe_text import markdown_text

RANGES = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "All time": None,
}
ALL_VERSIONS = "All versions"
SOURCES = ("All sources", "dashboard", "api", "cli", "simulate")
# Drift over time: the newest this many windows (each runs every test against the reference).
DRIFT_WINDOWS = 12
CHART_HEIGHT = 320
REFERENCE_BASELINE = "Baseline: the first predictions of the range"
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
        _store.predictions(since=since, model_version=version, source=source, embeddings=True),
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


def _window_rows(current: pd.DataFrame) -> int:
    value = st.number_input(
        "Window: newest N predictions",
        min_value=MIN_WINDOW,
        max_value=5000,
        value=DEFAULT_WINDOW,
        step=50,
        key="monitor_window_rows",
        help="The current window is the newest N predictions of the selected version in the "
        "range; the chart below splits the range into windows of the same size.",
    )
    return int(value)


def _pick_reference(
    store: Any, registry: Any, version: str, current: pd.DataFrame
) -> tuple[ReferenceProfile | None, pd.DataFrame]:
    """The reference the engineer picked, and the rows to judge (a baseline takes its rows)."""
    choices = reference_choices(store, version)
    labels = [c.label for c in choices] + [REFERENCE_BASELINE]
    picked = st.selectbox(
        "Reference",
        labels,
        key="monitor_reference",
        help="What normal looks like: the model's reference (images sent through the serving "
        "path when the version was made), a reference saved from a window of the log, or "
        "the first predictions of the selected range.",
    )
    if picked == REFERENCE_BASELINE:
        baseline_rows = st.number_input(
            "Baseline: first N predictions of the range",
            min_value=MIN_BASELINE_ROWS,
            value=max(MIN_BASELINE_ROWS, min(DEFAULT_WINDOW, len(current) // 2)),
            step=10,
            key="monitor_baseline_rows",
        )
        if len(current) < baseline_rows + MIN_BASELINE_ROWS:
            st.info(
                f"A baseline of {baseline_rows} predictions needs at least "
                f"{baseline_rows + MIN_BASELINE_ROWS} in the range; there are {len(current)}.",
                icon=":material/hourglass_empty:",
            )
            return None, current
        rows = int(baseline_rows)
        baseline = current.iloc[:rows]
        start, end = baseline["recorded_at"].min(), baseline["recorded_at"].max()
        reference = ReferenceProfile.from_frame(
            baseline,
            metadata={
                "name": "baseline",
                "description": f"the first {rows:,} predictions of the range, "
                f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC",
            },
        )
        return reference, current.iloc[rows:]
    choice = choices[labels.index(picked)]
    try:
        return load_reference(choice, registry, store, version), current
    except FakeScopeError as exc:
        st.warning(f"This reference cannot be used: {exc}", icon=":material/warning:")
        return None, current


@st.cache_data(ttl=300, max_entries=32, show_spinner="Running the drift tests...")
def _checks(
    _reference: ReferenceProfile,
    _rows: pd.DataFrame,
    key: tuple[Any, ...],
    window: int,
) -> tuple[WindowCheck, pd.DataFrame]:
    """The newest window's check and the check of every window (cached by the rows' ids)."""
    newest = check_window(_reference, _rows.iloc[-window:])
    history = check_over_time(_reference, _rows.iloc[-window * DRIFT_WINDOWS :], window=window)
    return newest, history


def _headline(check: WindowCheck) -> None:
    # A named reference's name and description are an engineer's text: shown as text.
    st.caption(
        f"**Reference**: {markdown_text(check.reference_label)}  \n**Window**: "
        f"{check.window_label} (tests at level {check.level:.4f} each, Bonferroni over the three "
        "single tests)"
    )
    if check.drifted is None:
        st.info(headline(check), icon=":material/hourglass_empty:")
    elif check.drifted:
        st.error(headline(check), icon=":material/crisis_alert:")
    else:
        st.success(headline(check), icon=":material/check_circle:")
    st.dataframe(
        check.to_frame(),
        hide_index=True,
        key="monitor_check_table",
        column_config={
            "score": st.column_config.NumberColumn("score", format="%.4f"),
            "drifted": st.column_config.CheckboxColumn("drifted"),
            "detail": st.column_config.TextColumn("detail", width="large"),
        },
    )
    with st.expander("Image features: KS and PSI per feature in this window"):
        table = check.features.to_frame()[
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


def _over_time_chart(history: pd.DataFrame, check: WindowCheck, window: int) -> None:
    st.markdown(
        f"**Drift over time**: each window of {window} predictions against "
        f"{markdown_text(check.reference_name)}, the newest {len(history)} windows"
    )
    if history.empty:
        st.info(f"One window needs {window} predictions.", icon=":material/hourglass_empty:")
        return
    figure = drift_over_time_figure(history, check)
    st.plotly_chart(figure, key="monitor_drift_chart")
    st.caption(
        "Red markers: the window alarmed on at least one test (hover for which). The dashed "
        "line is the feature test's alarm; the dotted line the p-value tests' level."
    )


def _distribution_chart(reference: ReferenceProfile, window_rows: pd.DataFrame) -> None:
    options = list(reference.features)
    if reference.fake_probability is not None:
        options.append(PREDICTION_COLUMN)
    feature = st.selectbox(
        "Reference against the window for",
        options,
        index=options.index("brightness") if "brightness" in options else 0,
        key="monitor_feature",
    )
    figure = distribution_figure(reference, window_rows, feature)
    st.plotly_chart(figure, key="monitor_distribution_chart")


def _save_reference_form(store: Any, version: str, window_rows: pd.DataFrame) -> None:
    with st.form("monitor_save_reference", border=False):
        st.markdown(
            "**Save this window as a reference** (for example after a planned change of traffic)"
        )
        cols = st.columns([2, 3, 1])
        name = cols[0].text_input("Name", key="monitor_reference_name", max_chars=64)
        note = cols[1].text_input("What it holds", key="monitor_reference_note", max_chars=300)
        submitted = cols[2].form_submit_button("Save", icon=":material/bookmark_add:")
    if not submitted:
        return
    start, end = window_rows["recorded_at"].min(), window_rows["recorded_at"].max()
    description = (note.strip() + "; " if note.strip() else "") + (
        f"{len(window_rows):,} predictions by {version}, "
        f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"
    )
    try:
        profile = reference_from_window(
            window_rows, name=name.strip(), description=description, model_version=version
        )
        store.save_reference(
            name.strip(), profile.to_dict(), model_version=version, description=description
        )
    except FakeScopeError as exc:
        st.error(f"Not saved: {exc}")
        return
    st.success(f"Saved reference {name.strip()!r}; pick it in **Reference** above.")


def _drift_section(
    predictions: pd.DataFrame, store: Any, registry: Any, chosen_version: str | None
) -> None:
    try:
        active = registry.active_version()
    except FakeScopeError as exc:  # a damaged registry.json: the Models page can repair it
        st.warning(f"The registry cannot be read ({exc}); see the Models page.")
        active = None
    version = chosen_version or active
    if version is None:
        st.info("Pick a model version: drift is measured per version.")
        return
    current = predictions[predictions["model_version"] == version]
    top = st.columns([3, 1])
    with top[0]:
        reference, rows = _pick_reference(store, registry, version, current)
    with top[1]:
        window = _window_rows(current)
    if reference is None:
        return
    if len(rows) < MIN_WINDOW:
        st.info(
            f"{len(rows)} predictions by {version} to judge; a window needs at least "
            f"{MIN_WINDOW}.",
            icon=":material/hourglass_empty:",
        )
        return
    # The cache key must change with the log, the rows and the reference's content (a rebuilt
    # or replaced reference keeps its name).
    key = (
        store.url,
        version,
        reference.fingerprint(),
        len(rows),
        tuple(rows["id"].iloc[[0, -1]]),
        str(rows["recorded_at"].iloc[-1]),
    )
    check, history = _checks(reference, rows, key, window)
    _headline(check)
    alert_note = alerts.check_drift_alert(store, resources.settings(), check, version)
    if alert_note:
        st.caption(f"Alert: {markdown_text(alert_note)}")
    left, right = st.columns(2, gap="medium")
    with left:
        _over_time_chart(history, check, window)
    with right:
        _distribution_chart(reference, rows.iloc[-window:])
    downloads = st.columns([1, 1, 4])
    document = drift_document(check, history, version, reference, rows.iloc[-window:])
    # The HTML holds plotly.js (about 5 MB): made only when the button is pressed.
    downloads[0].download_button(
        "Report (HTML)",
        lambda: to_html(document),
        file_name=f"fakescope-drift-{version}.html",
        mime="text/html",
        key="monitor_report_html",
        on_click="ignore",
        icon=":material/download:",
    )
    downloads[1].download_button(
        "Report (JSON)",
        lambda: to_json(document),
        file_name=f"fakescope-drift-{version}.json",
        mime="application/json",
        key="monitor_report_json",
        on_click="ignore",
        icon=":material/download:",
    )
    _save_reference_form(store, version, rows.iloc[-window:])


def _accuracy_section(
    predictions: pd.DataFrame, store: Any, range_name: str, version: str | None, window: str
) -> None:
    """Measured accuracy where people gave labels, and the label-free estimate everywhere."""
    span = RANGES[range_name]
    since = datetime.now(timezone.utc) - span if span is not None else None
    labelled = store.labelled_predictions(since=since, model_version=version)
    estimated = estimated_performance_over_time(predictions, window)
    if len(estimated):
        newest = estimated.iloc[-1]
        note = alerts.check_accuracy_alert(
            store,
            resources.settings(),
            model_version=version,
            accuracy=newest["estimated_accuracy"],
            window_start=newest["window_start"],
            window_end=newest["window_end"],
            n=int(newest["n"]),
        )
        if note:
            st.caption(f"Accuracy alert: {markdown_text(note)}")
    cols = st.columns(4)
    cols[0].metric("Labelled predictions", f"{len(labelled):,}")
    measured_all = performance_over_time(labelled, max(1, len(labelled)))
    if len(labelled) and measured_all["n_decided"].iloc[0]:
        cols[1].metric("Accuracy (labelled)", f"{measured_all['accuracy'].iloc[0]:.1%}")
        fpr, fnr = (measured_all[c].iloc[0] for c in ("false_positive_rate", "false_negative_rate"))
        cols[2].metric(
            "False positives / negatives",
            f"{'-' if pd.isna(fpr) else f'{fpr:.0%}'} / {'-' if pd.isna(fnr) else f'{fnr:.0%}'}",
            help="Real images called fake among real ones decided; fake images called real "
            "among fake ones decided.",
        )
    overall = estimated_performance_over_time(predictions, max(1, len(predictions)))
    if len(overall) and overall["n_decided"].iloc[0]:
        cols[3].metric(
            "Estimated accuracy (no labels)",
            f"{overall['estimated_accuracy'].iloc[0]:.1%}",
            help="Confidence-based estimate (CBPE): the mean chance each verdict is right, from "
            "the calibrated fake probability. Only as good as the calibration.",
        )
    measured = performance_over_time(labelled, window) if len(labelled) else labelled
    figure = accuracy_figure(measured, estimated)
    st.markdown(f"**Accuracy over time** (windows of {window})")
    st.plotly_chart(figure, key="monitor_accuracy_chart")
    if not len(labelled):
        st.info(
            "No labels yet: mark verdicts right or wrong on the **Detect** page, or run "
            "`fakescope label FILE --truth fake`. Until then only the estimate is shown.",
            icon=":material/label:",
        )
        return
    st.markdown("**Measured and estimated, per window with labels**")
    st.dataframe(
        side_by_side(labelled, predictions, window),
        hide_index=True,
        key="monitor_accuracy_table",
        column_config={
            name: st.column_config.NumberColumn(name.replace("_", " "), format="percent")
            for name in SIDE_BY_SIDE_COLUMNS
            if name.endswith(("accuracy", "_rate"))
        },
    )
    mistakes = select_mistakes(labelled)
    st.download_button(
        f"Labelled mistakes (zip, {len(mistakes)} images)",
        lambda: mistakes_zip(labelled, labelled_images_dir(resources.settings()))[0],
        file_name="fakescope-mistakes.zip",
        mime="application/zip",
        key="monitor_mistakes_zip",
        on_click="ignore",
        disabled=not mistakes,
        icon=":material/download:",
    )
    st.caption(
        "Labelled mistakes become training data: the zip (or `fakescope labels mistakes OUT_DIR`) "
        "holds real/ and fake/ folders that `fakescope train` reads. Images are there when the "
        "label was given with the image (the Detect page, `fakescope label FILE`)."
    )


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

    latency_tab, rejections_tab, drift_tab, accuracy_tab = st.tabs(
        ["Latency & throughput", "Rejections", "Drift", "Accuracy"], key="monitor_tabs"
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
            _drift_section(predictions, store, registry, version)
        except FakeScopeError as exc:
            st.error(f"Drift cannot be computed: {exc}")
    with accuracy_tab:
        try:
            _accuracy_section(predictions, store, range_name, version, window)
        except FakeScopeError as exc:
            st.error(f"Accuracy cannot be computed: {exc}")


main()
