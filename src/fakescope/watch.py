"""Unattended monitoring: check the newest window, alert, on a timer in the server.

An alert that fires only when someone opens the Monitor page is no alert. :func:`check_and_alert`
is the whole check (``fakescope monitor --alert`` runs it once; :class:`Watcher` runs it every
``Settings.alert_check_minutes`` in the server, when a webhook is set):

1. the model version (default: the registry's active one) and its reference (its own, or a
   named one);
2. every drift test on the newest ``window`` predictions
   (:func:`fakescope.drift_checks.check_window`);
3. the drift alert and the estimated-accuracy alert (:mod:`fakescope.alerts`: each at most once
   per window, so checking often sends nothing twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fakescope import alerts
from fakescope.config import Settings
from fakescope.drift import ReferenceProfile
from fakescope.drift_checks import DEFAULT_WINDOW, WindowCheck, check_window
from fakescope.errors import ConfigError, FakeScopeError
from fakescope.feedback import estimated_performance_over_time
from fakescope.reference import ReferenceChoice, load_reference

logger = logging.getLogger(__name__)


@dataclass
class WatchResult:
    """What one check found and did."""

    version: str
    reference: ReferenceProfile
    rows: pd.DataFrame
    check: WindowCheck
    alerts: dict[str, str | None] = field(default_factory=dict)


def active_or(registry: Any, version: str | None) -> str:
    """``version``, or the registry's active one.

    Raises:
        ConfigError: no version given and none active.
    """
    if version:
        return version
    active = registry.active_version()
    if active is None:
        raise ConfigError("the registry has no active version; give a model version")
    return active


def check_and_alert(
    store: Any,
    registry: Any,
    settings: Settings,
    *,
    version: str | None = None,
    reference_name: str | None = None,
    window: int = DEFAULT_WINDOW,
    history_windows: int = 1,
    alert: bool = True,
) -> WatchResult:
    """Check the newest ``window`` predictions of a version against its reference; alert.

    Args:
        store, registry, settings: the log, the model registry, the alert settings.
        version: the model version; default the active one.
        reference_name: a named reference; default the version's own.
        window: predictions in the window.
        history_windows: how many windows of rows to read (the report's drift over time).
        alert: send the alerts (when a webhook is set).

    Raises:
        FakeScopeError: no version, no reference, or the log cannot be read.
    """
    version = active_or(registry, version)
    reference = load_reference(ReferenceChoice.of(reference_name or None), registry, store, version)
    rows = store.predictions(
        model_version=version, limit=window * max(1, history_windows), embeddings=True
    )
    newest = rows.iloc[-window:]
    check = check_window(reference, newest)
    result = WatchResult(version, reference, rows, check)
    if alert and settings.alert_webhook_url:
        estimate = estimated_performance_over_time(newest, max(1, len(newest)))
        accuracy = estimate["estimated_accuracy"].iloc[0] if len(estimate) else None
        result.alerts = {
            "drift": alerts.check_drift_alert(store, settings, check, version),
            "estimated accuracy": alerts.check_accuracy_alert(
                store,
                settings,
                model_version=version,
                accuracy=accuracy,
                window_start=check.window_start,
                window_end=check.window_end,
                n=check.n,
            ),
        }
    return result


class Watcher:
    """Runs :func:`check_and_alert` every ``interval_seconds`` in a daemon thread.

    Errors (no reference yet, a log being migrated) are logged and the next round tries again;
    nothing here can stop the server.
    """

    def __init__(
        self,
        store: Callable[[], Any],
        registry: Callable[[], Any],
        settings: Settings,
        interval_seconds: float | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self.settings = settings
        self.interval_seconds = (
            settings.alert_check_minutes * 60 if interval_seconds is None else interval_seconds
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def run_once(self) -> WatchResult | None:
        """One check; None (with the reason logged) when it could not run."""
        self.rounds += 1
        try:
            result = check_and_alert(self._store(), self._registry(), self.settings)
        except FakeScopeError as exc:
            logger.info("monitoring check skipped: %s", exc)
            return None
        for kind, note in result.alerts.items():
            if note is not None:
                logger.info("monitoring alert (%s): %s", kind, note)
        return result

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.run_once()

    def start(self) -> None:
        """Start checking (the first check after one interval: the model is still loading)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="fakescope-watch", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
