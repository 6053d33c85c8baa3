"""The dashboard's shared resources: the only ``@st.cache_resource`` functions.

One predictor and one prediction store per process, shared by every session (both are safe to use
from several threads). The predictor's cache key holds the settings and the registry's active
version, so a promote or rollback, even one made from the command line or by another replica,
loads the new model on the next rerun; the Models page also clears the cache after its own
promote/rollback so the old model's memory is freed at once.

Every function here shows a one-line ``st.error`` saying what to set instead of a traceback,
except :func:`shared_predictor` and :func:`shared_store`: the HTTP API (``server.py``) calls those
outside any page, so they raise instead of drawing. Both go through the same cached functions as
the pages, so API and pages share one model and one log per process.
"""

from __future__ import annotations

import logging

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


# The first start with a new model also exports its OpenVINO graph (about 3 s for ViT-B/16).
WARM_UP_MESSAGE = (
    "Loading the model, preparing it for this CPU and warming it up "
    "(a new model's first start also exports it for OpenVINO: a few seconds more)..."
)


@st.cache_resource(show_spinner=WARM_UP_MESSAGE, max_entries=2)
def _load_predictor(key: str, _current: Settings) -> Predictor:
    """Load and warm up the model (once per key and process; errors are not cached)."""
    predictor = Predictor.from_source(None, _current)
    predictor.warm_up()
    # Counted where the load happens, so /metrics shows that pages and API share one model.
    get_metrics().model_loads.inc()
    return predictor


def predictor(current: Settings, *, stop: bool = True) -> Predictor | None:
    """The shared, warmed-up predictor.

    Args:
        current: the settings.
        stop: on failure, stop the page after the error (else return None and let it go on).

    Returns:
        The predictor, or None when it cannot load and ``stop`` is False.
    """
    try:
        return _load_predictor(_model_key(current), current)
    except FakeScopeError as exc:
        logger.error("the model cannot be loaded: %s", exc)
        st.error(f"The model cannot be loaded: {without_server_paths(exc)}. {MODEL_HELP}")
        if stop:
            st.stop()
        return None


def clear_predictor() -> None:
    """Drop every cached predictor (after a promote or rollback)."""
    _load_predictor.clear()


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


def shared_predictor(current: Settings) -> Predictor:
    """The pages' cached predictor, for callers outside a page (the HTTP API).

    Raises:
        FakeScopeError: the model cannot be loaded (the error is not cached; the next call
            tries again).
    """
    return _load_predictor(_model_key(current), current)


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
