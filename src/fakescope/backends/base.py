"""What every runtime gives the Predictor: prepare once, then ``forward``, and describe itself."""

from __future__ import annotations

from typing import Any, Protocol

from fakescope.acceleration import AccelerationReport


class Backend(Protocol):
    """One way of running a prepared model (the httpx transport idea: the Predictor calls this and
    knows nothing else about the runtime).

    Attributes:
        runtime: ``torch`` or ``openvino``.
        report: the precision in effect, the kernel, the probe's answer and any fallback reason.
    """

    runtime: str
    report: AccelerationReport

    def forward(self, pixel_values: Any, *, pooled: bool) -> tuple[Any, Any | None]:
        """(float32 logits, the head's input or None) for (n, 3, H, W) float32 pixels, all
        numpy arrays (no torch outside the torch runtime).

        ``pooled=False`` may skip the pooled features (a runtime where they cost extra);
        one call at a time: the Predictor serialises forward passes.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for the Models page (``ModelInfo.extra["acceleration"]``), runtime-specific."""
        ...
