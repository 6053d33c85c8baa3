"""Model registry: numbered versions in a folder, exactly one active, promote and roll back.

Layout::

    models/
      registry.json        {"active": "v2", "history": ["v1", "v2"]}  (replaced atomically)
      v1/
        version.json       metadata: name, source, created_at, weights_sha256, metrics, ...
        config.json  model.safetensors  preprocessor_config.json   (absent for hub entries)
        README.md  metrics.json  reference_profile.json            (when the model came with them)

Why it is crash-safe: a version folder is written under a temporary name and renamed into place, and
the active pointer is one small file replaced with ``os.replace`` (atomic on POSIX). A crash at any
point leaves either the old pointer or the new one, never a half-written file. A lock file
serialises writers (several app processes may share one registry).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fakescope.config import Settings
from fakescope.errors import ModelLoadError, RegistryError
from fakescope.model import (
    REQUIRED_FILES,
    LoadedModel,
    check_model_folder,
    load_model,
    parse_source,
    sha256_file,
)

POINTER_FILE = "registry.json"
METADATA_FILE = "version.json"
# Files copied from a trained model folder into a version, when present.
OPTIONAL_FILES = ("README.md", "metrics.json", "reference_profile.json")


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


class Registry:
    """A model registry in one folder (see the module docstring for the layout)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ----------------------------------------------------------------------------

    def versions(self) -> list[VersionInfo]:
        """All versions, oldest first."""
        if not self.root.is_dir():
            return []
        found = []
        for entry in self.root.iterdir():
            if entry.is_dir() and _version_number(entry.name) is not None:
                if (entry / METADATA_FILE).is_file():
                    found.append(self._read_version(entry))
        return sorted(found, key=lambda v: _version_number(v.version) or 0)

    def get(self, version: str) -> VersionInfo:
        """One version by name (``v3`` or ``3``).

        Raises:
            RegistryError: no such version (the message lists the known ones).
        """
        name = _normalise(version)
        folder = self.root / name
        if not (folder / METADATA_FILE).is_file():
            known = ", ".join(v.version for v in self.versions()) or "none"
            raise RegistryError(f"no version {version!r} in registry {self.root} (known: {known})")
        return self._read_version(folder)

    def active_version(self) -> str | None:
        """The active version's name, or None in an empty registry."""
        return self._read_pointer().get("active")

    def active(self) -> VersionInfo:
        """The active version.

        Raises:
            RegistryError: the registry has no active version.
        """
        version = self.active_version()
        if version is None:
            raise RegistryError(
                f"registry {self.root} has no active version: register a model "
                "(fakescope models register DIR --activate) or set FAKESCOPE_MODEL"
            )
        return self.get(version)

    def history(self) -> list[str]:
        """Versions that were active, oldest first; the last is the active one."""
        return list(self._read_pointer().get("history", []))

    def read_json(self, version: str, filename: str) -> dict[str, Any] | None:
        """A JSON file stored with a version (``metrics.json``, ``reference_profile.json``)."""
        path = self.get(version).path / filename  # type: ignore[operator]
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def model_card(self, version: str) -> str | None:
        """The version's model card (``README.md``) text, if it has one."""
        path = self.get(version).path / "README.md"  # type: ignore[operator]
        return path.read_text(encoding="utf-8") if path.is_file() else None

    # -- loading ----------------------------------------------------------------------------

    def load(self, version: str, settings: Settings | None = None) -> LoadedModel:
        """Load one version's model, checking the weights' hash against the registry.

        Raises:
            RegistryError: unknown version.
            ModelLoadError: the files are missing, changed since registration, or do not load.
        """
        settings = settings or Settings.from_env()
        info = self.get(version)
        if info.is_hub:
            source: str | Path = info.source
        else:
            source = info.path  # type: ignore[assignment]
            weights = info.path / "model.safetensors"  # type: ignore[operator]
            if weights.is_file() and info.weights_sha256:
                actual = sha256_file(weights)
                if actual != info.weights_sha256:
                    raise ModelLoadError(
                        f"registry version {info.version}: {weights} changed since registration "
                        f"(sha256 {actual[:12]}..., registered {info.weights_sha256[:12]}...)"
                    )
        limits = _limits_from_card(self.model_card(info.version) or "")
        return load_model(
            source,
            label_map=settings.label_map,
            name=info.name,
            version=info.version,
            limits=limits,
        )

    def load_active(self, settings: Settings | None = None) -> LoadedModel:
        """Load the active version's model."""
        return self.load(self.active().version, settings)

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

        Raises:
            ModelLoadError: the folder is not a loadable model (checked before anything is written).
        """
        model_dir = Path(model_dir)
        check_model_folder(model_dir)
        loaded = load_model(model_dir)  # proves it loads before it enters the registry
        metrics = _read_optional_json(model_dir / "metrics.json")

        def write(staging: Path, version: str) -> VersionInfo:
            for filename in (*REQUIRED_FILES, *OPTIONAL_FILES):
                if (model_dir / filename).is_file():
                    shutil.copy2(model_dir / filename, staging / filename)
            return VersionInfo(
                version=version,
                name=name or loaded.info.name,
                source="local",
                created_at=_now(),
                weights_sha256=sha256_file(staging / "model.safetensors"),
                metrics=_summary(metrics),
                input_mode=loaded.info.input_mode,
                notes=notes,
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
    ) -> VersionInfo:
        """Add a version that points to a hub model pinned to a revision (nothing is downloaded).

        Raises:
            ModelLoadError: the source is not ``hf://owner/name@revision``.
        """
        parsed = parse_source(source)
        if parsed.kind != "hub":
            raise RegistryError(f"{source!r} is not a hub source; use register() for a folder")

        def write(staging: Path, version: str) -> VersionInfo:
            if reference_profile:
                shutil.copy2(reference_profile, staging / "reference_profile.json")
            return VersionInfo(
                version=version,
                name=name or str(parsed.repo_id),
                source=str(parsed),
                created_at=_now(),
                notes=notes,
            )

        return self._add_version(write, activate)

    def promote(self, version: str) -> VersionInfo:
        """Make ``version`` the active one (atomic).

        Raises:
            RegistryError: unknown version.
        """
        info = self.get(version)
        with self._locked():
            self._set_active(info.version)
        return info

    def rollback(self) -> VersionInfo:
        """Make the previously active version active again (atomic).

        Raises:
            RegistryError: there is no earlier active version.
        """
        with self._locked():
            history = self.history()
            if len(history) < 2:
                raise RegistryError(
                    f"nothing to roll back to in {self.root}: history is {history or 'empty'}; "
                    "promote a version instead"
                )
            previous = history[-2]
            self.get(previous)  # it must still exist
            self._write_pointer({"active": previous, "history": history[:-1]})
        return self.get(previous)

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
            staging = _make_staging(self.root)
            try:
                info = write(staging, version)
                _write_json(staging / METADATA_FILE, _metadata(info))
                os.rename(staging, self.root / version)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            if activate:
                self._set_active(version)
        return self.get(version)

    def _set_active(self, version: str) -> None:
        history = self.history()
        if not history or history[-1] != version:
            history.append(version)
        self._write_pointer({"active": version, "history": history})

    def _read_pointer(self) -> dict[str, Any]:
        path = self.root / POINTER_FILE
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"registry pointer {path} is unreadable: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _write_pointer(self, data: dict[str, Any]) -> None:
        _write_json(self.root / POINTER_FILE, data)

    def _next_version(self) -> str:
        numbers = [_version_number(v.version) or 0 for v in self.versions()]
        return f"v{max(numbers, default=0) + 1}"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_version(self, folder: Path) -> VersionInfo:
        path = folder / METADATA_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: data[k] for k in VersionInfo.__dataclass_fields__ if k in data}
            known.pop("path", None)
            return VersionInfo(**known, path=folder)
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise RegistryError(f"registry metadata {path} is unreadable: {exc}") from None


def load_configured_model(settings: Settings, source: str | Path | None = None) -> LoadedModel:
    """Load the model the settings ask for.

    ``source`` wins; else ``settings.model_source``; else the registry's active version. When no
    explicit ``source`` is given and that load fails, ``settings.fallback_model_source`` is tried
    (``registry`` means the active version); the fallback's ``info.extra`` then holds
    ``fallback_reason`` so the UI can say which model is live and why.

    Raises:
        ModelLoadError, RegistryError: the model (and its fallback, if any) cannot be loaded.
    """

    def load(chosen: str | Path | None) -> LoadedModel:
        if chosen is None or str(chosen) == "registry":
            return Registry(settings.registry_dir).load_active(settings)
        return load_model(chosen, label_map=settings.label_map)

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


def _read_optional_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


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
