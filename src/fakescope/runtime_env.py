"""Process settings that must be in place before torch loads its OpenMP runtime.

Imported (for its effect) by the modules that import torch for serving. OpenMP threads that spin
while idle steal the other core from decoding and from other processes on a 2-core machine;
passive waiting measured 3-20x faster there (docs/performance.md). An explicit setting wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def intra_op_threads(settings: object | None = None) -> int:
    """Threads one forward pass (and a batch's preparation) may use.

    ``settings.num_threads`` when set (FAKESCOPE_THREADS), else ``OMP_NUM_THREADS``, else the
    CPUs this process may run on (its affinity: a container's CPU set, not the host's). Asked
    without importing torch, so that every runtime gets the same count.
    """
    configured = int(getattr(settings, "num_threads", 0) or 0)
    if configured > 0:
        return configured
    try:
        from_env = int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0])
    except ValueError:
        from_env = 0
    if from_env > 0:
        return from_env
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
