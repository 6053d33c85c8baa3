"""Training-run tracking: real MLflow on a SQLite file in a temp folder, and every no-op path."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakescope.training import tracking
from fakescope.training.tracking import (
    metric_key,
    param_values,
    report_metrics,
    start_run,
    tracking_uri,
)

pytestmark = pytest.mark.unit
mlflow = pytest.importorskip("mlflow", reason="MLflow is a development dependency")

REPORT_ROWS = [
    {
        "generator": "realesrgan-x4plus",
        "family": "esrgan-rrdb",
        "seen": True,
        "condition": "clean",
        "n_fake": 10,
        "n_real": 12,
        "tpr": 0.9,
        "fpr": 0.05,
        "tpr_at_fpr": 0.8,
        "fpr_target": 0.05,
        "roc_auc": 0.95,
        "ece": 0.04,
    },
    {
        "generator": "all unseen",
        "family": "",
        "seen": False,
        "condition": "web",
        "n_fake": 5,
        "n_real": 12,
        "tpr": 0.4,
        "fpr": 0.1,
        "tpr_at_fpr": 0.3,
        "fpr_target": 0.1,
        "roc_auc": None,
        "ece": 0.2,
    },
]


@pytest.fixture(scope="module")
def tracking_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database for the module: MLflow takes several seconds to create its tables."""
    folder = tmp_path_factory.mktemp("tracking")
    start_run(folder, "fakescope-setup").end()
    assert (folder / "mlflow.db").is_file()
    return folder


@pytest.fixture(autouse=True)
def _fresh_messages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test sees the say-once messages as if nothing had been said yet."""
    monkeypatch.setattr(tracking, "_said", set())
    yield


def _client(tracking_dir: Path) -> object:
    return mlflow.tracking.MlflowClient(tracking_uri=tracking_uri(tracking_dir))


def test_run_logs_params_epochs_report_and_artifacts(tracking_dir: Path, tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text("# model card\n", encoding="utf-8")
    params = {"seed": 0, "epochs": 2, "held_out_families": ("dcgan",), "base": None}
    with start_run(tracking_dir, "fakescope-test", params, run_name="demo-model") as tracker:
        for epoch, loss in ((1, 0.7), (2, 0.4)):
            tracker.log_epoch(epoch, {"epoch": epoch, "train_loss": loss, "val_roc_auc": 0.9})
        tracker.log_report(REPORT_ROWS)
        tracker.log_metrics(
            {"accuracy": 0.93, "conditions": {"clean": {"fpr": 0.0}}}, prefix="final"
        )
        tracker.log_artifact(card)
        summary = tracker.summary()

    run_id = tracker.run_id
    assert run_id is not None and summary["mlflow_run_id"] == run_id
    assert summary["mlflow_tracking_uri"] == tracking_uri(tracking_dir)
    client = _client(tracking_dir)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "demo-model"
    assert run.data.params == {
        "seed": "0",
        "epochs": "2",
        "held_out_families": "dcgan",
        "base": "None",
    }
    history = client.get_metric_history(run_id, "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.7), (2, 0.4)]
    assert "epoch" not in run.data.metrics
    assert run.data.metrics["report.clean.realesrgan-x4plus.tpr_at_fpr"] == 0.8
    assert run.data.metrics["report.web.all_unseen.tpr"] == 0.4
    assert "report.web.all_unseen.roc_auc" not in run.data.metrics  # None is not a number
    assert run.data.metrics["final.accuracy"] == 0.93
    assert run.data.metrics["final.conditions.clean.fpr"] == 0.0
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts == {"README.md", tracking.REPORT_ARTIFACT}
    local = Path(client.download_artifacts(run_id, tracking.REPORT_ARTIFACT, str(tmp_path)))
    assert json.loads(local.read_text(encoding="utf-8")) == REPORT_ROWS
    assert (tracking_dir / "mlflow.db").is_file() and (tracking_dir / "mlartifacts").is_dir()


def test_failed_training_marks_the_run_failed(tracking_dir: Path) -> None:
    with pytest.raises(RuntimeError, match="out of memory"):
        with start_run(tracking_dir, "fakescope-test", {"seed": 1}) as tracker:
            tracker.log_epoch(1, {"train_loss": 1.0})
            raise RuntimeError("out of memory")
    assert _client(tracking_dir).get_run(tracker.run_id).info.status == "FAILED"


def test_tracking_off_by_environment_is_a_noop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKESCOPE_TRACKING", "off")
    caplog.set_level(logging.INFO, logger=tracking.__name__)
    for _ in range(2):
        with start_run(tmp_path / "data", "fakescope-test", {"seed": 0}) as tracker:
            tracker.log_epoch(1, {"train_loss": 1.0})
            tracker.log_report(REPORT_ROWS)
            tracker.log_artifact(tmp_path / "missing.md")
        assert tracker.run_id is None and not tracker.active
        assert tracker.summary() == {
            "mlflow_run_id": None,
            "mlflow_tracking_uri": None,
            "mlflow_experiment": None,
        }
    assert not (tmp_path / "data").exists()
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "FAKESCOPE_TRACKING=off" in said[0]  # said once, not per run


@pytest.mark.parametrize("how", ["no folder", "enabled=False"])
def test_tracking_off_by_argument_is_a_noop(tmp_path: Path, how: str) -> None:
    if how == "no folder":
        tracker = start_run(None, "fakescope-test", {"seed": 0})
    else:
        tracker = start_run(tmp_path, "fakescope-test", {"seed": 0}, enabled=False)
    with tracker:
        tracker.log_epoch(1, {"train_loss": 1.0})
    assert tracker.run_id is None
    assert not (tmp_path / "mlflow.db").exists()


def test_bad_tracking_variable_warns_and_stays_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKESCOPE_TRACKING", "maybe")
    with start_run(tmp_path, "fakescope-test") as tracker:
        pass
    assert tracker.run_id is None
    assert "FAKESCOPE_TRACKING must be 1/true/yes/on or 0/false/no/off" in caplog.text


def test_missing_mlflow_is_a_noop_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A None entry makes the import fail, as when the package is not installed.
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    for _ in range(2):
        with start_run(tmp_path, "fakescope-test", {"seed": 0}) as tracker:
            tracker.log_epoch(1, {"train_loss": 1.0})
        assert tracker.run_id is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MLflow is not installed" in warnings[0].getMessage()
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("damage", ["folder under a file", "database is a folder", "not a db"])
def test_unusable_tracking_folder_warns_and_training_goes_on(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root here, so permission bits would not stop a write; these do.
    if damage == "folder under a file":
        (tmp_path / "file").write_text("x")
        folder = tmp_path / "file" / "data"
    elif damage == "database is a folder":
        folder = tmp_path / "data"
        (folder / "mlflow.db").mkdir(parents=True)
    else:
        folder = tmp_path / "data"
        folder.mkdir()
        (folder / "mlflow.db").write_bytes(b"not a database " * 100)
    with start_run(folder, "fakescope-test", {"seed": 0}) as tracker:
        tracker.log_epoch(1, {"train_loss": 1.0})
        tracker.log_report(REPORT_ROWS)
    assert tracker.run_id is None
    assert "MLflow tracking is off for this run" in caplog.text
    assert "training goes on" in caplog.text


def test_database_damaged_mid_run_stops_tracking_not_training(
    tracking_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.copyfile(tracking_dir / "mlflow.db", tmp_path / "mlflow.db")  # tables made already
    with start_run(tmp_path, "fakescope-test", {"seed": 0}) as tracker:
        tracker.log_epoch(1, {"train_loss": 1.0})
        (tmp_path / "mlflow.db").write_bytes(b"x" * 8192)
        tracker.log_epoch(2, {"train_loss": 0.5})
        assert not tracker.active
        tracker.log_report(REPORT_ROWS)  # no-ops from here on
    assert tracker.run_id is not None  # the run exists (partly logged): metrics.json keeps its id
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MLflow tracking stopped" in warnings[0].getMessage()


def test_metric_key_keeps_only_characters_mlflow_allows() -> None:
    assert metric_key("report", "web", "all seen", "tpr") == "report.web.all_seen.tpr"
    assert metric_key("report", "../etc", "a/b:c.d", "x") == "report.etc.a_b_c_d.x"
    assert metric_key("", "é") == "_._"
    assert len(metric_key("x" * 400)) == tracking.MAX_KEY_LENGTH


def test_report_metrics_and_param_values_flatten() -> None:
    flat = report_metrics(REPORT_ROWS)
    assert flat["report.clean.realesrgan-x4plus.ece"] == 0.04
    assert len(flat) == 5 + 4  # roc_auc None is left out
    assert param_values({"a": {"b": [1, 2]}, "c": "x" * 7000, "d": {"z", "y"}}) == {
        "a.b": "1,2",
        "c": "x" * tracking.MAX_PARAM_LENGTH,
        "d": "y,z",
    }
