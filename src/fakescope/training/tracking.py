"""Experiment tracking of training runs in MLflow: optional, local, never in the way.

A training run calls :func:`start_run` once and logs through the :class:`Tracker` it gets::

    with start_run(settings.data_dir, "fakescope-demo", params, run_name="demo-model") as tracker:
        for epoch ...:
            tracker.log_epoch(epoch + 1, record)          # per-epoch figures, step = epoch
        metrics["training"].update(tracker.summary())    # run id + URI into metrics.json
        ...write metrics.json and README.md...
        tracker.log_report(metrics["generator_report"])  # clean / web / hard report
        tracker.log_artifact(output_dir / "metrics.json")

Backend: SQLite at ``<tracking_dir>/mlflow.db`` and artifacts under ``<tracking_dir>/mlartifacts``
(``tracking_dir`` is the data folder, ``Settings.data_dir``); no server is started or needed.
Browse the runs with ``mlflow ui --backend-store-uri sqlite:///<tracking_dir>/mlflow.db``
(docs/pipeline.md).

Tracking never stops a training run. The tracker is a no-op, with ``run_id`` None, when
tracking is turned off (``FAKESCOPE_TRACKING=off``, ``enabled=False``, or no ``tracking_dir``),
when MLflow is not installed (it is a development dependency, not a runtime one: this module
imports it only inside :func:`start_run`), or when the database cannot be opened or written
(an unwritable folder, a locked or damaged file). Each reason is logged once per process
(``logging``, warning level when tracking was wanted but failed); a failure in the middle of a
run logs one warning and turns the rest of the run's calls into no-ops.

MLflow's own usage telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY``, unless the
environment already sets it) before MLflow is first imported.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from fakescope.config import ENV_PREFIX, parse_flag
from fakescope.errors import ConfigError

TRACKING_ENV = ENV_PREFIX + "TRACKING"
DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
REPORT_ARTIFACT = "generator_report.json"
# MLflow's limits (mlflow.utils.validation): key length, parameter value length, batch sizes.
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
METRICS_PER_BATCH = 1000
PARAMS_PER_BATCH = 100
# Report columns logged as metrics (the others are counts, names or flags).
REPORT_FIGURES = ("tpr", "fpr", "tpr_at_fpr", "roc_auc", "ece")

logger = logging.getLogger(__name__)
_said: set[str] = set()  # reasons already logged in this process
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def tracking_uri(tracking_dir: str | Path) -> str:
    """The SQLAlchemy URL of the tracking database in ``tracking_dir`` (absolute)."""
    return f"sqlite:///{Path(tracking_dir).expanduser().resolve() / DB_FILE}"


def artifact_location(tracking_dir: str | Path) -> str:
    """The ``file://`` URI under which runs created here keep their artifacts."""
    return (Path(tracking_dir).expanduser().resolve() / ARTIFACTS_DIR).as_uri()


def tracking_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``FAKESCOPE_TRACKING`` leaves tracking on (unset or empty means on).

    Raises:
        ConfigError: the variable is not one of 1/true/yes/on or 0/false/no/off.
    """
    env = os.environ if environ is None else environ
    raw = env.get(TRACKING_ENV, "").strip()
    return parse_flag(raw, "TRACKING") if raw else True


def metric_key(*parts: object) -> str:
    """A metric or parameter name MLflow accepts, from name parts joined by ``.``.

    Each part keeps ASCII letters, digits, ``_`` and ``-``; any other run of characters
    (spaces, dots, slashes, colons, non-ASCII) becomes one ``_``, so a part can never add a
    level or a path step. ``metric_key("report", "web", "all seen", "tpr")`` is
    ``report.web.all_seen.tpr``.
    """
    cleaned = [_UNSAFE.sub("_", str(part)).strip("_") or "_" for part in parts]
    return ".".join(cleaned)[:MAX_KEY_LENGTH]


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers (bools as 0/1) of a nested mapping, under dotted, sanitised keys.

    Strings, lists, None and non-finite numbers are left out. ``prefix`` may hold dots (each
    part is sanitised); ``{"a": {"b": 1}}`` under ``final`` gives ``final.a.b``.
    """
    return _flatten(data, tuple(prefix.split(".")) if prefix else ())


def _flatten(data: Mapping[str, Any], parts: tuple[str, ...]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, (*parts, str(key))))
        elif isinstance(value, (bool, int, float)) and math.isfinite(float(value)):
            flat[metric_key(*parts, key)] = float(value)
    return flat


def report_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Flat metrics of the clean / web / hard report: ``report.<condition>.<generator>.<figure>``.

    Args:
        rows: :func:`fakescope.training.report.report_json` rows (``generator``, ``condition``
            and the figures of :data:`REPORT_FIGURES`; a missing or None figure is skipped).
    """
    flat: dict[str, float] = {}
    for row in rows:
        for figure in REPORT_FIGURES:
            value = row.get(figure)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if math.isfinite(float(value)):
                    key = metric_key("report", row.get("condition"), row.get("generator"), figure)
                    flat[key] = float(value)
    return flat


def param_values(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as MLflow stores them: dotted keys for nested mappings, lists joined by commas,
    every value a string of at most :data:`MAX_PARAM_LENGTH` characters."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            nested = param_values(value)
            flat.update({metric_key(key, k): v for k, v in nested.items()})
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
            text = ",".join(str(v) for v in items)
        else:
            text = str(value)
        flat[metric_key(key)] = text[:MAX_PARAM_LENGTH]
    return flat


class Tracker:
    """One training run's tracking: MLflow when active, otherwise every call does nothing.

    Attributes:
        run_id: the MLflow run id, None when nothing is tracked.
        tracking_uri: the database URL the run lives in, None when nothing is tracked.
        experiment: the experiment name.
    """

    def __init__(
        self,
        client: Any = None,
        run_id: str | None = None,
        tracking_uri: str | None = None,
        experiment: str = "",
    ) -> None:
        self._client = client
        self.run_id = run_id
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self._ended = False

    @property
    def active(self) -> bool:
        """True while calls still reach MLflow."""
        return self._client is not None and self.run_id is not None and not self._ended

    def summary(self) -> dict[str, str | None]:
        """What ``metrics.json`` records under ``training``: run id, tracking URI, experiment
        (all None when nothing is tracked). The registry copies the first two into a version."""
        tracked = self.run_id is not None
        return {
            "mlflow_run_id": self.run_id,
            "mlflow_tracking_uri": self.tracking_uri if tracked else None,
            "mlflow_experiment": self.experiment if tracked else None,
        }

    # -- logging ----------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters (see :func:`param_values`); a key logged twice must keep its value."""
        values = param_values(params)
        if not self.active or not values:
            return
        from mlflow.entities import Param

        entries = [Param(k, v) for k, v in values.items()]
        self._call(
            "log parameters",
            lambda: [
                self._client.log_batch(self.run_id, params=entries[i : i + PARAMS_PER_BATCH])
                for i in range(0, len(entries), PARAMS_PER_BATCH)
            ],
        )

    def log_metrics(
        self, metrics: Mapping[str, Any], *, step: int | None = None, prefix: str = ""
    ) -> None:
        """Log the finite numbers of a (nested) mapping (see :func:`flatten`) at ``step``."""
        self._log_flat(flatten(metrics, prefix), step)

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Log one epoch's figures at step ``epoch`` (an ``epoch`` key in them is not logged)."""
        self.log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step=epoch)

    def log_report(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Log the clean / web / hard report: a JSON artifact and flat metrics
        (:func:`report_metrics`)."""
        if not self.active or not rows:
            return
        self._call(
            "log the report",
            lambda: self._client.log_dict(self.run_id, [dict(r) for r in rows], REPORT_ARTIFACT),
        )
        self._log_flat(report_metrics(rows), None)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a file (the model card, ``metrics.json``) into the run's artifacts."""
        if not self.active:
            return
        path = Path(path)
        if not path.is_file():
            # The caller's mistake, not the backend's: the run goes on being tracked.
            logger.warning("MLflow run %s: no artifact logged, %s is not a file", self.run_id, path)
            return
        self._call(
            f"log artifact {path.name}",
            lambda: self._client.log_artifact(self.run_id, str(path), artifact_path),
        )

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags (values as strings)."""
        if not self.active or not tags:
            return
        from mlflow.entities import RunTag

        entries = [RunTag(metric_key(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in tags.items()]
        self._call("set tags", lambda: self._client.log_batch(self.run_id, tags=entries))

    def end(self, status: str = "FINISHED") -> None:
        """Mark the run ``FINISHED``, ``FAILED`` or ``KILLED`` (only the first call counts)."""
        if self.active:
            self._call("end the run", lambda: self._client.set_terminated(self.run_id, status))
        self._ended = True

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.end("FINISHED")
        elif issubclass(kind, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")

    # -- internals --------------------------------------------------------------------------

    def _log_flat(self, flat: Mapping[str, float], step: int | None) -> None:
        if not self.active or not flat:
            return
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        entries = [Metric(k, v, stamp, step or 0) for k, v in flat.items()]
        self._call(
            "log metrics",
            lambda: [
                self._client.log_batch(self.run_id, metrics=entries[i : i + METRICS_PER_BATCH])
                for i in range(0, len(entries), METRICS_PER_BATCH)
            ],
        )

    def _call(self, what: str, action: Any) -> None:
        try:
            with _quiet_mlflow():
                action()
        except Exception as exc:  # noqa: BLE001 - tracking must never stop a training run
            self._fail(what, exc)

    def _fail(self, what: str, exc: BaseException) -> None:
        logger.warning(
            "MLflow tracking stopped: cannot %s in run %s (%s: %s); training goes on untracked",
            what,
            self.run_id,
            type(exc).__name__,
            _first_line(exc),
        )
        self._client = None


def start_run(
    tracking_dir: str | Path | None,
    experiment: str,
    params: Mapping[str, Any] | None = None,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    enabled: bool | None = None,
) -> Tracker:
    """Start a tracked run (or a no-op tracker, see the module docstring); use it with ``with``.

    Args:
        tracking_dir: the folder of ``mlflow.db`` and ``mlartifacts/`` (the data folder,
            ``Settings.data_dir``); None turns tracking off.
        experiment: MLflow experiment name (created on first use).
        params: run parameters (nested mappings and lists are flattened, see
            :func:`param_values`).
        run_name: shown in the MLflow UI (MLflow makes one up when None).
        tags: extra run tags; ``mlflow.source.git.commit`` is added when git knows the commit.
        enabled: False turns tracking off; None follows ``FAKESCOPE_TRACKING`` (default on).

    Returns:
        A :class:`Tracker`; its ``run_id`` is None when nothing is tracked. Never raises for
        tracking problems (they are logged); a bad ``FAKESCOPE_TRACKING`` value is logged too,
        and tracking stays off.
    """
    if enabled is None:
        try:
            enabled = tracking_enabled()
        except ConfigError as exc:
            _say_once(logging.WARNING, f"tracking is off: {exc}")
            enabled = False
    if not enabled:
        _say_once(logging.INFO, f"tracking is off ({TRACKING_ENV}=off or --no-tracking)")
        return Tracker(experiment=experiment)
    if tracking_dir is None:
        _say_once(logging.INFO, "tracking is off: no tracking folder was given")
        return Tracker(experiment=experiment)
    mlflow_client = _import_mlflow()
    if mlflow_client is None:
        return Tracker(experiment=experiment)
    uri = tracking_uri(tracking_dir)
    try:
        # MLflow retries a database it cannot open for about 100 s; this check fails at once.
        _check_database(Path(tracking_dir).expanduser() / DB_FILE)
        with _quiet_mlflow():
            client = mlflow_client(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id
                if found is not None
                else client.create_experiment(
                    experiment, artifact_location=artifact_location(tracking_dir)
                )
            )
            all_tags = {**_default_tags(), **{k: str(v) for k, v in (tags or {}).items()}}
            run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
    except Exception as exc:  # noqa: BLE001 - tracking must never stop a training run
        logger.warning(
            "MLflow tracking is off for this run: cannot use %s (%s: %s); training goes on",
            uri,
            type(exc).__name__,
            _first_line(exc),
        )
        return Tracker(experiment=experiment)
    tracker = Tracker(client, run.info.run_id, uri, experiment)
    if params:
        tracker.log_params(params)
    logger.info("MLflow run %s in experiment %r (%s)", tracker.run_id, experiment, uri)
    return tracker


def _check_database(path: Path) -> None:
    """Open the SQLite file (created when missing) and take its write lock, then let go.

    Raises:
        OSError: the folder cannot be created.
        sqlite3.Error: the file cannot be opened or written, or is not a database.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), timeout=10)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
    finally:
        connection.close()


def _import_mlflow() -> Any:
    """``MlflowClient``, or None (said once) when MLflow is not installed."""
    if "mlflow" not in sys.modules:
        # MLflow sends usage telemetry from import on; FakeScope sends nothing anywhere.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        with _quiet_mlflow():
            from mlflow.tracking import MlflowClient
    except ImportError as exc:
        _say_once(
            logging.WARNING,
            f"tracking is off: MLflow is not installed ({exc}); pip install -r "
            f"requirements-dev.txt, or set {TRACKING_ENV}=off to silence this",
        )
        return None
    except Exception as exc:  # noqa: BLE001 - a broken install must not stop training either
        _say_once(
            logging.WARNING,
            f"tracking is off: MLflow cannot be imported ({type(exc).__name__}: "
            f"{_first_line(exc)})",
        )
        return None
    return MlflowClient


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Keep MLflow's noise out of a training log while it runs.

    MLflow and alembic log INFO lines while they create a database (kept to warnings here), and
    MLflow's SQL store uses SQLAlchemy features that 2.1 deprecates (``noload``): deprecation
    and future warnings raised inside MLflow's calls are not ours to fix, so they are ignored.
    """
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(max(log.getEffectiveLevel(), logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


def _default_tags() -> dict[str, str]:
    from fakescope import __version__

    tags = {"fakescope.version": str(__version__)}
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def _git_commit() -> str | None:
    """The checkout's commit when the package runs from a git work tree, else None."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        # A fixed argument list, no shell, a bounded wait.
        result = subprocess.run(  # nosec B603
            [git, "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def _say_once(level: int, message: str) -> None:
    if message not in _said:
        _said.add(message)
        logger.log(level, message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""
