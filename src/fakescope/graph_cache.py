"""The exported-graph caches of OpenVINO and ONNX Runtime: one way to find, write and prune them.

Each runtime keeps its graphs in ``<cache_dir>/<runtime>/<key>/`` with a ``manifest.json`` that
is touched on every cache hit; beyond a few graphs the least recently used go, since every model
version, upgrade or CPU class adds one and a Space's disk is small.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"


def prune_cache(root: Path, keep: Path, limit: int) -> list[Path]:
    """Delete the least recently used graphs under ``root`` beyond ``limit`` (never ``keep``).

    ``limit`` counts ``keep``. A graph's last use is its manifest's modification time. Staging
    folders of exports still running (their names start with a dot) are left alone.

    Returns:
        The folders deleted.
    """
    graphs = [
        folder
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".") and folder != keep
    ]

    def last_use(folder: Path) -> float:
        try:
            return (folder / MANIFEST_FILE).stat().st_mtime
        except OSError:
            return 0.0  # no manifest: a broken entry, first to go

    graphs.sort(key=last_use, reverse=True)
    removed = graphs[max(0, limit - 1) :]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
        logger.info("graph cache: removed %s (least recently used)", folder.name)
    return removed


@dataclass
class CachedGraph:
    """Where a model's exported graph is, and how it got there.

    Attributes:
        folder: the folder holding the graph and its ``manifest.json``.
        cache: ``hit`` (found on disk), ``exported`` (written to the cache now) or
            ``uncached`` (the cache could not be written; exported to a temporary folder).
        export_seconds: time spent exporting (0 on a hit).
        note: why the cache was not used, or None.
    """

    folder: Path
    cache: str
    export_seconds: float = 0.0
    note: str | None = None


def find_or_export(
    folder: Path,
    files: Iterable[str],
    export: Callable[[Path], None],
    *,
    limit: int,
    refresh: bool = False,
) -> CachedGraph:
    """The graph in ``folder`` (``<cache_dir>/<runtime>/<key>``) when all ``files`` are there,
    else made by ``export(into)``.

    A new graph is written to a staging folder beside ``folder`` and renamed into place, so a
    crash never leaves half a graph under a key (another process that got there first wins); the
    least recently used graphs beyond ``limit`` are then deleted. A cache that cannot be written
    is reported in ``note`` and the graph goes to a temporary folder for this process only (the
    caller deletes it once loaded). ``refresh`` deletes a cached graph first (it failed a check).

    Raises:
        whatever ``export`` raises (the staging folder is removed).
    """
    names = tuple(files)

    def complete(where: Path) -> bool:
        return all((where / name).is_file() for name in names)

    if refresh and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    if complete(folder):
        try:
            (folder / MANIFEST_FILE).touch()  # last use, for pruning
        except OSError:
            pass  # a read-only cache still serves
        return CachedGraph(folder, "hit")
    start = time.perf_counter()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as exc:
        # A read-only or full cache: export for this process only, and say so.
        note = f"graph cache {folder.parent} is not writable ({exc.strerror or exc})"
        logger.warning("%s; exporting to a temporary folder", note)
        staging = Path(tempfile.mkdtemp(prefix="fakescope-graph-"))
        try:
            export(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return CachedGraph(staging, "uncached", time.perf_counter() - start, note)
    try:
        export(staging)
        try:
            staging.rename(folder)
        except OSError:
            if not complete(folder):  # another process put the same graph there first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    prune_cache(folder.parent, keep=folder, limit=limit)
    return CachedGraph(folder, "exported", time.perf_counter() - start)


def package_version(distribution: str) -> str | None:
    """An installed package's version from its metadata (nothing is imported), or None."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def graph_key(model: Any, **parts: Any) -> str:
    """The cache key of a model's exported graph (hex, 24 characters).

    It changes with the weights, ``config.json``, the input size, the installed torch and
    transformers (read from their metadata: a cache hit imports neither), and the runtime's own
    ``parts`` (its format and version, a CPU class...).
    """
    config_path = Path(model.folder) / "config.json"
    config_bytes = config_path.read_bytes() if config_path.is_file() else b""
    parts.update(
        weights=model.info.weights_sha256,
        config=hashlib.sha256(config_bytes).hexdigest(),
        input=[3, *model.spec.input_size],
        torch=package_version("torch"),
        transformers=package_version("transformers"),
    )
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
