"""The one pruning rule of the exported-graph caches (OpenVINO and ONNX Runtime).

Each runtime keeps its graphs in ``<cache_dir>/<runtime>/<key>/`` with a ``manifest.json`` that
is touched on every cache hit; beyond a few graphs the least recently used go, since every model
version, upgrade or CPU class adds one and a Space's disk is small.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

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
