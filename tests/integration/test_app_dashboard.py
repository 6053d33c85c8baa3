"""The dashboard's pages, driven through Streamlit's AppTest against real models and a real log.

Each test builds its own registry (tiny random-weight models) and prediction log in temp folders
and points the app at them with FAKESCOPE_* variables, as a deployment would.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fakescope.acceleration import describe_runtime
from fakescope.config import Settings
from fakescope.drift_checks import TESTS
from fakescope.predictor import Predictor
from fakescope.registry import Registry
from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction, Rejection, verdict_for
from tests.conftest import REPO_ROOT, build_vit_model, encode, photo_like

pytestmark = pytest.mark.integration

APP = str(REPO_ROOT / "streamlit_app" / "app.py")
TIMEOUT = 60  # the first run loads and warms a model
LIMITS = "Trained on simulated fakes only; a verdict on a real generator's output is a guess."


@pytest.fixture(autouse=True)
def _app_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    """`streamlit run` puts the app's folder on sys.path; AppTest does not."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "streamlit_app"))


def _model(folder: Path, seed: int = 0, *, card: bool = True, profile: dict | None = None) -> Path:
    build_vit_model(folder, image_size=32, hidden_size=16, seed=seed)
    if card:
        (folder / "README.md").write_text(
            "---\nlicense: apache-2.0\n---\n"
            f"# Demo detector {seed}\n\nA tiny test model.\n\n## Limits\n\n{LIMITS}\n"
        )
        (folder / "metrics.json").write_text(
            json.dumps({"accuracy": 0.875, "roc_auc": 0.9312, "n_test": 400})
        )
    if profile is not None:
        (folder / "reference_profile.json").write_text(json.dumps(profile))
    return folder


@pytest.fixture
def app_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[Registry, Settings]]:
    """Factory: a registry with `versions` models (the last active) and the app's env vars."""

    def make(
        versions: int = 1, *, token: str | None = None, profile: dict | None = None
    ) -> tuple[Registry, Settings]:
        registry = Registry(tmp_path / "registry")
        for seed in range(versions):
            registry.register(
                _model(tmp_path / f"model-{seed}", seed, profile=profile), activate=True
            )
        monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(registry.root))
        monkeypatch.setenv("FAKESCOPE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("FAKESCOPE_THREADS", "1")  # 2 shared cores: threads only contend
        if token is not None:
            monkeypatch.setenv("FAKESCOPE_ADMIN_TOKEN", token)
        return registry, Settings.from_env()

    return make


def _run(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, at.exception
    return at


def _texts(elements: Any) -> list[str]:
    return [str(e.value) for e in elements]


def _table(at: AppTest, column: str) -> Any:
    """The one rendered dataframe that has `column` (AppTest does not keep dataframe keys)."""
    frames = [df.value for df in at.dataframe if column in df.value.columns]
    assert len(frames) == 1, f"{len(frames)} tables with a {column!r} column"
    return frames[0]


def _running(at: AppTest) -> dict[str, str]:
    """The Models page's running-model table as field -> value."""
    assert len(at.table) == 1
    return dict(at.table[0].value["value"])


def _store(settings: Settings) -> PredictionStore:
    return PredictionStore.from_settings(settings)


# ------------------------------------------------------------------------------------- config


def test_app_upload_limit_matches_package_limit() -> None:
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    # The server's cap is in MiB: the smallest that holds the package's limit, so every file
    # the package accepts reaches it.
    server_cap = config["server"]["maxUploadSize"] * 1024 * 1024
    assert server_cap >= Settings().max_file_bytes > server_cap - 1024 * 1024


# ------------------------------------------------------------------------------------- detect


def test_app_detect_without_files_shows_hint(app_env: Callable) -> None:
    app_env()
    at = _run()
    assert any("Drop one or more images" in text for text in _texts(at.info))
    assert not at.error


def test_app_detect_good_and_bad_files_get_verdict_and_reason(app_env: Callable) -> None:
    _, settings = app_env()
    at = _run()
    uploader = at.file_uploader(key="detect_uploads")
    uploader.upload("cat.jpg", encode(photo_like(), quality=90), "image/jpeg")
    uploader.upload("notes.txt", b"just some text, not an image", "text/plain")
    at.run()
    assert not at.exception, at.exception

    errors = _texts(at.error)
    assert len(errors) == 1
    assert "**notes.txt** was not scored" in errors[0] and "looks like plain text" in errors[0]
    assert "Accepted: JPEG, PNG" in errors[0]
    log = _store(settings).predictions()
    assert len(log) == 1 and list(log["source"]) == ["dashboard"]
    verdict = verdict_for(log["fake_probability"][0], settings.threshold, settings.uncertain_band)
    assert _texts(at.subheader)[0] == (
        f"2 images: {int(verdict == 'real')} real, {int(verdict == 'fake')} fake, "
        f"{int(verdict == 'uncertain')} uncertain, 1 rejected"
    )
    # Issue 12: the verdict is a large coloured heading with an icon, not a small badge.
    badge = {
        "real": "## :green[:material/verified: Real]",
        "fake": "## :red[:material/warning: Fake]",
        "uncertain": "## :orange[:material/help: Uncertain]",
    }[verdict]
    assert badge in _texts(at.markdown)
    # Latency is a detail now (folded in the card's expander), not a headline figure.
    assert [m.label for m in at.metric] == ["Confidence"]
    assert any(c.startswith("Latency ") and c.endswith(" ms") for c in _texts(at.caption))
    assert at.metric[0].value == f"{max(log['confidence'][0], 0):.1%}"
    assert any(LIMITS in text for text in _texts(at.info))  # the card's limits beside verdicts
    assert len(at.get("image")) == 2  # thumbnail and spectrum of the good file
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download JSON"]
    rejections = _store(settings).rejections()
    assert list(rejections["reason"]) == ["unsupported_type"]
    assert list(rejections["source"]) == ["dashboard"]
    assert list(rejections["model_version"]) == ["v1"]


def test_app_detect_threshold_relabels_without_rescoring_or_relogging(
    app_env: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings = app_env()
    calls: list[int] = []
    real_predict = Predictor.predict

    def counting_predict(self: Predictor, inputs: Any, **kwargs: Any) -> list[Any]:
        calls.append(len(inputs))
        return real_predict(self, inputs, **kwargs)

    monkeypatch.setattr(Predictor, "predict", counting_predict)
    at = _run()
    at.file_uploader(key="detect_uploads").upload("a.png", encode(photo_like(seed=3), "PNG"))
    at.run()
    probability = float(_store(settings).predictions()["fake_probability"][0])
    at.slider(key="detect_band").set_value(0.0)
    for threshold in (0.05, 0.95):
        at.slider(key="detect_threshold").set_value(threshold).run()
        assert not at.exception, at.exception
        expected = verdict_for(probability, threshold, 0.0)
        assert f"1 {expected}" in _texts(at.subheader)[0]
    assert calls == [1]  # scored once; the sliders only relabelled
    assert _store(settings).count() == 1  # logged once, not on every rerun


def test_app_detect_samples_are_scored_and_labelled(
    app_env: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fakescope.traffic

    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "real_street.jpg").write_bytes(encode(photo_like(seed=1), quality=88))
    (samples / "fake_face.png").write_bytes(encode(photo_like(seed=2), "PNG"))
    monkeypatch.setattr(fakescope.traffic, "samples_dir", lambda: samples)
    _, settings = app_env()
    at = _run()
    at.button(key="detect_try_samples").click().run()
    assert not at.exception, at.exception
    assert _texts(at.subheader)[0].startswith("2 images:")
    # Issue 12: each sample says whether the model got it right, not just what it is.
    notes = [t for t in _texts(at.markdown) if "image.]" in t]
    assert sorted(n.split("it is a ")[1] for n in notes) == ["fake image.]", "real image.]"]
    assert sorted(_store(settings).predictions()["input_name"]) == [
        "fake_face.png",
        "real_street.jpg",
    ]
    at.button(key="detect_hide_samples").click().run()
    assert any("Drop one or more images" in text for text in _texts(at.info))


def test_app_detect_model_that_cannot_load_shows_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(tmp_path / "empty-registry"))
    at = _run()
    errors = _texts(at.error)
    assert len(errors) == 1
    assert "The model cannot be loaded" in errors[0] and "no active version" in errors[0]
    assert "Set FAKESCOPE_MODEL" in errors[0]
    assert at.file_uploader  # drawn before the model is needed: files wait for a retry


def test_app_detect_fallback_model_is_named_with_its_reason(
    app_env: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env()
    monkeypatch.setenv("FAKESCOPE_MODEL", str(tmp_path / "missing-model"))
    monkeypatch.setenv("FAKESCOPE_FALLBACK_MODEL", "registry")
    at = _run()
    warnings = _texts(at.warning)
    assert len(warnings) == 1
    assert warnings[0].startswith("Serving the fallback model model-0 v1: the configured model")
    assert "…/missing-model" in warnings[0]
    assert str(tmp_path) not in warnings[0]  # no server path on the page (issue 12)
    assert not at.error
    at.switch_page("views/models.py").run()
    assert any(w.startswith("Serving the fallback model") for w in _texts(at.warning))
    assert not any("FAKESCOPE_MODEL overrides" in w for w in _texts(at.warning))


def test_app_detect_bad_setting_shows_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKESCOPE_THRESHOLD", "high")
    at = _run()
    assert _texts(at.error) == [
        "FakeScope is misconfigured: FAKESCOPE_THRESHOLD must be a number, got 'high'"
    ]


def test_app_detect_download_rows_csv_and_json() -> None:
    import components

    prediction = Prediction("fake", 0.8, {"Fake": 0.8, "Real": 0.2}, "m", "v1", 12.3456, "ab" * 32)
    rejection = Rejection("empty", "The upload is empty (0 bytes).", "x.png", None)
    rows = [components.result_row("a.jpg", prediction), components.result_row("x.png", rejection)]
    lines = components.results_csv(rows).decode().splitlines()
    assert lines[0] == (
        "name,verdict,fake_probability,confidence,latency_ms,model_name,model_version,sha256,"
        "reason,error"
    )
    assert lines[1] == f"a.jpg,fake,0.8,0.8,12.346,m,v1,{'ab' * 32},,"
    assert lines[2] == "x.png,rejected,,,,,,,empty,The upload is empty (0 bytes)."
    data = json.loads(components.results_json(rows))
    assert data[0]["scores"] == {"Fake": 0.8, "Real": 0.2}
    assert data[1] == {
        "name": "x.png",
        "verdict": "rejected",
        "sha256": None,
        "reason": "empty",
        "error": "The upload is empty (0 bytes).",
    }


# ------------------------------------------------------------------------------------ monitor

FEATURES = ("brightness", "contrast", "saturation", "sharpness")
BASELINE = "Baseline: the first predictions of the range"


SPACE = "pca4-000000000000"


def _profile(n: int = 200, seed: int = 0, *, embeddings: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    profile = {
        "features": {name: rng.normal(0.5, 0.05, n).tolist() for name in FEATURES},
        "fake_probability": rng.uniform(0, 1, n).tolist(),
        "n_images": n,
    }
    if embeddings:
        profile["embeddings"] = rng.normal(0, 1, (n, 4)).tolist()
        profile["embedding_space"] = SPACE
    return profile


def _fill_log(
    settings: Settings,
    *,
    n: int = 120,
    shift: float = 0.0,
    version: str = "v1",
    start: datetime | None = None,
    seed: int = 1,
    embedding_shift: float = 0.0,
) -> list[float]:
    """Log `n` predictions one minute apart (features ~ the profile's, plus `shift`; embeddings
    ~ the profile's, plus `embedding_shift`)."""
    rng = np.random.default_rng(seed)
    store = _store(settings)
    start = start or datetime.now(timezone.utc) - timedelta(minutes=n)
    latencies = [float(10 + i % 40) for i in range(n)]
    for i in range(n):
        features = {name: float(rng.normal(0.5 + shift, 0.05)) for name in FEATURES}
        embedding = tuple(float(v) for v in rng.normal(embedding_shift, 1, 4))
        prediction = Prediction(
            "real",
            float(rng.uniform()),
            {},
            "demo",
            version,
            latencies[i],
            f"{i:064x}",
            features,
            embedding=embedding,
            embedding_space=SPACE,
        )
        store.record_prediction(
            prediction, source="simulate", recorded_at=start + timedelta(minutes=i)
        )
    for i, reason in enumerate(("corrupt", "corrupt", "too_small")):
        store.record_rejection(
            Rejection(reason, f"bad file {i}", f"f{i}.png", None),
            source="dashboard",
            model_name="demo",
            model_version=version,
            recorded_at=start + timedelta(minutes=i),
        )
    return latencies


def test_app_monitor_empty_log_shows_empty_state(app_env: Callable) -> None:
    app_env()
    at = _run("monitor")
    assert any("The prediction log is empty" in text for text in _texts(at.info))
    assert not at.get("plotly_chart") and not at.metric


def test_app_monitor_populated_log_shows_charts_and_no_drift(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile())
    latencies = _fill_log(settings)
    at = _run("monitor")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Predictions"] == "120"
    assert metrics["Latency p50"] == f"{np.percentile(latencies, 50):.0f} ms"
    assert metrics["Latency p95"] == f"{np.percentile(latencies, 95):.0f} ms"
    assert metrics["Rejected"] == f"{3 / 123:.1%}"
    keys = {chart.key for chart in at.get("plotly_chart")}
    assert keys == {
        "monitor_latency_chart",
        "monitor_latency_histogram",
        "monitor_throughput_chart",
        "monitor_rejection_chart",
        "monitor_drift_chart",
        "monitor_distribution_chart",
        "monitor_accuracy_chart",
    }
    assert any("No drift in this window" in text for text in _texts(at.success))
    # Every figure names its reference and its window.
    caption = next(c for c in _texts(at.caption) if c.startswith("**Reference**"))
    assert "v1 reference" in caption and "**Window**: 120 predictions" in caption
    checks = _table(at, "compares")
    assert list(checks["test"]) == list(TESTS)
    drift = _table(at, "drifted_when")
    assert set(drift["feature"]) == {*FEATURES, "fake_probability"}
    assert list(drift.columns[:6]) == [
        "feature",
        "test",
        "score",
        "threshold",
        "drifted_when",
        "drifted",
    ]
    reasons = _table(at, "example_message")
    assert list(reasons["reason"]) == ["corrupt", "too_small"]
    assert list(reasons["count"]) == [2, 1]


def test_app_monitor_shifted_inputs_raise_drift_alarm(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile())
    _fill_log(settings, shift=0.2)
    at = _run("monitor")
    alarms = _texts(at.error)
    assert len(alarms) == 1 and alarms[0].startswith("Drift detected in this window: features")
    drift = _table(at, "drifted_when")
    assert drift[drift["feature"].isin(FEATURES)]["drifted"].all()
    at.selectbox(key="monitor_feature").set_value("fake_probability").run()
    assert not at.exception, at.exception


def test_app_monitor_baseline_window_reference_finds_a_later_shift(app_env: Callable) -> None:
    # A profile far from the logged traffic: against it, everything drifts.
    _, settings = app_env(profile=_profile())
    now = datetime.now(timezone.utc)
    _fill_log(settings, n=100, shift=0.2, start=now - timedelta(minutes=200))
    at = _run("monitor")
    assert _texts(at.error)[0].startswith("Drift detected")
    # Against the first 100 rows of the log, 100 more like them do not drift...
    _fill_log(settings, n=100, shift=0.2, start=now - timedelta(minutes=100), seed=2)
    at.button(key="monitor_refresh").click().run()
    at.selectbox(key="monitor_reference").set_value(BASELINE).run()
    at.number_input(key="monitor_baseline_rows").set_value(100).run()
    assert not at.exception, at.exception
    assert any("the first 100 predictions of the range" in c for c in _texts(at.caption))
    assert any("No drift in this window" in text for text in _texts(at.success))
    assert not _texts(at.error)


def test_app_monitor_baseline_window_flags_a_shift_after_it(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile())
    now = datetime.now(timezone.utc)
    _fill_log(settings, n=100, start=now - timedelta(minutes=200))
    _fill_log(settings, n=100, shift=0.2, start=now - timedelta(minutes=100), seed=2)
    at = _run("monitor")
    at.selectbox(key="monitor_reference").set_value(BASELINE).run()
    at.number_input(key="monitor_baseline_rows").set_value(100).run()
    assert not at.exception, at.exception
    alarms = _texts(at.error)
    assert len(alarms) == 1 and alarms[0].startswith("Drift detected")


def test_app_monitor_version_without_reference_says_so(app_env: Callable) -> None:
    _, settings = app_env()
    _fill_log(settings)
    at = _run("monitor")
    warnings = _texts(at.warning)
    assert any("version v1 has no reference_profile.json" in text for text in warnings)
    assert any("fakescope reference build --version v1" in text for text in warnings)
    charts = {chart.key for chart in at.get("plotly_chart")}
    assert "monitor_drift_chart" not in charts and "monitor_latency_chart" in charts


def test_app_monitor_filters_by_time_range_and_version(app_env: Callable) -> None:
    _, settings = app_env(versions=2, profile=_profile())
    old = datetime.now(timezone.utc) - timedelta(days=10)
    _fill_log(settings, n=40, version="v1", start=old)
    _fill_log(settings, n=50, version="v2")
    at = _run("monitor")
    assert {m.label: m.value for m in at.metric}["Predictions"] == "50"  # last 24 hours
    at.selectbox(key="monitor_range").set_value("All time").run()
    assert {m.label: m.value for m in at.metric}["Predictions"] == "90"
    at.selectbox(key="monitor_version").set_value("v1").run()
    assert {m.label: m.value for m in at.metric}["Predictions"] == "40"
    at.selectbox(key="monitor_range").set_value("Last hour").run()
    assert not at.exception, at.exception
    assert any("No traffic matches these filters" in text for text in _texts(at.info))


def test_app_monitor_only_rejections_shows_counts_without_latency(app_env: Callable) -> None:
    _, settings = app_env()
    store = _store(settings)
    for reason in ("empty", "corrupt"):
        store.record_rejection(Rejection(reason, f"{reason} file", "f.png", None), source="cli")
    at = _run("monitor")
    metrics = {m.label: m.value for m in at.metric if m.label != "Labelled predictions"}
    assert metrics == {
        "Predictions": "0",
        "Latency p50": "-",
        "Latency p95": "-",
        "Throughput": "-",
        "Rejected": "100.0%",
    }
    assert any("Only rejections in this selection" in text for text in _texts(at.info))
    assert list(_table(at, "example_message")["reason"]) == ["corrupt", "empty"]


def test_app_monitor_refresh_reads_new_rows(app_env: Callable) -> None:
    _, settings = app_env()
    _fill_log(settings, n=30)
    at = _run("monitor")
    assert {m.label: m.value for m in at.metric}["Predictions"] == "30"
    _fill_log(settings, n=10, seed=2)
    at.selectbox(key="monitor_source").set_value("All sources").run()
    assert {m.label: m.value for m in at.metric}["Predictions"] == "30"  # read kept 30 s
    at.button(key="monitor_refresh").click().run()
    assert {m.label: m.value for m in at.metric}["Predictions"] == "40"


# ------------------------------------------------------------------------------------- models


def test_app_models_without_token_disables_promote_and_rollback(app_env: Callable) -> None:
    registry, _ = app_env(versions=2)
    at = _run("models")
    assert any("no admin token is configured" in text for text in _texts(at.info))
    assert at.button(key="models_promote").disabled
    assert at.button(key="models_rollback").disabled
    assert at.text_input(key="models_admin_token").disabled
    assert registry.active_version() == "v2"


def test_app_models_shows_card_metrics_versions_and_running_model(app_env: Callable) -> None:
    registry, settings = app_env(versions=2)
    at = _run("models")
    assert _texts(at.subheader)[0] == "Active model: model-1 v2"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"accuracy": "0.875", "roc auc": "0.931", "n test": "400"}
    card = [text for text in _texts(at.markdown) if LIMITS in text]
    assert len(card) == 1 and card[0].startswith("### Demo detector 1")  # front matter left out
    versions = _table(at, "created (UTC)")
    assert list(versions["version"]) == ["v1", "v2"]
    assert list(versions["active"]) == [False, True]
    running = _running(at)
    assert running["version"] == "v2"
    assert running["weights sha256"] == registry.get("v2").weights_sha256
    served = Predictor.from_source(None, settings).info
    assert running["precision"] == served.precision
    # Same engine and threads; the graph cache note differs (exported by the app, then found).
    expected = describe_runtime(served.extra["acceleration"])
    assert running["runtime"].split(" (")[0] == expected.split(" (")[0]
    assert running["runtime"].startswith("OpenVINO 20") and "graph" in running["runtime"]
    assert running["revision"] == "(local files)"


def test_app_models_rollback_with_token_changes_active_and_reloads(app_env: Callable) -> None:
    registry, _ = app_env(versions=2, token="s3cret-token")
    at = _run("models")
    assert not at.button(key="models_rollback").disabled

    at.text_input(key="models_admin_token").input("wrong")
    at.button(key="models_rollback").click().run()
    assert _texts(at.error) == ["Wrong admin token: nothing was changed."]
    assert registry.active_version() == "v2"

    at.text_input(key="models_admin_token").input("s3cret-token")
    at.button(key="models_rollback").click().run()
    assert not at.exception, at.exception
    assert registry.active_version() == "v1"
    assert _texts(at.success) == ["Rolled back: v1 (model-0) is active again."]
    assert _texts(at.subheader)[0] == "Active model: model-0 v1"
    running = _running(at)
    assert running["version"] == "v1"  # the cached predictor was reloaded
    assert at.button(key="models_rollback").disabled  # history is back to one version


def test_app_models_promote_with_token(app_env: Callable) -> None:
    registry, _ = app_env(versions=2, token="t0ken")
    registry.promote("v1")
    at = _run("models")
    at.text_input(key="models_admin_token").input("t0ken")
    at.selectbox(key="models_promote_target").set_value("v2")
    at.button(key="models_promote").click().run()
    assert registry.active_version() == "v1"  # issue 12: promote asks for confirmation first
    at.button(key="models_promote_confirm").click().run()
    assert not at.exception, at.exception
    assert registry.active_version() == "v2"
    assert _texts(at.success) == ["v2 (model-1) is now the active model."]
    at.switch_page("views/detect.py").run()
    at.file_uploader(key="detect_uploads").upload("x.jpg", encode(photo_like(), quality=90))
    at.run()
    assert any(text == "Model model-1 v2" for text in _texts(at.caption))


def test_app_models_empty_registry_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKESCOPE_REGISTRY_DIR", str(tmp_path / "nothing"))
    at = _run("models")
    assert any("has no versions" in text for text in _texts(at.info))
    assert any("The model cannot be loaded" in text for text in _texts(at.error))


def test_app_pages_import_no_torch_sql() -> None:
    """Pages stay thin: no torch, no SQL, no statistics of their own."""
    pages = sorted((REPO_ROOT / "streamlit_app" / "views").glob("*.py"))
    assert [p.name for p in pages] == ["detect.py", "models.py", "monitor.py"]
    assert not (REPO_ROOT / "streamlit_app" / "pages").exists()  # see app.py's docstring
    for page in pages:
        source = page.read_text()
        for forbidden in ("import torch", "sqlalchemy", "SELECT ", "np.percentile", "scipy"):
            assert forbidden not in source, f"{page.name} uses {forbidden}"


# --------------------------------------------------------------------------- hostile names

MARKDOWN_NAME = "![i](https://evil.example/x.png) **[x](javascript:alert(1))**.jpg"
FORMULA_NAME = '=HYPERLINK("https://evil.example","x").png'


def _all_text(at: AppTest) -> list[str]:
    """Every Markdown source the page rendered: bodies of text elements and image captions."""
    texts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "subheader"):
        texts += _texts(getattr(at, kind))
    texts += [img.caption for image in at.get("image") for img in image.proto.imgs]
    return texts


def test_app_detect_names_are_shown_as_text_not_markdown(app_env: Callable) -> None:
    from fakescope.safe_text import markdown_text, printable

    _, settings = app_env()
    at = _run()
    uploader = at.file_uploader(key="detect_uploads")
    uploader.upload(MARKDOWN_NAME, encode(photo_like(), quality=90), "image/jpeg")
    uploader.upload("<img src=x>\x1b[2J.txt", b"just some text", "text/plain")
    at.run()
    assert not at.exception, at.exception

    texts = _all_text(at)
    # A live image fetch needs "![" then "](" unescaped; a link "[...](" the same.
    for text in texts:
        assert not re.search(r"(?<!\\)!(?<!\\)\[", text), text
        assert not re.search(r"(?<!\\)\]\(", text), text
        assert not re.search(r"(?<!\\)<img", text) and "\x1b" not in text
    captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
    assert markdown_text(MARKDOWN_NAME) in captions
    (error,) = _texts(at.error)
    assert error.startswith(f"**{markdown_text('<img src=x>' + chr(27) + '[2J.txt')}** was not")
    # The log keeps the names, in their printable form.
    assert _store(settings).predictions()["input_name"].tolist() == [MARKDOWN_NAME]
    assert _store(settings).rejections()["input_name"].tolist() == [
        printable("<img src=x>\x1b[2J.txt")
    ]


def test_app_detect_csv_download_neutralises_formulas() -> None:
    import components

    prediction = Prediction("real", 0.2, {"Fake": 0.2, "Real": 0.8}, "m", "v1", 5.0, "cd" * 32)
    names = [FORMULA_NAME, "+1.jpg", "-1.jpg", "@SUM(A1).jpg", "\tx.jpg", "\rx.jpg", "ok.jpg"]
    rows = [components.result_row(name, prediction) for name in names]
    rows.append(components.result_row("=1+1.png", Rejection("empty", "=bad", "=1+1.png", None)))

    read = list(csv.DictReader(io.StringIO(components.results_csv(rows).decode("utf-8"))))

    assert [row["name"] for row in read] == [
        "'" + FORMULA_NAME,
        "'+1.jpg",
        "'-1.jpg",
        "'@SUM(A1).jpg",
        "'\\tx.jpg",
        "'\\rx.jpg",
        "ok.jpg",
        "'=1+1.png",
    ]
    assert read[-1]["error"] == "'=bad"
    assert read[0]["fake_probability"] == "0.2"  # numbers stay numbers


# ------------------------------------------------------------------------------- security


def _failing_app() -> None:
    """A one-page app whose page raises, run through the dashboard's own page runner."""
    import components
    import streamlit as st

    def broken() -> None:
        st.title("Broken")
        open("/srv/fakescope/secret-folder/settings.json")

    components.run_page(st.navigation([st.Page(broken, title="Broken")]))


def test_app_page_error_shows_a_reference_and_logs_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="fakescope.dashboard"):
        at = AppTest.from_function(_failing_app, default_timeout=TIMEOUT).run()

    assert not at.exception  # nothing reached Streamlit's own error box
    (error,) = _texts(at.error)
    reference = re.search(r"Reference: ([0-9a-f]{8})\.", error).group(1)
    page = " ".join(_texts(at.title) + _texts(at.error) + _texts(at.markdown))
    for leak in ("/srv", "secret-folder", "Traceback", "FileNotFoundError", "No such file"):
        assert leak not in page
    (record,) = [r for r in caplog.records if r.name == "fakescope.dashboard"]
    assert reference in record.getMessage()
    assert isinstance(record.exc_info[1], FileNotFoundError)
    assert "secret-folder" in caplog.text  # the server log has the details


def test_app_real_page_error_shows_a_reference(app_env: Callable) -> None:
    app_env()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    # A state the page never expects: its own code then raises (AttributeError) mid-page.
    at.session_state["detect_cache"] = "not a dict"
    at.run()
    at.file_uploader(key="detect_uploads").upload("a.jpg", encode(photo_like(), quality=90))
    at.run()

    assert not at.exception
    assert any(re.search(r"Reference: [0-9a-f]{8}\.", text) for text in _texts(at.error))
    assert not any("AttributeError" in text or "/" in text for text in _texts(at.error))


def _callback_error_app() -> None:
    """An error outside any page (a widget callback): Streamlit's own error box shows it."""
    import streamlit as st

    def explode() -> None:
        raise RuntimeError("cannot open /srv/fakescope/secret-folder")

    st.button("Go", key="go", on_click=explode)


def test_app_error_details_are_hidden_by_config(app_env: Callable) -> None:
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    app_env()
    _run()  # the app itself sets it too, wherever it was started from
    from streamlit import config as streamlit_config

    assert streamlit_config.get_option("client.showErrorDetails") == "none"

    at = AppTest.from_function(_callback_error_app, default_timeout=TIMEOUT).run()
    at.button(key="go").click().run()
    (shown,) = at.exception
    assert shown.stack_trace == []
    assert "secret-folder" not in shown.message and "RuntimeError" not in shown.message


def _dockerfile_streamlit_env() -> dict[str, str]:
    """The STREAMLIT_* variables that Dockerfile.streamlit's ENV lines set."""
    text = (REPO_ROOT / "Dockerfile.streamlit").read_text()
    return dict(re.findall(r"\b(STREAMLIT_[A-Z_]+)=(\S+?)(?:\s*\\)?$", text, re.MULTILINE))


def test_app_serving_image_keeps_xsrf_protection_on() -> None:
    from streamlit import config as streamlit_config

    options = {o.env_var: name for name, o in streamlit_config.get_config_options().items()}
    env = _dockerfile_streamlit_env()
    assert set(env) <= set(options), "an ENV line names no Streamlit option"
    image = {options[var]: value for var, value in env.items()}
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert image.get("server.enableXsrfProtection", "true") == "true"
    # Inside the Space's cross-site iframe the XSRF cookie needs SameSite=None (over HTTPS).
    assert image["server.xsrfCookieSameSite"] == "none"
    assert image.get("client.showErrorDetails", "none") == "none"


def test_app_uploader_limit_derives_from_the_package_limit(app_env: Callable) -> None:
    """A file just under the package's limit passes every check; one just over is refused."""
    _, settings = app_env()
    limit = settings.max_file_bytes
    at = _run()
    widget_mb = at.file_uploader(key="detect_uploads").proto.max_upload_size_mb
    # The browser counts the widget's megabytes as 10**6 bytes, as the package does: equal.
    assert widget_mb * 1_000_000 == limit
    # The server refuses len(data) > maxUploadSize * 1024 * 1024 (Streamlit's upload route): a
    # little more, so a file over the limit that a browser lets through (Windows counts 1024**2)
    # still reaches the package, which says why and logs it.
    server_cap = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())["server"][
        "maxUploadSize"
    ] * (1024 * 1024)
    assert server_cap >= limit

    under, over = _bmp_of_about(limit, below=True), _bmp_of_about(limit, below=False)
    assert len(under) <= limit < len(over) <= server_cap
    uploader = at.file_uploader(key="detect_uploads")
    uploader.upload("under.bmp", under, "image/bmp")
    uploader.upload("over.bmp", over, "image/bmp")
    at.run()
    assert not at.exception, at.exception
    # Under: scored and logged. Over: refused with its reason, shown and logged.
    assert _store(settings).predictions()["input_name"].tolist() == ["under.bmp"]
    assert _store(settings).rejections()["reason"].tolist() == ["too_large"]
    (error,) = _texts(at.error)
    assert error.startswith("**over.bmp** was not scored") and "too large" in error


def _bmp_of_about(size: int, *, below: bool) -> bytes:
    """A 24-bit BMP 2048 pixels wide, as tall as fits under ``size`` bytes (or just past it)."""
    from PIL import Image

    width, header, row = 2048, 54, 2048 * 3
    height = (size - header) // row + (0 if below else 1)
    gradient = np.linspace(0, 255, width * height, dtype=np.float32).astype(np.uint8)
    pixels = np.stack([gradient.reshape(height, width)] * 3, axis=-1)
    return encode(Image.fromarray(pixels, "RGB"), "BMP")


# ----------------------------------------------------------------- issue 12: the presenter's demo


def _two_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fakescope.traffic

    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "fake_cv_face_bilinear.png").write_bytes(encode(photo_like(seed=2), "PNG"))
    (samples / "real_cv_street.jpg").write_bytes(encode(photo_like(seed=1), quality=88))
    monkeypatch.setattr(fakescope.traffic, "samples_dir", lambda: samples)


@pytest.mark.parametrize("page", ["detect", "monitor", "models"])
def test_app_every_page_starts_with_the_apps_name_and_purpose(app_env: Callable, page: str) -> None:
    app_env()
    at = _run(page)
    header = _texts(at.markdown)[0]
    assert "FakeScope" in header and "AI-generated" in header


def test_app_detect_sample_labels_hide_the_truth() -> None:
    import components

    assert components.sample_label("real_cv_apple.jpg") == "apple"
    assert components.sample_label("fake_cv_robin_bilinear.png") == "robin"
    assert components.sample_label("fake_lo_bridge_decoder.png") == "bridge"
    assert components.sample_label("real_street.jpg") == "street"


def test_app_detect_one_sample_then_all_say_whether_the_model_was_right(
    app_env: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_samples(tmp_path, monkeypatch)
    _, settings = app_env()
    at = _run()
    labels = [b.label for b in at.button if b.key and b.key.startswith("detect_sample_")]
    assert labels == ["face", "street"]  # beside "Try all samples", one button per sample
    at.button(key="detect_sample_1").click().run()
    assert not at.exception, at.exception
    log = _store(settings).predictions()
    assert list(log["input_name"]) == ["real_cv_street.jpg"]
    verdict = verdict_for(log["fake_probability"][0], settings.threshold, settings.uncertain_band)
    right = int(verdict == "real")
    assert _texts(at.subheader)[0].startswith("1 image:")
    assert _texts(at.subheader)[0].endswith(f" · {right} of 1 samples right")
    word = {"real": "Right", "fake": "Wrong", "uncertain": "Undecided"}[verdict]
    assert any(f"**{word}**: it is a real image." in t for t in _texts(at.markdown))

    at.button(key="detect_try_samples").click().run()
    log = _store(settings).predictions()
    assert sorted(log["input_name"]) == ["fake_cv_face_bilinear.png", "real_cv_street.jpg"]
    truth = {"fake_cv_face_bilinear.png": "fake", "real_cv_street.jpg": "real"}
    right = sum(
        verdict_for(p, settings.threshold, settings.uncertain_band) == truth[name]
        for name, p in zip(log["input_name"], log["fake_probability"])
    )
    assert _texts(at.subheader)[0].endswith(f" · {right} of 2 samples right")


def test_app_detect_verdict_colour_reaches_the_bar(app_env: Callable) -> None:
    app_env()
    at = _run()
    at.file_uploader(key="detect_uploads").upload("a.png", encode(photo_like(seed=3), "PNG"))
    at.slider(key="detect_band").set_value(0.0)
    for threshold, verdict in ((0.05, "fake"), (0.95, "real")):
        at.slider(key="detect_threshold").set_value(threshold).run()
        colour = {"fake": "#c62828", "real": "#2e7d32"}[verdict]
        bars = [t for t in _texts(at.markdown) if 'role="progressbar"' in t]
        assert len(bars) == 1 and f"background:{colour}" in bars[0]


def test_app_detect_exports_name_version_threshold_band_and_time(app_env: Callable) -> None:
    app_env()
    at = _run()
    at.file_uploader(key="detect_uploads").upload("a.png", encode(photo_like(seed=3), "PNG"))
    at.slider(key="detect_band").set_value(0.1)
    at.slider(key="detect_threshold").set_value(0.3).run()
    assert len(at.get("download_button")) == 2
    # The caption beside the downloads names what the files record, and the files' names.
    (note,) = [c for c in _texts(at.caption) if c.startswith("Downloads record")]
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert re.search(rf"model model.-0 v1, threshold 0\.30, uncertain band 0\.10, {stamp}", note)
    assert re.search(r"fakescope-v1-t0\.30-band0\.10-\d{8}T\d{6}Z\.csv", note), note


def test_app_detect_export_files_carry_their_settings() -> None:
    import components

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    meta = components.export_meta("demo", "v3", 0.4, 0.1, when)
    assert components.export_name(meta, "csv") == "fakescope-v3-t0.40-band0.10-20260102T030405Z.csv"
    prediction = Prediction("fake", 0.8, {"Fake": 0.8}, "demo", "v3", 1.0, "ab" * 32)
    rows = [components.result_row("=cmd|x.jpg", prediction)]
    table = list(csv.DictReader(io.StringIO(components.results_csv(rows, meta).decode())))
    assert table[0]["threshold"] == "0.4" and table[0]["uncertain_band"] == "0.1"
    assert table[0]["exported_at_utc"] == "2026-01-02T03:04:05Z"
    assert table[0]["name"].startswith("'")  # still neutralised for spreadsheets
    data = json.loads(components.results_json(rows, meta))
    assert (data["model_version"], data["threshold"], data["uncertain_band"]) == ("v3", 0.4, 0.1)
    assert data["exported_at_utc"] == "2026-01-02T03:04:05Z" and len(data["results"]) == 1


def test_app_detect_shows_no_server_path(app_env: Callable, tmp_path: Path) -> None:
    app_env()
    at = _run()
    at.file_uploader(key="detect_uploads").upload("a.png", encode(photo_like(seed=3), "PNG"))
    at.run()
    shown = " ".join(_texts(at.caption) + _texts(at.markdown) + _texts(at.info))
    assert str(tmp_path) not in shown


def _confirm_box(at: AppTest) -> list[str]:
    return [
        b.key for b in at.button if b.key in ("models_promote_confirm", "models_promote_cancel")
    ]


def test_app_models_promote_gate_refuses_then_forced_with_a_logged_reason(
    app_env: Callable, tmp_path: Path
) -> None:
    registry, _ = app_env(versions=1, token="t0ken")
    bare = build_vit_model(tmp_path / "bare", image_size=32, hidden_size=16, seed=5)
    registry.register(bare)  # v2: no metrics.json, no card
    at = _run("models")
    at.text_input(key="models_admin_token").input("t0ken")
    at.selectbox(key="models_promote_target").set_value("v2")
    at.button(key="models_promote").click().run()
    assert registry.active_version() == "v1"
    (gate,) = [w for w in _texts(at.warning) if w.startswith("Quality gate failed")]
    assert "v2 has no metrics.json" in gate and "v2 has no model card" in gate
    at.button(key="models_promote_confirm").click().run()  # no reason: refused
    assert registry.active_version() == "v1"
    assert _texts(at.error) == ["Not promoted: the gate failed and no reason was given."]
    at.text_input(key="models_force_reason").input("hotfix, metrics to follow")
    at.button(key="models_promote_confirm").click().run()
    assert not at.exception, at.exception
    assert registry.active_version() == "v2"
    assert _texts(at.success) == ["v2 (bare) is now the active model."]
    assert any("overridden" in t for t in _texts(at.info))
    (entry,) = registry.promotion_log()
    assert entry["version"] == "v2" and entry["previous"] == "v1" and entry["gate"] == "forced"
    assert entry["force_reason"] == "hotfix, metrics to follow"
    assert not _confirm_box(at)


def test_app_models_promote_can_be_cancelled(app_env: Callable) -> None:
    registry, _ = app_env(versions=2, token="t0ken")
    registry.promote("v1")
    at = _run("models")
    at.text_input(key="models_admin_token").input("t0ken")
    at.selectbox(key="models_promote_target").set_value("v2")
    at.button(key="models_promote").click().run()
    assert any(t.startswith("Quality gate passed for v2") for t in _texts(at.info))
    assert _confirm_box(at) == ["models_promote_confirm", "models_promote_cancel"]
    at.button(key="models_promote_cancel").click().run()
    assert registry.active_version() == "v1"
    assert "Promotion cancelled: nothing was changed." in _texts(at.info)
    assert not _confirm_box(at)


def test_app_models_versions_show_cut_hash_with_ellipsis_and_no_paths(
    app_env: Callable, tmp_path: Path
) -> None:
    registry, _ = app_env(versions=2)
    at = _run("models")
    versions = _table(at, "created (UTC)")
    full = registry.get("v1").weights_sha256
    assert versions["weights sha256"][0] == full[:12] + "…"
    assert set(versions["source"]) == {"local files"}
    shown = " ".join(_texts(at.caption) + _texts(at.markdown) + _texts(at.subheader))
    assert str(tmp_path) not in shown


def test_app_monitor_drift_with_too_few_rows_says_so(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile())
    _fill_log(settings, n=12)
    at = _run("monitor")
    assert not at.exception, at.exception
    assert any(
        t.startswith("12 predictions by v1 to judge; a window needs at least 30")
        for t in _texts(at.info)
    ), (_texts(at.info), _texts(at.warning))
    assert "monitor_drift_chart" not in {chart.key for chart in at.get("plotly_chart")}


def test_app_model_load_error_names_no_server_path(
    app_env: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env()
    monkeypatch.setenv("FAKESCOPE_MODEL", str(tmp_path / "gone" / "model-v9"))
    at = _run()
    (error,) = _texts(at.error)
    assert error.startswith("The model cannot be loaded") and "…/model-v9" in error
    assert str(tmp_path) not in error


def test_app_models_show_the_mlflow_run_of_a_tracked_version(
    app_env: Callable, tmp_path: Path
) -> None:
    registry, _ = app_env()  # v1: trained without tracking
    run_id = "0123456789abcdef0123456789abcdef"
    folder = _model(tmp_path / "tracked", seed=7)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["training"] = {
        "mlflow_run_id": run_id,
        "mlflow_tracking_uri": f"sqlite:///{tmp_path}/data/mlflow.db",
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    registry.register(folder, activate=True)
    at = _run("models")
    versions = _table(at, "created (UTC)")
    assert list(versions["MLflow run"]) == ["", run_id]
    captions = " ".join(_texts(at.caption))
    assert f"MLflow run {run_id}" in captions
    assert str(tmp_path) not in captions  # the tracking URI is a server path: never shown


def test_app_models_show_the_generator_report_unseen_first(
    app_env: Callable, tmp_path: Path
) -> None:
    from fakescope.training.report import ScoredImage, check_report_targets, generator_report
    from fakescope.training.report import report_json

    registry, _ = app_env()
    scored = [
        ScoredImage(generator, family, seen, condition, p)
        for condition in ("clean", "web", "hard")
        for generator, family, seen, p in (
            ("real", "", True, 0.1),
            ("real", "", True, 0.7),
            ("upscaler-x", "fam-x", True, 0.9),
            ("gan-y", "fam-y", False, 0.4),
        )
    ]
    rows = generator_report(scored)
    folder = _model(tmp_path / "reported", seed=3)
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["generator_report"] = report_json(rows)
    metrics["generator_targets"] = check_report_targets(scored, rows)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    registry.register(folder, activate=True)
    at = _run("models")
    table = _table(at, "tpr_at_fpr")
    assert list(table["seen"][:3]) == ["UNSEEN"] * 3  # the figure a user needs comes first
    assert list(table["condition"][:3]) == ["clean", "web", "hard"]
    assert len(table) == len(rows)
    captions = " ".join(_texts(at.caption))
    assert "fpr_clean 0.500 (≤ 0.05): **FAIL**" in captions
    assert "unseen_clean_tpr 0.000" in captions


def test_app_models_say_when_a_version_has_no_generator_report(app_env: Callable) -> None:
    app_env()
    at = _run("models")
    assert any("no report on real generators' output" in c for c in _texts(at.caption))


# ------------------------------------------------------------- ground truth, references, reports


@pytest.mark.parametrize("band", ["0", "0.98"])
def test_app_detect_label_is_stored_with_the_prediction_and_shown_on_monitor(
    app_env: Callable, monkeypatch: pytest.MonkeyPatch, band: str
) -> None:
    # Band 0: every verdict is real or fake (Right / Wrong); 0.98: every verdict is uncertain
    # (the true label is asked for instead).
    monkeypatch.setenv("FAKESCOPE_UNCERTAIN_BAND", band)
    _, settings = app_env()
    at = _run()
    data = encode(photo_like(), quality=90)
    at.file_uploader(key="detect_uploads").upload("cat.jpg", data, "image/jpeg").run()
    assert not at.exception, at.exception
    store = _store(settings)
    (logged,) = store.predictions().itertuples()
    assert (logged.verdict == "uncertain") == (band == "0.98")
    (control,) = at.segmented_control
    expected_options = (
        ["It's real", "It's fake"] if logged.verdict == "uncertain" else ["Right", "Wrong"]
    )
    assert list(control.options) == expected_options
    control.set_value(expected_options[1]).run()
    assert not at.exception, at.exception
    truth = "fake" if logged.verdict in ("real", "uncertain") else "real"
    labels = store.labels()
    assert list(labels["truth"]) == [truth] and list(labels["source"]) == ["dashboard"]
    assert list(labels["prediction_id"]) == [logged.id]
    assert any(f"stored as {truth}" in c for c in _texts(at.caption))
    # The prediction is unchanged; the image is kept so the mistake can become training data.
    assert store.predictions()["verdict"].tolist() == [logged.verdict]
    kept = list((Path(settings.data_dir) / "labelled_images").iterdir())
    assert [p.read_bytes() for p in kept] == [data]
    monitor = _run("monitor")
    metrics = {m.label: m.value for m in monitor.metric}
    assert metrics["Labelled predictions"] == "1"
    if logged.verdict == "uncertain":
        # An uncertain verdict is neither right nor wrong: no accuracy from it, nor an estimate.
        assert "Accuracy (labelled)" not in metrics
    else:
        assert metrics["Accuracy (labelled)"] == "0.0%"  # it was marked wrong
        assert "Estimated accuracy (no labels)" in metrics
        # The mistake, with its kept image, is offered as training data.
        labels = [b.label for b in monitor.get("download_button")]
        assert "Labelled mistakes (zip, 1 images)" in labels


def test_app_monitor_embedding_drift_alarms_when_features_do_not(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile(embeddings=True))
    _fill_log(settings, n=120, embedding_shift=1.0)
    at = _run("monitor")
    alarms = _texts(at.error)
    assert len(alarms) == 1 and "embedding_mmd" in alarms[0], alarms
    assert "features" not in alarms[0].split(":", 1)[1]
    checks = _table(at, "compares").set_index("test")
    assert checks.loc["embedding_mmd", "drifted"] and checks.loc["embedding_classifier", "drifted"]
    assert not checks.loc["features", "drifted"]


def test_app_monitor_saves_a_window_as_a_named_reference_and_uses_it(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile(embeddings=True))
    now = datetime.now(timezone.utc)
    _fill_log(settings, n=150, shift=0.2, start=now - timedelta(minutes=300))
    at = _run("monitor")
    assert _texts(at.error)[0].startswith("Drift detected")  # against the model's reference
    at.text_input(key="monitor_reference_name").input("after the camera change")
    at.text_input(key="monitor_reference_note").input("new <b>cameras</b>")
    at.button[[b.label for b in at.button].index("Save")].click().run()
    assert not at.exception, at.exception
    assert any("Saved reference 'after the camera change'" in s for s in _texts(at.success))
    (saved,) = _store(settings).references()
    assert saved["model_version"] == "v1" and saved["n_images"] == 150
    # 100 more predictions like the saved window do not drift against it.
    _fill_log(settings, n=100, shift=0.2, start=now - timedelta(minutes=120), seed=3)
    at.button(key="monitor_refresh").click().run()
    label = next(o for o in at.selectbox(key="monitor_reference").options if "camera" in o)
    at.selectbox(key="monitor_reference").set_value(label).run()
    assert not at.exception, at.exception
    caption = next(c for c in _texts(at.caption) if c.startswith("**Reference**"))
    assert "after the camera change" in caption and "<b>" not in caption
    assert not any(t.startswith("Drift detected") for t in _texts(at.error))


def test_app_monitor_offers_the_drift_report_as_html_and_json(app_env: Callable) -> None:
    _, settings = app_env(profile=_profile(embeddings=True))
    _fill_log(settings, n=60)
    at = _run("monitor")
    labels = [b.label for b in at.get("download_button")]
    assert "Report (HTML)" in labels and "Report (JSON)" in labels
