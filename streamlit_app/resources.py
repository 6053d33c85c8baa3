"""The dashboard's shared resources: the only ``@st.cache_resource`` functions.

One predictor and one prediction store per process, shared by every session (both are safe to use
from several threads). The predictor's key holds the settings and the registry's active version,
so a promote or rollback, even one made from the command line or by another replica, loads the new
model on the next rerun; the Models page also drops the loaded models after its own
promote/rollback so the old model's memory is freed at once.

The model loads in a background thread, once per process and key, started by the first page run
(``app.py`` asks on every run) or by the server's start (``server.py``): pages draw at once, and
where a page needs the model it says that the model is loading and for how long, then shows the
results when it is ready (:func:`predictor`). A failed load is reported once and then forgotten,
so the next page run or request tries again.

Every function here shows a one-line ``st.error`` saying what to set instead of a traceback,
except :func:`shared_predictor` and :func:`shared_store`: the HTTP API (``server.py``) calls those
outside any page, so they raise instead of drawing. Both reach the same loads and cached
functions as the pages, so API and pages share one model and one log per process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from fakescope.api.metrics import get_metrics
from fakescope.config import Settings
from fakescope.errors import FakeScopeError
from fakescope.predictor import Predictor
from fakescope.registry import Registry
from fakescope.safe_text import without_server_paths
from fakescope.store import PredictionStore

# Full messages (with paths) go to the server log; pages show them without server paths.
logger = logging.getLogger("fakescope.dashboard")

MODEL_HELP = (
    "Set FAKESCOPE_MODEL to a model folder or hf://owner/name@revision, or FAKESCOPE_REGISTRY_DIR "
    "to a registry with an active version (fakescope models register DIR --activate)."
)
STORE_HELP = "Set FAKESCOPE_DATA_DIR to a writable folder or FAKESCOPE_DATABASE_URL to a database."


def settings() -> Settings:
    """The settings from FAKESCOPE_* variables; stops the page with the reason if one is bad."""
    try:
        return Settings.from_env()
    except FakeScopeError as exc:
        logger.error("FakeScope is misconfigured: %s", exc)
        st.error(f"FakeScope is misconfigured: {without_server_paths(exc)}")
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers that it does not return


def registry(current: Settings) -> Registry:
    """The model registry the settings point at (cheap: a folder, read on use)."""
    return Registry(current.registry_dir)


def _model_key(current: Settings) -> str:
    """What the loaded model depends on: every setting, and the active registry version."""
    try:
        active = registry(current).active_version()
    except FakeScopeError:
        active = None  # the load itself reports an unreadable registry
    return f"{current!r}|active={active}"


# At most this many models in memory: the one serving and the one replacing it (a promote).
MAX_MODELS = 2
# A page that needs the model waits for it in place this long, redrawing the notice every
# NOTICE_TICK_S (each redraw is where a click or an upload ends the wait and reruns the page);
# after that the run ends and the notice redraws itself every REFRESH_S until the load ends.
PAGE_WAIT_S = 30.0
NOTICE_TICK_S = 1.0
REFRESH_S = 2.0
# A load that ends this soon (a loaded model, a bad setting) shows no notice at all.
QUIET_S = 0.3
LOADING_ICON = ":material/hourglass_top:"


@dataclass(eq=False)
class ModelLoad:
    """One load of one model key, in its own thread: loading, then ready or failed.

    ``predictor`` and ``error`` are set before ``done``, so whoever sees ``done`` set sees them.
    """

    key: str
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    predictor: Predictor | None = None
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def seconds(self) -> float:
        """Seconds since the load started, or how long it took once it has ended."""
        end = self.finished if self.finished is not None else time.monotonic()
        return end - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: until it ends); True when it has ended."""
        return self.done.wait(timeout)

    def failure(self) -> Exception:
        """Why a load that ended gave no predictor."""
        return self.error or FakeScopeError("the model load stopped without a result")


class ModelLoading(Exception):
    """The model is still loading (:func:`shared_predictor` with a ``wait_s``)."""

    def __init__(self, load: ModelLoad) -> None:
        super().__init__(loading_reason(load))
        self.load = load


class _ModelLoads:
    """The process's model loads by key, each started once in its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loads: dict[str, ModelLoad] = {}

    def start(self, key: str, current: Settings) -> ModelLoad:
        """The load kept for ``key`` (loading, ready, or failed and not yet reported), else a
        new one, started now."""
        with self._lock:
            load = self._loads.get(key)
            if load is None:
                self._make_room()
                load = self._loads[key] = ModelLoad(key)
                threading.Thread(
                    target=_load_in_background,
                    args=(load, current),
                    name="fakescope-model-load",
                    daemon=True,
                ).start()
            return load

    def peek(self, key: str) -> ModelLoad | None:
        """The load kept for ``key``, without starting one."""
        with self._lock:
            return self._loads.get(key)

    def forget(self, load: ModelLoad) -> None:
        """Drop ``load`` (a failure once reported), so the next :meth:`start` tries again."""
        with self._lock:
            if self._loads.get(load.key) is load:
                del self._loads[load.key]

    def clear(self) -> None:
        """Drop every load; one still in flight finishes unseen and is then freed."""
        with self._lock:
            self._loads.clear()

    def _make_room(self) -> None:
        # Oldest first; a load in flight is left to finish (its thread holds the model anyway).
        for key in list(self._loads):
            if len(self._loads) < MAX_MODELS:
                return
            if self._loads[key].done.is_set():
                del self._loads[key]


def _load_in_background(load: ModelLoad, current: Settings) -> None:
    """Load and warm up the model into ``load``; the error, if any, is kept for the reader."""
    try:
        predictor = Predictor.from_source(None, current)
        predictor.warm_up()
        load.predictor = predictor
        # Counted where the load happens, so /metrics shows that pages and API share one model.
        get_metrics().model_loads.inc()
        logger.info("model %s loaded in %.1f s", predictor.info.version, load.seconds)
    except FakeScopeError as exc:
        load.error = exc
        logger.error("the model cannot be loaded: %s", exc)
    except Exception as exc:  # noqa: BLE001 - handed to the page or request, which reports it
        load.error = exc
        logger.error("loading the model failed unexpectedly", exc_info=exc)
    finally:
        load.finished = time.monotonic()
        load.done.set()


@st.cache_resource(show_spinner=False)
def _loads() -> _ModelLoads:
    # Cached (not a module global) so that Streamlit reloading this module keeps the loads.
    return _ModelLoads()


def start_loading(current: Settings) -> ModelLoad:
    """Start loading the model for these settings in the background unless it already is.

    Returns at once. A failed load that nobody has reported yet is returned as it is; the
    readers of a failure (:func:`predictor`, :func:`shared_predictor`) start the next try.
    """
    return _loads().start(_model_key(current), current)


def start_loading_quietly() -> None:
    """:func:`start_loading` for ``app.py``'s every run; a bad setting is left to the page."""
    try:
        start_loading(Settings.from_env())
    except FakeScopeError:
        pass


def model_loading(current: Settings) -> bool:
    """Whether the model for these settings is loading now (starts nothing)."""
    load = _loads().peek(_model_key(current))
    return load is not None and not load.done.is_set()


def loading_reason(load: ModelLoad) -> str:
    """What the API and ``/readyz`` say while ``load`` is in flight."""
    return f"the model is loading (started {load.seconds:.0f} s ago)"


def loading_text(load: ModelLoad) -> str:
    """What a page says while ``load`` is in flight."""
    return (
        f"The model is loading (prepared for this CPU) — started {load.seconds:.0f} s ago; "
        "this page updates when it is ready."
    )


@st.fragment(run_every=REFRESH_S)
def _loading_notice(load: ModelLoad) -> None:
    """The notice after the page stopped waiting: redrawn alone, the whole page reruns once the
    load has ended (ready or failed) and no more after that (the rerun does not draw this)."""
    if load.done.is_set():
        st.rerun()
    st.info(loading_text(load), icon=LOADING_ICON)


def predictor(current: Settings, *, stop: bool = True, slot: Any = None) -> Predictor | None:
    """The shared, warmed-up predictor; while it loads, the page says so in ``slot``.

    Call it where the page first needs the model, after drawing what does not (the uploader
    keeps its files across the reruns). While the model loads, ``slot`` says so and for how
    long, and the page waits here up to ``PAGE_WAIT_S`` (a click or an upload reruns the page
    meanwhile); then the run ends and the notice redraws itself until the load ends and the
    page reruns. A failed load is shown once as a one-line error; the next run tries again.

    Args:
        current: the settings.
        stop: when there is no model yet (loading or failed), stop the page here (else return
            None and let it go on).
        slot: an ``st.empty()`` for the notice or the error, drawn where the page wants them
            (default: here).

    Returns:
        The predictor, or None while it loads or when it cannot load and ``stop`` is False.
    """
    load = start_loading(current)
    slot = slot if slot is not None else st.empty()
    if not load.wait(QUIET_S):
        deadline = time.monotonic() + PAGE_WAIT_S
        while not load.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                with slot.container():
                    _loading_notice(load)
                return _no_model(stop)
            slot.info(loading_text(load), icon=LOADING_ICON)
            load.wait(min(NOTICE_TICK_S, left))
        slot.empty()
    if load.predictor is not None:
        return load.predictor
    _loads().forget(load)
    error = load.failure()
    if not isinstance(error, FakeScopeError):
        raise error  # a bug: the page's handler shows a reference, the log has the traceback
    slot.error(f"The model cannot be loaded: {without_server_paths(error)}. {MODEL_HELP}")
    return _no_model(stop)


def _no_model(stop: bool) -> None:
    if stop:
        st.stop()
    return None


def clear_predictor() -> None:
    """Drop every loaded model (after a promote or rollback); the next run loads anew."""
    _loads().clear()


@st.cache_resource(show_spinner=False)
def _open_store(url: str, retention_rows: int, retention_days: int, _current: Settings):
    return PredictionStore.from_settings(_current)


def store(current: Settings, *, stop: bool = False) -> PredictionStore | None:
    """The shared prediction log.

    Args:
        current: the settings.
        stop: on failure, stop the page after the error (else warn and return None).

    Returns:
        The store, or None when it cannot be opened and ``stop`` is False.
    """
    try:
        return _open_store(
            current.resolved_database_url,
            current.retention_max_rows,
            current.retention_days,
            current,
        )
    except FakeScopeError as exc:
        if stop:
            st.error(
                f"The prediction log cannot be opened: {without_server_paths(exc)}. {STORE_HELP}"
            )
            st.stop()
        logger.warning("predictions are not being logged: %s", exc)
        st.warning(f"Predictions are not being logged: {without_server_paths(exc)}. {STORE_HELP}")
        return None


def shared_predictor(current: Settings, *, wait_s: float | None = None) -> Predictor:
    """The pages' predictor, for callers outside a page (the HTTP API).

    Args:
        current: the settings.
        wait_s: how long to wait for a load in flight (None: until it ends).

    Raises:
        ModelLoading: the model is still loading after ``wait_s``.
        FakeScopeError: the model cannot be loaded (the error is not cached; the next call
            tries again).
    """
    load = start_loading(current)
    if not load.wait(wait_s):
        raise ModelLoading(load)
    if load.predictor is None:
        _loads().forget(load)
        raise load.failure()
    return load.predictor


def shared_store(current: Settings) -> PredictionStore:
    """The pages' cached prediction log, for callers outside a page (the HTTP API).

    Raises:
        FakeScopeError: the log cannot be opened.
    """
    return _open_store(
        current.resolved_database_url,
        current.retention_max_rows,
        current.retention_days,
        current,
    )
