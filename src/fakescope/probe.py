"""The load-time probe every runtime is checked on: one fixed input, one tolerance.

A runtime (a converted torch module, an exported graph) is run on this input when it is prepared;
an answer that fails, is non-finite, or moves a probability by more than :data:`PROBE_TOLERANCE`
from float32 is refused and the next runtime or precision is tried. The probe is random noise,
where a model is least certain, so this guards against broken kernels; fidelity on real images
is measured by the fidelity tests.
"""

from __future__ import annotations

from typing import Any

# Largest change of the fake probability on the load-time probe before a mode is refused (the
# fidelity target on real images is 0.01, checked by tests/integration/test_fidelity.py).
PROBE_TOLERANCE = 0.05


def probe_input(shape: tuple[int, ...], seed: int = 0) -> Any:
    """A deterministic probe batch: uniform noise in the normalized pixel range [-1, 1], as a
    float32 numpy array (made without torch: a cached graph is checked without importing it)."""
    import numpy as np

    generator = np.random.default_rng(seed)
    return (generator.random(shape, dtype=np.float32) * 2.0 - 1.0).astype(np.float32)
