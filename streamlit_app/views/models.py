"""Models: the active model's card and metrics, every registry version, promote and roll back.

Promote and roll back need the admin token (FAKESCOPE_ADMIN_TOKEN), typed into a password field and
compared in constant time. They run in button callbacks, before the page is drawn, so the page
shows the new state at once; the cached predictor is then cleared so the next verdict uses the new
model. The page works even when the model cannot load, so a broken version can be rolled back.
"""

from __future__ import annotations

import hmac
import components
import pandas as pd
import resources
import streamlit as st

from fakescope.acceleration import describe_runtime
from fakescope.config import Settings
from fakescope.errors import FakeScopeError
from fakescope.registry import Registry

FLASH = "models_flash"
# A session-state key name, not a secret.
TOKEN_KEY = "models_admin_token"  # nosec B105


def _token_ok(settings: Settings) -> bool:
    """Whether the typed token equals the configured one (constant-time comparison)."""
    typed = st.session_state.get(TOKEN_KEY) or ""
    configured = settings.admin_token or ""
    if not configured:
        return False
    return hmac.compare_digest(typed.encode("utf-8"), configured.encode("utf-8"))


def _promote(settings: Settings) -> None:
    if not _token_ok(settings):
        components.flash(FLASH, "error", "Wrong admin token: nothing was changed.")
        return
    target = st.session_state.get("models_promote_target")
    try:
        info = Registry(settings.registry_dir).promote(target)
    except FakeScopeError as exc:
        components.flash(FLASH, "error", f"Promote failed: {exc}")
        return
    resources.clear_predictor()
    components.flash(FLASH, "success", f"{info.version} ({info.name}) is now the active model.")


def _rollback(settings: Settings) -> None:
    if not _token_ok(settings):
        components.flash(FLASH, "error", "Wrong admin token: nothing was changed.")
        return
    try:
        info = Registry(settings.registry_dir).rollback()
    except FakeScopeError as exc:
        components.flash(FLASH, "error", f"Rollback failed: {exc}")
        return
    resources.clear_predictor()
    components.flash(
        FLASH, "success", f"Rolled back: {info.version} ({info.name}) is active again."
    )


def _card_body(card: str) -> str:
    """A model card for display: no YAML front matter (the Hub's block between ---), and
    headings two levels down, since the card sits under the page's own headings."""
    lines = card.splitlines()
    if lines and lines[0].strip() == "---":
        for end, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                lines = lines[end + 1 :]
                break
    shown, in_code = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        level = len(line) - len(line.lstrip("#"))
        if not in_code and 0 < level < len(line) and line[level] == " ":
            line = "#" * min(6, level + 2) + line[level:]
        shown.append(line)
    return "\n".join(shown).strip()


def _metrics(registry: Registry, version: str) -> None:
    metrics = registry.read_json(version, "metrics.json")
    if not metrics:
        st.caption(f"{version} has no metrics.json.")
        return
    headline = [
        (key, value)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ][:6]
    if headline:
        cols = st.columns(len(headline))
        for col, (key, value) in zip(cols, headline):
            shown = f"{value:.3f}" if isinstance(value, float) else f"{value:,}"
            col.metric(key.replace("_", " "), shown)
    with st.expander("All metrics (metrics.json)"):
        st.json(metrics, expanded=False)


def _running_model(settings: Settings, active: str | None) -> None:
    st.subheader("Running model")
    predictor = resources.predictor(settings, stop=False)
    if predictor is None:
        st.caption("Roll back or promote another version below, or fix the setting named above.")
        return
    info = predictor.info
    components.fallback_note(info)
    if active is not None and info.version != active and not info.extra.get("fallback_reason"):
        st.warning(
            f"The running model is {info.version}, not the registry's active version {active}: "
            "FAKESCOPE_MODEL overrides the registry.",
            icon=":material/warning:",
        )
    height, width = info.input_size
    rows = {
        "name": info.name,
        "version": info.version,
        "source": info.source,
        "revision": info.revision or "(local files)",
        "weights sha256": info.weights_sha256,
        "precision": info.precision,
        "runtime": describe_runtime(info.extra.get("acceleration", {})),
        "architecture": info.architecture,
        "parameters": f"{info.parameter_count:,}",
        "input": f"{info.input_mode}, {width}x{height}",
        "labels": ", ".join(
            f"{name} -> {info.label_roles.get(i, '?')}" for i, name in sorted(info.labels.items())
        ),
        "temperature": f"{info.temperature:g}",
    }
    # A static table: twelve short rows, all visible without scrolling.
    st.table(
        pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=pd.Index(rows, name="field"))
    )


def _versions_table(registry: Registry, active: str | None) -> None:
    versions = registry.versions()
    table = pd.DataFrame(
        [
            {
                "version": v.version,
                "active": v.version == active,
                "name": v.name,
                "created (UTC)": v.created_at,
                "source": v.source,
                "accuracy": v.metrics.get("accuracy"),
                "input": v.input_mode,
                "weights sha256": (v.weights_sha256 or "")[:12],
                "notes": v.notes,
            }
            for v in versions
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        key="models_versions_table",
        column_config={
            "active": st.column_config.CheckboxColumn("active"),
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
        },
    )
    history = registry.history()
    if history:
        st.caption("Activation history (oldest first): " + " -> ".join(history))


def _admin(settings: Settings, registry: Registry, active: str | None) -> None:
    st.subheader("Promote or roll back")
    configured = bool(settings.admin_token)
    if not configured:
        st.info(
            "Promote and roll back are disabled: no admin token is configured. Set "
            "FAKESCOPE_ADMIN_TOKEN for the dashboard's process to enable them "
            "(or use `fakescope models promote VERSION` on the server).",
            icon=":material/lock:",
        )
    st.text_input(
        "Admin token",
        type="password",
        key=TOKEN_KEY,
        disabled=not configured,
        help="The value of FAKESCOPE_ADMIN_TOKEN.",
        width=420,
    )
    others = [v.version for v in registry.versions() if v.version != active]
    history = registry.history()
    left, right = st.columns(2, gap="large")
    with left:
        st.selectbox(
            "Version to promote",
            others,
            key="models_promote_target",
            disabled=not configured or not others,
            placeholder="no other version",
        )
        st.button(
            "Promote",
            key="models_promote",
            on_click=_promote,
            args=(settings,),
            disabled=not configured or not others,
            type="primary",
            icon=":material/upgrade:",
        )
    with right:
        previous = history[-2] if len(history) >= 2 else None
        st.caption(
            f"Roll back re-activates the previously active version: {previous}."
            if previous
            else "Nothing to roll back to: only one version has been active."
        )
        st.button(
            "Roll back",
            key="models_rollback",
            on_click=_rollback,
            args=(settings,),
            disabled=not configured or previous is None,
            icon=":material/undo:",
        )


def main() -> None:
    """Render the page."""
    settings = resources.settings()
    st.title("Models")
    components.show_flash(FLASH)
    registry = resources.registry(settings)
    try:
        versions = registry.versions()
        active = registry.active_version()
    except FakeScopeError as exc:
        st.error(f"The model registry cannot be read: {exc}")
        st.stop()
    if not versions:
        st.info(
            f"The registry at {registry.root} has no versions. Register a model with "
            "`fakescope models register MODEL_DIR --activate`, or set FAKESCOPE_REGISTRY_DIR.",
            icon=":material/inventory_2:",
        )
        _running_model(settings, None)
        st.stop()

    if active is None:
        st.warning("No version is active. Promote one below.", icon=":material/warning:")
    else:
        info = registry.get(active)
        st.subheader(f"Active model: {info.name} {info.version}")
        st.caption(f"Registered {info.created_at} · source {info.source}")
        _metrics(registry, active)
        card = registry.model_card(active)
        with st.expander("Model card", expanded=True):
            if card:
                st.markdown(_card_body(card))
            else:
                st.caption(f"{active} has no model card (README.md).")

    _running_model(settings, active)
    st.subheader("All versions")
    _versions_table(registry, active)
    _admin(settings, registry, active)


main()
