"""Model registry: numbered versions in a folder, exactly one active, promote and roll back.

Layout::

    models/
      registry.json        {"active": "v2", "history": ["v1", "v2"]}  (replaced atomically)
      v1/
        version.json       metadata: name, source, created_at, files_sha256, metrics, mlflow_run_id,
                           ...
        config.json  model.safetensors  preprocessor_config.json   (absent for hub entries)
        README.md  metrics.json  reference_profile.json            (when the model came with them)

Why it is crash-safe: a version folder is written under a temporary name and renamed into place, and
the active pointer is one small file replaced with ``os.replace`` (atomic on POSIX). A crash at any
point leaves either the old pointer or the new one, never a half-written file. A lock file
serialises writers (several app processes may share one registry); the next writer removes what an
interrupted one left behind (``.registry.json.*`` temp files, ``.staging-*`` folders).

Why it is guarded: every file is read through one checked path (size cap, UTF-8, JSON object,
field types), version names must match ``v<number>`` and resolve inside the registry, and a local
version loads only when ``config.json``, ``preprocessor_config.json`` and ``model.safetensors``
still have the SHA-256 recorded at registration. Errors are one-line :class:`RegistryError` /
:class:`ModelLoadError` messages that name files relative to the registry (``v2/metrics.json``),
never server paths, so the dashboard can show them as they are.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fakescope.config import Settings
from fakescope.errors import ModelLoadError, RegistryError
from fakescope.model import (
    REQUIRED_FILES,
    LoadedModel,
    check_model_folder,
    files_sha256,
    load_model,
    parse_source,
    verify_files,
)

POINTER_FILE = "registry.json"
METADATA_FILE = "version.json"
CARD_FILE = "README.md"
# Files copied from a trained model folder into a version, when present.
OPTIONAL_FILES = (
    CARD_FILE,
    "metrics.json",
    "reference_profile.json",
    "embedding_projection.json",
)
JSON_FILES = ("metrics.json", "reference_profile.json", "embedding_projection.json")
# Monitoring files a version may be given after registration (its drift reference and the
# embedding projection the reference was built with): they change no weight and no verdict.
MONITORING_FILES = ("reference_profile.json", "embedding_projection.json")
# The promotion gate's figures: a candidate may not score below the active version on any of them.
GATE_METRICS = ("accuracy", "roc_auc")
# Every gated promotion, passed or forced, one JSON object a line (who may read it: the admin).
PROMOTION_LOG = "promotions.log"
# The registry's own naming rule; anything else (paths, "..", absolute names) is refused.
VERSION_NAME = re.compile(r"^v[0-9]{1,9}$")
POINTER_EXAMPLE = '{"active": "v1", "history": ["v1"]}'
# Size caps: these files are small; a huge one is damage or an attack, not data to parse.
MAX_POINTER_BYTES = 1 << 20
MAX_METADATA_BYTES = 1 << 20
MAX_CARD_BYTES = 1 << 20
MAX_JSON_BYTES = 32 << 20
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
# An MLflow run id (32 hex digits today; other tracking servers use other ids of this shape).
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MAX_URI_LENGTH = 2048
# Prefixes of what an interrupted write leaves in the registry folder.
LEFTOVER_PREFIXES = (f".{POINTER_FILE}.", ".staging-")


@dataclass(frozen=True)
class VersionInfo:
    """One registry version.

    Attributes:
        version: ``v1``, ``v2``, ...
        name: model name shown to users.
        source: ``local`` (files in the version folder) or a pinned ``hf://owner/name@revision``.
        created_at: UTC ISO-8601 time of registration.
        weights_sha256: SHA-256 of ``model.safetensors`` (None for hub entries).
        metrics: summary metrics (from ``metrics.json`` at registration).
        input_mode: ``resize`` or ``crops`` (None when unknown, e.g. hub entries).
        notes: free text given at registration.
        files_sha256: file name -> SHA-256 of every file the model is loaded from, checked on
            load (empty for versions registered before the manifest: only the weights are
            checked then).
        mlflow_run_id: the MLflow run that trained the model (``training.mlflow_run_id`` of its
            ``metrics.json``), None when the run was not tracked.
        mlflow_tracking_uri: where that run is recorded (``training.mlflow_tracking_uri``,
            without any user name or password), None when unknown.
        path: the version folder.
    """

    version: str
    name: str
    source: str
    created_at: str
    weights_sha256: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    input_mode: str | None = None
    notes: str = ""
    files_sha256: dict[str, str] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    mlflow_tracking_uri: str | None = None
    path: Path | None = None

    @property
    def is_hub(self) -> bool:
        """True when the version points to a hub model instead of holding files."""
        return self.source != "local"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``path`` as a string)."""
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


@dataclass(frozen=True)
class RegistryState:
    """Everything readable in a registry, plus one line per problem (never raises to build).

    Attributes:
        versions: readable versions, oldest first.
        broken: version name -> why its metadata cannot be read.
        active: the active version's name when ``registry.json`` names a valid one (it may be
            missing or broken: see ``problems``), else None.
        history: the valid entries of the activation history, oldest first.
        problems: what is wrong with ``registry.json`` or the registry folder.
    """

    versions: list[VersionInfo]
    broken: dict[str, str]
    active: str | None
    history: list[str]
    problems: list[str]

    @property
    def names(self) -> list[str]:
        """Names of the readable versions."""
        return [v.version for v in self.versions]

    @property
    def rollback_target(self) -> str | None:
        """The version a rollback would re-activate, or None."""
        plan = _rollback_plan(self.history, self.active, set(self.names))
        return plan[-1] if plan else None


@dataclass(frozen=True)
class _Pointer:
    """``registry.json`` as read: valid values, plus what was wrong with each part."""

    active: str | None = None
    history: tuple[str, ...] = ()
    file_problem: str | None = None
    active_problem: str | None = None
    history_problem: str | None = None
    is_folder: bool = False

    @property
    def problems(self) -> list[str]:
        found = (self.file_problem, self.active_problem, self.history_problem)
        return [p for p in found if p]


def is_version_name(name: str) -> bool:
    """Whether ``name`` follows the registry's naming rule (``v1``, ``v2``, ...; ``3`` means v3)."""
    return bool(VERSION_NAME.match(_normalise(name)))


class Registry:
    """A model registry in one folder (see the module docstring for the layout)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ----------------------------------------------------------------------------

    def versions(self) -> list[VersionInfo]:
        """The readable versions, oldest first.

        A version whose metadata cannot be read is left out (one damaged folder must not stop
        drift reports or traffic runs about the others); :meth:`scan` says which and why, and
        :meth:`get` raises the reason.
        """
        return self.scan().versions

    def scan(self) -> RegistryState:
        """What can be read, and one line for each thing that cannot; never raises.

        The Models page and ``fakescope models list`` use this, so one broken version or a
        damaged ``registry.json`` never hides the rest (nor the controls that repair them).
        """
        problems: list[str] = []
        try:
            names = self._version_names()
        except RegistryError as exc:
            names, problems = [], [str(exc)]
        versions: list[VersionInfo] = []
        broken: dict[str, str] = {}
        for name in names:
            try:
                versions.append(self._read_version(self.root / name))
            except RegistryError as exc:
                broken[name] = str(exc)
        pointer = self._read_pointer()
        problems += pointer.problems
        readable = {v.version for v in versions}
        if pointer.active is not None and pointer.active not in readable:
            why = "cannot be read" if pointer.active in broken else "does not exist"
            problems.append(f"{POINTER_FILE}: the active version {pointer.active} {why}")
        gone = sorted({h for h in pointer.history if h not in readable and h not in broken})
        if gone:
            problems.append(
                f"{POINTER_FILE}: the history names versions that do not exist: {', '.join(gone)}"
            )
        return RegistryState(
            versions=versions,
            broken=broken,
            active=pointer.active,
            history=list(pointer.history),
            problems=problems,
        )

    def get(self, version: str) -> VersionInfo:
        """One version by name (``v3`` or ``3``).

        Raises:
            RegistryError: not a version name, no such version (the message lists the known
                ones), or its metadata cannot be read.
        """
        name = self._checked_name(version)
        folder = self.root / name
        if not folder.is_dir():
            try:
                known = ", ".join(self._version_names()) or "none"
            except RegistryError:
                known = "none"
            raise RegistryError(f"no version {version!r} in the registry (known: {known})")
        return self._read_version(folder)

    def active_version(self) -> str | None:
        """The active version's name, or None in an empty registry.

        Raises:
            RegistryError: ``registry.json`` cannot be read or its ``active`` is not a version
                name (a bad ``history`` does not matter here: serving goes on).
        """
        pointer = self._read_pointer()
        problem = pointer.file_problem or pointer.active_problem
        if problem:
            raise RegistryError(problem)
        return pointer.active

    def active(self) -> VersionInfo:
        """The active version.

        Raises:
            RegistryError: the registry has no active version, or it cannot be read.
        """
        version = self.active_version()
        if version is None:
            raise RegistryError(
                "the registry has no active version: register a model "
                "(fakescope models register DIR --activate) or set FAKESCOPE_MODEL"
            )
        return self.get(version)

    def history(self) -> list[str]:
        """Versions that were active, oldest first; the last is the active one.

        Raises:
            RegistryError: ``registry.json`` or its ``history`` cannot be read.
        """
        pointer = self._read_pointer()
        problem = pointer.file_problem or pointer.history_problem
        if problem:
            raise RegistryError(problem)
        return list(pointer.history)

    def read_json(self, version: str, filename: str) -> dict[str, Any] | None:
        """A JSON file stored with a version (``metrics.json``, ``reference_profile.json``).

        Returns:
            The JSON object, or None when the version has no such file.

        Raises:
            RegistryError: unknown file name or version, or the file is not a JSON object in UTF-8.
        """
        if filename not in JSON_FILES:
            raise RegistryError(f"{filename!r} is not a version file; expected one of {JSON_FILES}")
        info = self.get(version)
        path = info.path / filename  # type: ignore[operator]
        if not path.exists():
            return None
        return _read_json_object(path, f"{info.version}/{filename}", MAX_JSON_BYTES)

    def write_monitoring_files(self, version: str, files: dict[str, dict[str, Any]]) -> None:
        """Replace a version's drift reference and embedding projection (both or one).

        Each file is written atomically under the registry lock; the weights, the metrics and the
        version's metadata are never touched.

        Raises:
            RegistryError: unknown version, a file that is not a monitoring file, a hub entry,
                or the folder cannot be written.
        """
        unknown = sorted(set(files) - set(MONITORING_FILES))
        if unknown:
            raise RegistryError(
                f"only {', '.join(MONITORING_FILES)} can be replaced in a version, not "
                f"{', '.join(unknown)}"
            )
        with self._locked():
            info = self.get(version)
            if info.path is None or info.is_hub:
                raise RegistryError(f"{info.version} is a hub entry: it has no folder to write to")
            for filename, data in files.items():
                try:
                    _write_json(info.path / filename, data)
                except OSError as exc:
                    raise _write_error(f"{info.version}/{filename}", exc) from None

    def model_card(self, version: str) -> str | None:
        """The version's model card (``README.md``) text, if it has one.

        Raises:
            RegistryError: unknown version, or the card is not UTF-8 text.
        """
        info = self.get(version)
        path = info.path / CARD_FILE  # type: ignore[operator]
        if not path.exists():
            return None
        return _read_text(path, f"{info.version}/{CARD_FILE}", MAX_CARD_BYTES)

    # -- loading ----------------------------------------------------------------------------

    def verify(self, version: str) -> None:
        """Check a local version's model files against the hashes recorded at registration.

        Raises:
            RegistryError: unknown version.
            ModelLoadError: a file is missing or changed (the message names it).
        """
        info = self.get(version)
        if not info.is_hub:
            _verify_local(info)

    def load(
        self, version: str, settings: Settings | None = None, *, lazy: bool = False
    ) -> LoadedModel:
        """Load one version's model, checking every model file's hash against the registry.

        ``lazy`` builds the torch module on first use (:func:`fakescope.model.load_model`).

        Raises:
            RegistryError: unknown version or unreadable metadata.
            ModelLoadError: the files are missing, changed since registration, or do not load.
        """
        settings = settings or Settings.from_env()
        info = self.get(version)
        expected: dict[str, str] | None = None
        if info.is_hub:
            source: str | Path = info.source
            # A hub version may carry a manifest of the pinned revision's files: check the download.
            expected = info.files_sha256 or None
        else:
            source = info.path  # type: ignore[assignment]
            _verify_local(info)
        try:
            card = self.model_card(info.version) or ""
        except RegistryError:
            card = ""  # a damaged card only loses the limits text; the Models page shows why
        return load_model(
            source,
            label_map=settings.label_map,
            name=info.name,
            version=info.version,
            limits=_limits_from_card(card),
            expected_sha256=expected,
            lazy=lazy,
        )

    def load_active(self, settings: Settings | None = None, *, lazy: bool = False) -> LoadedModel:
        """Load the active version's model."""
        return self.load(self.active().version, settings, lazy=lazy)

    # -- writing ----------------------------------------------------------------------------

    def register(
        self,
        model_dir: str | Path,
        *,
        name: str | None = None,
        notes: str = "",
        activate: bool = False,
    ) -> VersionInfo:
        """Copy a trained model folder into a new version.

        Args:
            model_dir: folder with the Hugging Face files (and optionally README.md, metrics.json,
                reference_profile.json).
            name: model name (default: the folder's config ``fakescope.name`` or its folder name).
            notes: free text kept with the version.
            activate: make it the active version too.

        The MLflow run that trained the model (``training.mlflow_run_id`` and
        ``training.mlflow_tracking_uri`` in its metrics.json) is recorded with the version.

        Raises:
            ModelLoadError: the folder is not a loadable model (checked before anything is written).
            RegistryError: its metrics.json is not a JSON object or has a malformed MLflow run id,
                or the registry cannot be written.
        """
        model_dir = Path(model_dir)
        check_model_folder(model_dir)
        loaded = load_model(model_dir)  # proves it loads before it enters the registry
        metrics = {}
        if (model_dir / "metrics.json").exists():
            metrics = _read_json_object(model_dir / "metrics.json", "metrics.json", MAX_JSON_BYTES)
        run_id, tracking_uri = _training_run(metrics)

        def write(staging: Path, version: str) -> VersionInfo:
            for filename in (*REQUIRED_FILES, *OPTIONAL_FILES):
                if (model_dir / filename).is_file():
                    shutil.copy2(model_dir / filename, staging / filename)
            manifest = files_sha256(staging)  # of the copies: what will be loaded
            return VersionInfo(
                version=version,
                name=name or loaded.info.name,
                source="local",
                created_at=_now(),
                weights_sha256=manifest["model.safetensors"],
                metrics=_summary(metrics),
                input_mode=loaded.info.input_mode,
                notes=notes,
                files_sha256=manifest,
                mlflow_run_id=run_id,
                mlflow_tracking_uri=tracking_uri,
            )

        return self._add_version(write, activate)

    def register_hub(
        self,
        source: str,
        *,
        name: str | None = None,
        notes: str = "",
        activate: bool = False,
        reference_profile: str | Path | None = None,
        files_sha256: dict[str, str] | None = None,
    ) -> VersionInfo:
        """Add a version that points to a hub model pinned to a revision (nothing is downloaded).

        Args:
            files_sha256: optional manifest (file name -> SHA-256) of the revision's model files;
                when given, every download is checked against it before it loads.

        Raises:
            ModelLoadError: the source is not ``hf://owner/name@revision``.
            RegistryError: a bad manifest, or the registry cannot be written.
        """
        parsed = parse_source(source)
        if parsed.kind != "hub":
            raise RegistryError(f"{source!r} is not a hub source; use register() for a folder")
        manifest = _checked_manifest(files_sha256 or {}, "files_sha256")

        def write(staging: Path, version: str) -> VersionInfo:
            if reference_profile:
                shutil.copy2(reference_profile, staging / "reference_profile.json")
            return VersionInfo(
                version=version,
                name=name or str(parsed.repo_id),
                source=str(parsed),
                created_at=_now(),
                notes=notes,
                files_sha256=manifest,
            )

        return self._add_version(write, activate)

    def promote(self, version: str) -> VersionInfo:
        """Make ``version`` the active one (atomic).

        A damaged ``registry.json`` is rewritten here (its readable history kept), so promoting
        is always the way out of a broken pointer.

        Raises:
            RegistryError: unknown or unreadable version, or the pointer cannot be written.
        """
        info = self.get(version)
        with self._locked():
            self._set_active(info.version)
        return info

    def promote_checked(self, version: str, force_reason: str | None = None) -> VersionInfo:
        """Promote ``version`` if it passes :func:`promotion_gate`, or when forced with a reason.

        Each promotion made here (and each refusal's forced override) is appended to
        ``promotions.log`` with the gate's findings, so a forced promotion can be traced.

        Raises:
            PromotionRefused: the gate found problems and no reason was given to force it.
            RegistryError: unknown or unreadable version, or a file cannot be written.
        """
        gate = promotion_gate(self, version)
        reason = (force_reason or "").strip()
        if not gate.passed and not reason:
            raise PromotionRefused(gate)
        info = self.promote(version)
        entry = {
            "time": _now(),
            "version": info.version,
            "previous": gate.active,
            "gate": "passed" if gate.passed else "forced",
            "problems": list(gate.problems),
            "force_reason": reason or None,
        }
        try:
            with open(self.root / PROMOTION_LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
        except OSError as exc:
            raise _write_error(PROMOTION_LOG, exc) from None
        return info

    def promotion_log(self) -> list[dict[str, Any]]:
        """The entries of ``promotions.log``, oldest first (unreadable lines are skipped)."""
        try:
            text = (self.root / PROMOTION_LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        entries = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def rollback(self) -> VersionInfo:
        """Make the previously active version active again (atomic).

        History entries that are not readable versions are skipped (and dropped from the
        rewritten pointer).

        Raises:
            RegistryError: there is no earlier active version, or the pointer cannot be written.
        """
        with self._locked():
            pointer = self._read_pointer()
            plan = _rollback_plan(list(pointer.history), pointer.active, self._readable(pointer))
            if not plan:
                shown = list(pointer.history) or "empty"
                why = f" ({pointer.problems[0]})" if pointer.problems else ""
                raise RegistryError(
                    f"nothing to roll back to: the history is {shown}{why}; "
                    "promote a version instead"
                )
            self._write_pointer({"active": plan[-1], "history": plan})
        return self.get(plan[-1])

    # -- internals --------------------------------------------------------------------------

    def _add_version(
        self, write: Callable[[Path, str], VersionInfo], activate: bool
    ) -> VersionInfo:
        """Fill a staging folder with ``write(staging, version)``, then rename it into place.

        Under the lock, so two writers never take the same number; a failure removes the staging
        folder and leaves the registry as it was.
        """
        with self._locked():
            version = self._next_version()
            try:
                staging = _make_staging(self.root)
            except OSError as exc:
                raise _write_error("a new version", exc) from None
            try:
                info = write(staging, version)
                _write_json(staging / METADATA_FILE, _metadata(info))
                os.rename(staging, self.root / version)
            except BaseException as exc:
                shutil.rmtree(staging, ignore_errors=True)
                if isinstance(exc, OSError):
                    raise _write_error(f"version {version}", exc) from None
                raise
            if activate:
                self._set_active(version)
        return self.get(version)

    def _set_active(self, version: str) -> None:
        history = self._writable_history(self._read_pointer())
        if not history or history[-1] != version:
            history.append(version)
        self._write_pointer({"active": version, "history": history})

    def _writable_history(self, pointer: _Pointer) -> list[str]:
        """The history a write keeps: readable versions only, the active one last."""
        return _clean_history(list(pointer.history), pointer.active, self._readable(pointer))

    def _readable(self, pointer: _Pointer) -> set[str]:
        """Names of the versions whose metadata reads (the ones that may become active).

        Raises:
            RegistryError: ``registry.json`` is a folder, so no pointer can be written.
        """
        if pointer.is_folder:
            raise RegistryError(pointer.file_problem or f"{POINTER_FILE} is a folder")
        readable = set()
        for name in self._version_names():
            try:
                readable.add(self._read_version(self.root / name).version)
            except RegistryError:
                pass  # a broken version cannot be activated, so it leaves the history
        return readable

    def _read_pointer(self) -> _Pointer:
        """``registry.json``, checked part by part (see :class:`_Pointer`)."""
        path = self.root / POINTER_FILE
        if path.is_dir():
            return _Pointer(
                file_problem=f"{POINTER_FILE} is a folder; expected a JSON file like "
                f"{POINTER_EXAMPLE} (remove the folder, then promote a version)",
                is_folder=True,
            )
        if not path.exists():
            return _Pointer()
        try:
            data = _read_json_object(path, POINTER_FILE, MAX_POINTER_BYTES, POINTER_EXAMPLE)
        except RegistryError as exc:
            return _Pointer(file_problem=f"{exc} (promote a version to rewrite it)")
        active, active_problem = data.get("active"), None
        if active is not None and not (isinstance(active, str) and VERSION_NAME.match(active)):
            active_problem = (
                f"{POINTER_FILE}: 'active' must be a version name such as \"v1\" or null, "
                f"got {_shown(active)}"
            )
            active = None
        raw_history = data.get("history", [])
        history: list[str] = []
        history_problem = None
        if not isinstance(raw_history, list):
            history_problem = (
                f"{POINTER_FILE}: 'history' must be a list of version names, got "
                f"{_shown(raw_history)}"
            )
        else:
            history = [h for h in raw_history if isinstance(h, str) and VERSION_NAME.match(h)]
            bad = [h for h in raw_history if not (isinstance(h, str) and VERSION_NAME.match(h))]
            if bad:
                history_problem = (
                    f"{POINTER_FILE}: 'history' entries must be version names such as \"v1\"; "
                    f"ignored {', '.join(_shown(h) for h in bad[:3])}"
                    + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
                )
        return _Pointer(
            active=active,
            history=tuple(history),
            active_problem=active_problem,
            history_problem=history_problem,
        )

    def _write_pointer(self, data: dict[str, Any]) -> None:
        try:
            _write_json(self.root / POINTER_FILE, data)
        except OSError as exc:
            raise _write_error(POINTER_FILE, exc) from None

    def _version_names(self) -> list[str]:
        """Names of the version folders (readable or not), oldest first.

        Raises:
            RegistryError: the registry folder cannot be listed.
        """
        if not self.root.exists():
            return []
        if not self.root.is_dir():
            raise RegistryError("the registry path is not a folder; expected a folder of versions")
        try:
            entries = [e for e in self.root.iterdir() if VERSION_NAME.match(e.name) and e.is_dir()]
        except OSError as exc:
            raise RegistryError(f"the registry folder cannot be listed: {_reason(exc)}") from None
        return sorted((e.name for e in entries), key=lambda n: _version_number(n) or 0)

    def _next_version(self) -> str:
        # Folder names, not readable metadata: a broken version still holds its number.
        numbers = [_version_number(name) or 0 for name in self._version_names()]
        return f"v{max(numbers, default=0) + 1}"

    def _checked_name(self, version: str) -> str:
        """``version`` normalised, refused unless it names a folder inside the registry."""
        name = _normalise(version)
        if not VERSION_NAME.match(name):
            raise RegistryError(
                f"{_shown(str(version))} is not a version name; expected v1, v2, ... "
                "(a version is a folder inside the registry, never a path)"
            )
        folder = self.root / name
        # A symlinked version folder could point anywhere: it must resolve inside the root.
        if folder.is_symlink() or folder.resolve().parent != self.root.resolve():
            raise RegistryError(f"version {name} resolves outside the registry; refused")
        return name

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise _write_error("the registry", exc) from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                _clean_leftovers(self.root)
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_version(self, folder: Path) -> VersionInfo:
        name = self._checked_name(folder.name)
        label = f"{name}/{METADATA_FILE}"
        if not (folder / METADATA_FILE).exists():
            raise RegistryError(f"{label} is missing; every version folder needs one")
        data = _read_json_object(folder / METADATA_FILE, label, MAX_METADATA_BYTES)
        return _version_from_metadata(data, name, label, folder)


def _version_from_metadata(
    data: dict[str, Any], name: str, label: str, folder: Path
) -> VersionInfo:
    """A VersionInfo from ``version.json``'s object, every field's type checked."""

    def text(key: str, default: str | None = None, *, optional: bool = False) -> Any:
        value = data.get(key, default)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            raise RegistryError(f"{label}: {key!r} must be a string, got {_shown(value)}")
        return value

    recorded = data.get("version", name)
    if recorded != name:
        raise RegistryError(f"{label}: 'version' is {_shown(recorded)}, expected {name!r}")
    source = text("source")
    if source != "local":
        try:
            parsed = parse_source(source)
        except ModelLoadError as exc:
            raise RegistryError(f"{label}: bad 'source': {exc}") from None
        if parsed.kind != "hub":
            raise RegistryError(
                f"{label}: 'source' must be \"local\" or hf://owner/name@revision, got "
                f"{_shown(source)} (a version never loads from a path outside the registry)"
            )
    weights = text("weights_sha256", optional=True)
    if weights is not None and not _HEX64.match(weights):
        raise RegistryError(f"{label}: 'weights_sha256' must be 64 hex digits")
    manifest = data.get("files_sha256")
    manifest = _checked_manifest({} if manifest is None else manifest, f"{label}: 'files_sha256'")
    if weights and manifest.get("model.safetensors", weights) != weights:
        raise RegistryError(
            f"{label}: 'weights_sha256' and 'files_sha256' disagree about model.safetensors"
        )
    metrics = data.get("metrics")
    metrics = {} if metrics is None else metrics
    if not isinstance(metrics, dict):
        raise RegistryError(f"{label}: 'metrics' must be a JSON object, got {_shown(metrics)}")
    run_id = _checked_run_id(text("mlflow_run_id", optional=True), f"{label}: 'mlflow_run_id'")
    tracking_uri = text("mlflow_tracking_uri", optional=True)
    if tracking_uri is not None and len(tracking_uri) > MAX_URI_LENGTH:
        raise RegistryError(f"{label}: 'mlflow_tracking_uri' is longer than {MAX_URI_LENGTH}")
    return VersionInfo(
        version=name,
        name=text("name", name),
        source=source,
        created_at=text("created_at", ""),
        weights_sha256=weights,
        metrics=metrics,
        input_mode=text("input_mode", optional=True),
        notes=text("notes", ""),
        files_sha256=manifest,
        mlflow_run_id=run_id,
        mlflow_tracking_uri=tracking_uri,
        path=folder,
    )


def _checked_run_id(run_id: str | None, label: str) -> str | None:
    """None, or an id made of letters, digits, ``_`` and ``-`` (at most 128)."""
    if run_id is not None and not _RUN_ID.fullmatch(run_id):
        raise RegistryError(
            f"{label} must be an MLflow run id (letters, digits, _ and -, e.g. 32 hex digits), "
            f"got {_shown(run_id)}"
        )
    return run_id


def _training_run(metrics: dict[str, Any]) -> tuple[str | None, str | None]:
    """The MLflow run id and tracking URI a trained folder's metrics.json records, if any.

    The URI keeps no user name or password (a tracking server's URL may carry them).

    Raises:
        RegistryError: either value is there but is not a string of the allowed shape.
    """
    training = metrics.get("training")
    if not isinstance(training, dict):
        return None, None
    run_id, uri = training.get("mlflow_run_id"), training.get("mlflow_tracking_uri")
    label = "metrics.json: training.mlflow_run_id"
    if run_id is not None and not isinstance(run_id, str):
        raise RegistryError(f"{label} must be a string or null, got {_shown(run_id)}")
    run_id = _checked_run_id(run_id, label)
    if uri is not None and (not isinstance(uri, str) or len(uri) > MAX_URI_LENGTH):
        raise RegistryError(
            f"metrics.json: training.mlflow_tracking_uri must be a string of at most "
            f"{MAX_URI_LENGTH} characters or null, got {_shown(uri)}"
        )
    return run_id, (_without_credentials(uri) if run_id is not None and uri else None)


def _without_credentials(uri: str) -> str:
    """A URI without the ``user:password@`` part of its authority."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _checked_manifest(manifest: Any, label: str) -> dict[str, str]:
    """A file manifest: model file names only (never paths) -> 64 lowercase hex digits."""
    if not isinstance(manifest, dict):
        raise RegistryError(f"{label} must be a JSON object of file name -> sha256")
    for key, digest in manifest.items():
        if key not in REQUIRED_FILES:
            raise RegistryError(f"{label}: {_shown(key)} is not one of {', '.join(REQUIRED_FILES)}")
        if not isinstance(digest, str) or not _HEX64.match(digest):
            raise RegistryError(f"{label}: the sha256 of {key} must be 64 hex digits")
    return dict(manifest)


def _verify_local(info: VersionInfo) -> None:
    """Every model file present, each with its recorded hash (weights only for old versions)."""
    label = f"registry version {info.version}"
    folder = info.path
    if folder is None:  # only a VersionInfo built by hand lacks one; never one read from disk
        raise ModelLoadError(f"{label} has no folder to check")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{label} is missing {', '.join(missing)} (a version needs "
            f"{', '.join(REQUIRED_FILES)}); restore the files or roll back"
        )
    manifest = info.files_sha256
    if manifest:
        unrecorded = [name for name in REQUIRED_FILES if name not in manifest]
        if unrecorded:
            raise ModelLoadError(
                f"{label}: version.json records no sha256 for {', '.join(unrecorded)}; "
                "register the model again"
            )
    elif info.weights_sha256:
        # Registered before the full manifest: only the weights were recorded.
        manifest = {"model.safetensors": info.weights_sha256}
    else:
        raise ModelLoadError(
            f"{label}: version.json records no file hashes, so its files cannot be checked; "
            "register the model again"
        )
    verify_files(folder, manifest, label=label)


def _rollback_plan(history: list[str], active: str | None, readable: set[str]) -> list[str]:
    """The history after a rollback (its last entry is the new active version), or [].

    The current version is the active one (else the history's last entry), readable or not:
    rolling back *from* a broken version is the point. The target is the latest earlier
    readable entry that is not the current version.
    """
    entries = list(history)
    if active is not None and (not entries or entries[-1] != active):
        entries.append(active)
    if not entries:
        return []
    current = entries[-1]
    earlier = _clean_history(entries[:-1], None, readable)
    while earlier and earlier[-1] == current:
        earlier.pop()
    return earlier


def _clean_history(history: list[str], active: str | None, readable: set[str]) -> list[str]:
    """Readable versions only, no immediate repeats, the active version last."""
    cleaned: list[str] = []
    for name in history:
        if name in readable and (not cleaned or cleaned[-1] != name):
            cleaned.append(name)
    if active in readable and (not cleaned or cleaned[-1] != active):
        cleaned.append(active)  # type: ignore[arg-type]
    return cleaned


def _read_bytes(path: Path, label: str, max_bytes: int) -> bytes:
    """A small file's bytes, or RegistryError saying why not (folder, too big, unreadable)."""
    if path.is_dir():
        raise RegistryError(f"{label} is a folder; expected a file")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise RegistryError(f"{label} cannot be read: {_reason(exc)}") from None
    if len(data) > max_bytes:
        raise RegistryError(f"{label} is larger than {max_bytes >> 20} MiB; expected a small file")
    return data


def _read_text(path: Path, label: str, max_bytes: int) -> str:
    try:
        return _read_bytes(path, label, max_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(
            f"{label} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def _read_json_object(
    path: Path, label: str, max_bytes: int, example: str = "{...}"
) -> dict[str, Any]:
    """A UTF-8 JSON file holding an object; RegistryError naming ``label`` otherwise."""
    text = _read_text(path, label, max_bytes)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{label} is not valid JSON (line {exc.lineno}: {exc.msg}); expected an object like "
            f"{example}"
        ) from None
    except RecursionError:
        raise RegistryError(f"{label} is nested too deeply to be read as JSON") from None
    if not isinstance(data, dict):
        raise RegistryError(
            f"{label} must hold a JSON object like {example}, got {type(data).__name__}"
        )
    return data


def _clean_leftovers(root: Path) -> None:
    """Remove what interrupted writes left behind; call only while holding the registry lock.

    Every writer creates its temp file or staging folder while holding the lock, so anything
    found while this process holds it belongs to a writer that died: none is still in use.
    """
    try:
        entries = [e for e in root.iterdir() if e.name.startswith(LEFTOVER_PREFIXES)]
    except OSError:
        return  # cleaning is best effort; the write itself reports a real problem
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass  # best effort, as above


def _write_error(what: str, exc: OSError) -> RegistryError:
    return RegistryError(f"cannot write {what} in the registry: {_reason(exc)}")


def _reason(exc: OSError) -> str:
    """An OSError's reason without the path it carries (messages never show server paths)."""
    return exc.strerror or str(exc) or type(exc).__name__


def _shown(value: Any, limit: int = 40) -> str:
    """A value for a one-line message: repr, control characters escaped, shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class GateResult:
    """What the promotion gate found for one candidate version.

    Attributes:
        version: the candidate.
        active: the version active when the gate ran, if any.
        problems: one sentence per reason not to promote (empty: the gate passed).
    """

    version: str
    active: str | None
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems


class PromotionRefused(RegistryError):
    """The promotion gate found problems and the promotion was not forced."""

    def __init__(self, gate: GateResult) -> None:
        self.gate = gate
        super().__init__(
            f"{gate.version} was not promoted: " + "; ".join(gate.problems) + ". Fix that, or "
            "force the promotion with a stated reason (it is logged)."
        )


def promotion_gate(registry: Registry, version: str) -> GateResult:
    """Check a candidate before it goes live: it has ``metrics.json`` and ``README.md``, and it
    does not fall below the active version on :data:`GATE_METRICS`.

    A version promoted with no metrics or no card would be served with no evidence of quality
    and no stated limits; a lower score is a regression unless someone says why.

    Raises:
        RegistryError: the candidate is unknown or cannot be read.
    """
    info = registry.get(version)
    problems: list[str] = []
    metrics = registry.read_json(info.version, "metrics.json")
    if not metrics:
        problems.append(f"{info.version} has no metrics.json")
    if not registry.model_card(info.version):
        problems.append(f"{info.version} has no model card ({CARD_FILE})")
    active = registry.scan().active
    if metrics and active and active != info.version:
        try:
            current = registry.read_json(active, "metrics.json") or {}
        except RegistryError:
            current = {}
        for key in GATE_METRICS:
            new, old = metrics.get(key), current.get(key)
            if _is_number(new) and _is_number(old) and new < old:
                problems.append(f"{key} {new:.3f} is below the active {active}'s {old:.3f}")
    return GateResult(version=info.version, active=active, problems=tuple(problems))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_configured_model(
    settings: Settings, source: str | Path | None = None, *, lazy: bool = False
) -> LoadedModel:
    """Load the model the settings ask for (``lazy``: its torch module on first use).

    ``source`` wins; else ``settings.model_source``; else the registry's active version. When no
    explicit ``source`` is given and that load fails, ``settings.fallback_model_source`` is tried
    (``registry`` means the active version); the fallback's ``info.extra`` then holds
    ``fallback_reason`` so the UI can say which model is live and why.

    Raises:
        ModelLoadError, RegistryError: the model (and its fallback, if any) cannot be loaded.
    """

    def load(chosen: str | Path | None) -> LoadedModel:
        if chosen is None or str(chosen) == "registry":
            return Registry(settings.registry_dir).load_active(settings, lazy=lazy)
        return load_model(chosen, label_map=settings.label_map, lazy=lazy)

    if source is not None:
        return load(source)
    try:
        return load(settings.model_source)
    except (ModelLoadError, RegistryError) as exc:
        if not settings.fallback_model_source:
            raise
        loaded = load(settings.fallback_model_source)
        loaded.info = replace(loaded.info, extra={**loaded.info.extra, "fallback_reason": str(exc)})
        return loaded


def _make_staging(root: Path) -> Path:
    """A temporary version folder beside the real ones (same filesystem, so rename is atomic)."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    # mkdtemp makes it private (0700); a registry is read by other users (the app's uid 1000).
    staging.chmod(0o755)
    return staging


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: temp file in the same folder, fsync, then os.replace."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide it from other readers
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _metadata(info: VersionInfo) -> dict[str, Any]:
    data = info.to_dict()
    data.pop("path")
    return data


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """Top-level numbers of metrics.json (the registry listing shows these)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}


def _limits_from_card(card: str) -> str:
    """The paragraph under a '## Limits' heading of a model card, as plain text."""
    lines = card.splitlines()
    for i, line in enumerate(lines):
        if line.strip().lower().startswith("## limit"):
            body = []
            for following in lines[i + 1 :]:
                if following.startswith("## "):
                    break
                body.append(following.strip())
            return " ".join(part for part in body if part).strip()
    return ""


def _version_number(name: str) -> int | None:
    if name.startswith("v") and name[1:].isdigit():
        return int(name[1:])
    return None


def _normalise(version: str) -> str:
    version = str(version).strip()
    return f"v{version}" if version.isdigit() else version


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
