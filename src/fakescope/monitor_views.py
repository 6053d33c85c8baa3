"""The Monitor page's drift figures and its downloadable report, built once for both.

The page draws these figures and offers :func:`drift_document` as HTML and JSON
(:mod:`fakescope.monitor_report`); ``fakescope monitor --report`` writes the same document, so a
report always holds the figures the page showed.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from fakescope.drift import PREDICTION_COLUMN, ReferenceProfile
from fakescope.drift_checks import WindowCheck
from fakescope.monitor_report import MonitorDocument, ReportSection

CHART_HEIGHT = 320
MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}


def window_colours(flags: pd.Series) -> list[str]:
    """Red for a window that alarmed, green for a quiet one, grey for no verdict."""
    return [
        "#dc2626" if flag is True else "#16a34a" if flag is False else "#9ca3af" for flag in flags
    ]


def drift_over_time_figure(history: pd.DataFrame, check: WindowCheck) -> go.Figure:
    """Each window against the reference: the feature share with its alarm line, and the
    p-values of the fake-probability KS and embedding MMD tests with their level."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=history["window_end"],
            y=history["feature_share"],
            mode="lines+markers",
            marker={"color": window_colours(history["drifted"]), "size": 10},
            name="share of drifted features",
            text=history["alarms"].replace("", "no alarm"),
            hovertemplate="%{x}<br>feature share %{y:.0%}<br>%{text}<extra></extra>",
        )
    )
    for column, name in (("prediction_p", "fake probability KS p"), ("mmd_p", "embedding MMD p")):
        if history[column].notna().any():
            figure.add_trace(
                go.Scatter(
                    x=history["window_end"],
                    y=history[column],
                    mode="lines+markers",
                    name=name,
                    line={"dash": "dot"},
                    yaxis="y2",
                )
            )
    figure.add_hline(
        y=check.features.share_threshold,
        line_dash="dash",
        line_color="#dc2626",
        annotation_text="feature alarm",
    )
    figure.add_hline(
        y=check.level, line_dash="dot", line_color="#7c3aed", annotation_text="p alarm", yref="y2"
    )
    figure.update_layout(
        height=CHART_HEIGHT,
        margin=MARGIN,
        yaxis={"range": [0, 1.05], "tickformat": ".0%", "title": "features drifted"},
        yaxis2={"type": "log", "overlaying": "y", "side": "right", "title": "p-value"},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def distribution_figure(
    reference: ReferenceProfile, window_rows: pd.DataFrame, feature: str
) -> go.Figure:
    """One feature (or the fake probability): the reference's histogram over the window's."""
    frame = pd.concat(
        [
            pd.DataFrame({"value": reference.cleaned(feature), "data": "reference"}),
            pd.DataFrame(
                {
                    "value": pd.to_numeric(window_rows.get(feature), errors="coerce"),
                    "data": "window",
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
        color_discrete_map={"reference": "#6b7280", "window": "#2563eb"},
    )
    figure.update_layout(
        height=CHART_HEIGHT - 60,
        margin=MARGIN,
        xaxis_title=feature,
        legend={"orientation": "h", "y": -0.25},
    )
    return figure


def headline(check: WindowCheck) -> str:
    """The verdict in one sentence, as the page's banner says it."""
    if check.drifted is None:
        return "No drift verdict yet: too few predictions in the window."
    if check.drifted:
        return f"Drift detected in this window: {', '.join(check.alarms)}."
    return "No drift in this window: no test alarmed."


def drift_document(
    check: WindowCheck,
    history: pd.DataFrame,
    model_version: str | None,
    reference: ReferenceProfile | None = None,
    window_rows: pd.DataFrame | None = None,
) -> MonitorDocument:
    """The drift tab as a report: verdict, tests, drift over time, distributions."""
    sections = [
        ReportSection(
            "Tests on the newest window",
            text=(
                f"Reference: {check.reference_label}. Window: {check.window_label}. Each single "
                f"test at level {check.level:.4f} (Bonferroni over three); the window alarms "
                "when any test does."
            ),
            table=check.to_frame(),
        ),
        ReportSection(
            "Image features in the newest window",
            table=check.features.to_frame(),
        ),
        ReportSection(
            "Drift over time",
            text=f"Each window of {check.n} predictions against {check.reference_name}.",
            table=history,
            figure=drift_over_time_figure(history, check) if len(history) else None,
        ),
    ]
    if reference is not None and window_rows is not None:
        names = ["brightness", "sharpness", "jpeg_quality"]
        if reference.fake_probability is not None:
            names.append(PREDICTION_COLUMN)
        for name in names:
            if name in reference.features or name == PREDICTION_COLUMN:
                sections.append(
                    ReportSection(
                        f"Distribution: {name}",
                        figure=distribution_figure(reference, window_rows, name),
                    )
                )
    return MonitorDocument(
        title=f"FakeScope drift report: {model_version}",
        model_version=model_version,
        reference={
            "name": check.reference_name,
            "description": check.reference_description,
            "n_images": None if reference is None else reference.n_images,
        },
        window={"start": check.window_start, "end": check.window_end, "n": check.n},
        headline=[headline(check)],
        sections=sections,
    )


def accuracy_figure(measured: pd.DataFrame, estimated: pd.DataFrame) -> go.Figure:
    """Accuracy over time: measured on labelled predictions, estimated (CBPE) on all."""
    figure = go.Figure()
    if len(estimated):
        figure.add_trace(
            go.Scatter(
                x=estimated["window_start"],
                y=estimated["estimated_accuracy"],
                mode="lines+markers",
                name="estimated accuracy (CBPE, all predictions)",
                line={"dash": "dot"},
            )
        )
    if len(measured):
        figure.add_trace(
            go.Scatter(
                x=measured["window_start"],
                y=measured["accuracy"],
                mode="lines+markers",
                name="accuracy (labelled predictions)",
                text=measured["n_labelled"],
                hovertemplate="%{x}<br>%{y:.1%} on %{text} labels<extra></extra>",
            )
        )
    figure.update_layout(
        height=CHART_HEIGHT,
        margin=MARGIN,
        yaxis={"range": [0, 1.02], "tickformat": ".0%"},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure
