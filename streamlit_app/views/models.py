"""Models: the active model's card and metrics, every registry version, promote and roll back.

Promote and roll back need the admin token (FAKESCOPE_ADMIN_TOKEN), typed into a password field,
compared in constant time and rate-limited (``fakescope.auth``). Promote is two steps: the
first click runs the quality gate (``fakescope.registry.promotion_gate``) and asks to confirm; a
gate that fails can only be overridden with a stated reason, logged in the registry's
``promotions.log``. Each message appears beside the button that caused it. They run in button
callbacks, before the page is drawn, so the page shows the new state at once; the cached
predictor is then cleared so the next verdict uses the new model.

The page must work whatever state the registry is in, since it is where a broken version is rolled
back: the registry is read with ``Registry.scan()`` (never raises), each section shows its own
problem, and the controls are drawn first, into the last slot, so no section can hide them.
Messages name versions and files inside the registry, never server paths.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

import components
import pandas as pd
import resources
import streamlit as st

from fakescope.acceleration import describe_runtime
from fakescope.auth import admin_limiter
from fakescope.config import Settings
from fakescope.errors import FakeScopeError
from fakescope.registry import PromotionRefused, Registry, RegistryState, promotion_gate
from fakescope.safe_text import markdown_text

FLASH = "models_flash"  # page-wide messages
PROMOTE_FLASH = "models_promote_flash"  # shown under the Promote button
ROLLBACK_FLASH = "models_rollback_flash"  # shown under the Roll back button
PROMOTE_NOTE = "models_promote_note"  # a second line under Promote: the gate was overridden
PENDING_KEY = "models_promote_pending"  # the version waiting for confirmation, and its gate
# Session-state key names, not secrets.
TOKEN_KEY = "models_admin_token"  # nosec B105
CLIENT_KEY = "models_client_id"
VERSION_COLUMNS = [
    "version",
    "active",
    "name",
    "created (UTC)",
    "source",
    "accuracy",
    "input",
    "weights sha256",
    "MLflow run",
    "notes",
]
logger = logging.getLogger(__name__)
# Text that Markdown shows as it is (no links, images, HTML, emphasis, math or lists can start).
_PLAIN = re.compile(r"(?!.*www\.)[A-Za-z0-9][A-Za-z0-9 ._/-]{0,199}", re.IGNORECASE)


def _md(text: object) -> str:
    """Untrusted text (a model name, an error message) for a Markdown element, shown as typed.

    Plain names stay as they are (readable in the page source and in tests); anything else is
    escaped, so a name like ``![x](https://...)`` cannot make the browser fetch anything.
    """
    value = str(text)
    return value if _PLAIN.fullmatch(value) else markdown_text(value)


def _client_keys() -> list[str]:
    """Who is guessing: this browser session, and the client's address when Streamlit knows it."""
    if CLIENT_KEY not in st.session_state:
        st.session_state[CLIENT_KEY] = secrets.token_hex(8)
    keys = [f"session:{st.session_state[CLIENT_KEY]}"]
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - the address is a bonus key; the session key suffices
        address = None
    if address:
        keys.append(f"ip:{address}")
    return keys


def _authorised(settings: Settings, flash_key: str) -> bool:
    """Whether the typed token is right and this client is not rate-limited (else flash why)."""
    typed = st.session_state.get(TOKEN_KEY) or ""
    decision = admin_limiter().check(typed, settings.admin_token, _client_keys())
    if not decision.allowed:
        components.flash(flash_key, "error", decision.message)
    return decision.allowed


def _promote(settings: Settings) -> None:
    """First step: check the token, run the gate, and ask for confirmation (nothing changes)."""
    st.session_state.pop(PENDING_KEY, None)
    if not _authorised(settings, PROMOTE_FLASH):
        return
    target = st.session_state.get("models_promote_target")
    if not target:
        components.flash(
            PROMOTE_FLASH, "error", "Choose a version to promote: nothing was changed."
        )
        return
    try:
        gate = promotion_gate(Registry(settings.registry_dir), target)
    except FakeScopeError as exc:
        components.flash(PROMOTE_FLASH, "error", f"Promote failed: {_md(exc)}")
        return
    st.session_state[PENDING_KEY] = {"version": gate.version, "problems": list(gate.problems)}


def _confirm_promote(settings: Settings) -> None:
    """Second step: promote the version the gate checked (forced only with a reason)."""
    pending = st.session_state.pop(PENDING_KEY, None)
    if not pending:
        return
    if not _authorised(settings, PROMOTE_FLASH):
        return
    reason = (st.session_state.get("models_force_reason") or "").strip() or None
    try:
        info = Registry(settings.registry_dir).promote_checked(pending["version"], reason)
    except PromotionRefused as exc:
        # Keep the question open: the admin may still give a reason.
        st.session_state[PENDING_KEY] = {
            "version": exc.gate.version,
            "problems": list(exc.gate.problems),
        }
        components.flash(
            PROMOTE_FLASH, "error", "Not promoted: the gate failed and no reason was given."
        )
        return
    except FakeScopeError as exc:
        components.flash(PROMOTE_FLASH, "error", f"Promote failed: {_md(exc)}")
        return
    resources.clear_predictor()
    components.flash(
        PROMOTE_FLASH, "success", f"{info.version} ({_md(info.name)}) is now the active model."
    )
    if reason and pending["problems"]:
        components.flash(
            PROMOTE_NOTE,
            "info",
            "The quality gate was overridden; your reason is logged in the registry's "
            "promotions.log.",
        )


def _cancel_promote() -> None:
    st.session_state.pop(PENDING_KEY, None)
    components.flash(PROMOTE_FLASH, "info", "Promotion cancelled: nothing was changed.")


def _rollback(settings: Settings) -> None:
    st.session_state.pop(PENDING_KEY, None)
    if not _authorised(settings, ROLLBACK_FLASH):
        return
    try:
        info = Registry(settings.registry_dir).rollback()
    except FakeScopeError as exc:
        components.flash(ROLLBACK_FLASH, "error", f"Rollback failed: {_md(exc)}")
        return
    resources.clear_predictor()
    components.flash(
        ROLLBACK_FLASH,
        "success",
        f"Rolled back: {info.version} ({_md(info.name)}) is active again.",
    )


def _section(what: str, render: Callable[..., None], *args: Any) -> None:
    """Render one section; a failure shows what is wrong there and leaves the rest of the page."""
    try:
        render(*args)
    except FakeScopeError as exc:
        st.warning(f"{what} cannot be shown: {_md(exc)}", icon=":material/warning:")
    except Exception:  # noqa: BLE001 - one bad section must never hide promote / roll back
        logger.exception("Models page: %s failed", what)
        st.warning(
            f"{what} cannot be shown because of an internal error (details in the server log).",
            icon=":material/warning:",
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
            col.metric(_md(key.replace("_", " ")), shown)
    with st.expander("All metrics (metrics.json)"):
        st.json(metrics, expanded=False)


def _generator_report(registry: Registry, version: str) -> None:
    """The clean / web / hard report of metrics.json (issue 10), unseen generators first."""
    metrics = registry.read_json(version, "metrics.json") or {}
    rows = metrics.get("generator_report")
    if not isinstance(rows, list) or not rows:
        st.caption(
            f"{version} has no report on real generators' output (it was not trained with "
            "`--generated`). Make one with "
            "`fakescope evaluate --generated tests/quality/generated`."
        )
        return
    st.markdown("**Real generators, held-out photos: clean / web / hard**")
    table = pd.DataFrame(rows)
    table["seen"] = table["seen"].map({True: "seen", False: "UNSEEN"})
    table = table.sort_values(["seen", "generator", "condition"], key=_report_order)
    st.dataframe(
        table[
            ["generator", "family", "seen", "condition", "n_fake", "tpr", "fpr", "tpr_at_fpr"]
            + ["fpr_target", "roc_auc", "ece"]
        ],
        hide_index=True,
        column_config={
            "n_fake": "fakes",
            "tpr": st.column_config.NumberColumn("TPR", format="%.3f"),
            "fpr": st.column_config.NumberColumn("FPR on reals", format="%.3f"),
            "tpr_at_fpr": st.column_config.NumberColumn("TPR at FPR target", format="%.3f"),
            "fpr_target": "FPR target",
            "roc_auc": st.column_config.NumberColumn("ROC AUC", format="%.3f"),
            "ece": st.column_config.NumberColumn("ECE", format="%.3f"),
        },
    )
    targets = metrics.get("generator_targets") or {}
    if isinstance(targets, dict) and targets:
        shown = [
            f"{_md(name)} {check.get('value', float('nan')):.3f} "
            f"({'≥' if check.get('kind') == 'min' else '≤'} {check.get('limit')}): "
            f"{'pass' if check.get('passed') else '**FAIL**'}"
            for name, check in targets.items()
            if isinstance(check, dict)
        ]
        st.caption("Targets: " + " · ".join(shown))
    st.caption(
        "TPR at the serving threshold; FPR on real photos under the same condition; TPR at FPR "
        "target reads the fakes at the threshold where the reals' FPR is at most the target. "
        "UNSEEN families were held out of training: their row is what to expect from a new "
        "generator."
    )


def _report_order(column: pd.Series) -> pd.Series:
    """Unseen before seen, summary rows first, conditions in clean, web, hard order."""
    if column.name == "seen":
        return column.map({"UNSEEN": 0, "seen": 1})
    if column.name == "condition":
        return column.map({"clean": 0, "web": 1, "hard": 2})
    return column.map(lambda name: ("" if str(name).startswith("all ") else "~") + str(name))


def _card(registry: Registry, version: str) -> None:
    card = registry.model_card(version)
    with st.expander("Model card", expanded=True):
        if card:
            st.markdown(_card_body(card))
        else:
            st.caption(f"{version} has no model card (README.md).")


def _active_model(registry: Registry, state: RegistryState) -> None:
    active = state.active
    if active is None:
        st.warning("No version is active. Promote one below.", icon=":material/warning:")
        return
    info = next((v for v in state.versions if v.version == active), None)
    if info is None:
        why = state.broken.get(active, f"{active} does not exist")
        st.error(
            f"The active version {active} cannot be read ({_md(why)}). Roll back or promote "
            "another version below.",
            icon=":material/error:",
        )
        return
    st.subheader(f"Active model: {_md(info.name)} {info.version}")
    checked = ", ".join(sorted(info.files_sha256)) if info.files_sha256 else "weights only"
    # The run id only: the tracking URI is a path on the server that trained the model.
    run = f" · MLflow run {_md(info.mlflow_run_id)}" if info.mlflow_run_id else ""
    st.caption(
        f"Registered {_md(info.created_at)} · source {_md(_shown_source(info))} · "
        f"sha256 checked on load: {checked}{run}"
    )
    _section(f"The metrics of {active}", _metrics, registry, active)
    _section(f"The generator report of {active}", _generator_report, registry, active)
    _section(f"The model card of {active}", _card, registry, active)


def _shown_source(info: Any) -> str:
    """A hub source as it is; a local folder as what it is, not where it lies on the server."""
    source = str(info.source)
    return source if source.startswith("hf://") else "local files"


def _running_model(settings: Settings, active: str | None) -> None:
    st.subheader("Running model")
    predictor = resources.predictor(settings, stop=False)
    if predictor is None:
        if not resources.model_loading(settings):  # it failed: say what can be done here
            st.caption(
                "Roll back or promote another version below, or fix the setting named above."
            )
        return
    info = predictor.info
    components.fallback_note(info)
    if active is not None and info.version != active and not info.extra.get("fallback_reason"):
        st.warning(
            f"The running model is {_md(info.version)}, not the registry's active version "
            f"{active}: FAKESCOPE_MODEL overrides the registry.",
            icon=":material/warning:",
        )
    height, width = info.input_size
    rows = {
        "name": info.name,
        "version": info.version,
        "source": _shown_source(info),
        "revision": info.revision or "(local files)",
        "weights sha256": info.weights_sha256,  # whole: the table wraps it
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


def _versions_table(state: RegistryState) -> None:
    rows = [
        {
            "version": v.version,
            "active": v.version == state.active,
            "name": v.name,
            "created (UTC)": v.created_at,
            "source": _shown_source(v),
            "accuracy": _number(v.metrics.get("accuracy")),
            "input": v.input_mode,
            "weights sha256": _short_hash(v.weights_sha256),
            # Whole: it is what `mlflow ui` and MlflowClient.get_run look up.
            "MLflow run": v.mlflow_run_id or "",
            "notes": v.notes,
        }
        for v in state.versions
    ]
    rows += [
        {"version": name, "active": name == state.active, "name": "(cannot be read)"}
        for name in state.broken
    ]
    rows.sort(key=lambda row: int(str(row["version"])[1:]))
    table = pd.DataFrame(rows, columns=VERSION_COLUMNS)
    st.dataframe(
        table,
        hide_index=True,
        key="models_versions_table",
        column_config={
            "active": st.column_config.CheckboxColumn("active"),
            "accuracy": st.column_config.NumberColumn("accuracy", format="%.3f"),
        },
    )
    if state.history:
        st.caption("Activation history (oldest first): " + " -> ".join(state.history))


def _short_hash(digest: str | None, keep: int = 12) -> str:
    """The start of a hash, with an ellipsis when cut (a cut hash must not pass for a whole one)."""
    text = digest or ""
    return text if len(text) <= keep else text[:keep] + "…"


def _number(value: Any) -> float | None:
    """A metric for a number column (a hand-edited string there would break the table)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _admin(settings: Settings, state: RegistryState) -> None:
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
    others = [name for name in state.names if name != state.active]
    previous = state.rollback_target
    left, right = st.columns(2, gap="large")
    with left:
        st.selectbox(
            "Version to promote",
            others,
            # The newest candidate first: it is the one just registered to go live.
            index=len(others) - 1 if others else None,
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
        _confirmation(settings, state)
        components.show_flash(PROMOTE_FLASH)
        components.show_flash(PROMOTE_NOTE)
    with right:
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
        components.show_flash(ROLLBACK_FLASH)


def _confirmation(settings: Settings, state: RegistryState) -> None:
    """The pending promotion: what the gate found, and Confirm / Cancel beside the button."""
    pending = st.session_state.get(PENDING_KEY)
    if not pending:
        return
    version, problems = pending["version"], pending["problems"]
    current = f" in place of {state.active}" if state.active else ""
    with st.container(border=True, key="models_confirm_box"):
        if problems:
            st.warning(
                f"Quality gate failed for {version}: "
                + "; ".join(_md(p) for p in problems)
                + ". Promote anyway only with a reason; it is logged.",
                icon=":material/gpp_maybe:",
            )
            st.text_input(
                "Reason to override the gate",
                key="models_force_reason",
                placeholder="e.g. hotfix for a broken v2; metrics to follow",
            )
            label = "Override the gate and promote"
        else:
            st.info(
                f"Quality gate passed for {version}: it has metrics and a model card, and scores "
                f"no lower than the active version. Make {version} the active model{current}?",
                icon=":material/verified:",
            )
            label = f"Yes, promote {version}"
        buttons = st.container(horizontal=True)
        buttons.button(
            label,
            key="models_promote_confirm",
            on_click=_confirm_promote,
            args=(settings,),
            type="primary",
        )
        buttons.button("Cancel", key="models_promote_cancel", on_click=_cancel_promote)


def main() -> None:
    """Render the page."""
    settings = resources.settings()
    st.title("Models")
    components.show_flash(FLASH)
    registry = resources.registry(settings)
    state = registry.scan()
    for problem in state.problems:
        st.error(f"Registry problem: {_md(problem)}", icon=":material/error:")
    for name, reason in state.broken.items():
        st.warning(f"Version {name} cannot be read: {_md(reason)}", icon=":material/warning:")
    if not (state.versions or state.broken or state.problems):
        st.info(
            "The registry has no versions. Register a model with "
            "`fakescope models register MODEL_DIR --activate`, or set FAKESCOPE_REGISTRY_DIR.",
            icon=":material/inventory_2:",
        )
        _running_model(settings, None)
        st.stop()

    active_slot, running_slot, versions_slot, admin_slot = (st.container() for _ in range(4))
    # The controls first (into the last slot): whatever fails above, a broken version can still
    # be rolled back from here.
    with admin_slot:
        _section("Promote / roll back", _admin, settings, state)
    with active_slot:
        _section("The active model", _active_model, registry, state)
    with versions_slot:
        st.subheader("All versions")
        _section("The version list", _versions_table, state)
    # Last: it is the one section that may wait for the model to load.
    with running_slot:
        _section("The running model", _running_model, settings, state.active)


main()
