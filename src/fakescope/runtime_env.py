"""Process settings that must be in place before torch loads its OpenMP runtime.

Imported (for its effect) by the modules that import torch for serving. OpenMP threads that spin
while idle steal the other core from decoding and from other processes on a 2-core machine;
passive waiting measured 3-20x faster there (docs/performance.md). An explicit setting wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
