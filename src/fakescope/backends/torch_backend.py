"""The torch runtime: the transformers module itself, converted in place for the precision
(:func:`fakescope.acceleration.accelerate`: packed float32/bfloat16 or dynamic int8 Linear
layers, checked on the probe)."""

from __future__ import annotations

from typing import Any

from fakescope.acceleration import AccelerationReport, accelerate, accelerated_report
from fakescope.embedding import PooledCapture

RUNTIME = "torch"


class TorchBackend:
    """A loaded model's module, run eagerly under ``torch.inference_mode``."""

    runtime = RUNTIME

    def __init__(self, model: Any, report: AccelerationReport) -> None:
        self.model = model
        self.report = report

    @classmethod
    def prepare(cls, model: Any, mode: str, threads: int | None = None) -> TorchBackend:
        """Convert ``model.module`` for ``mode`` (once: a module shared by several Predictors
        keeps the conversion it got first); ``threads`` sets torch's intra-op threads."""
        import torch

        if threads:
            torch.set_num_threads(threads)
        existing = accelerated_report(model.module)
        if existing is not None:
            return cls(model, existing)
        height, width = model.spec.input_size
        return cls(model, accelerate(model.module, mode, probe_shape=(1, 3, height, width)))

    def forward(self, pixel_values: Any, *, pooled: bool) -> tuple[Any, Any | None]:
        import torch

        module = self.model.module
        pixels = torch.from_numpy(pixel_values)
        with torch.inference_mode():
            if not pooled:
                return module(pixel_values=pixels).logits.float().numpy(), None
            with PooledCapture(module) as capture:
                logits = module(pixel_values=pixels).logits.float().numpy()
            return logits, capture.pooled.float().numpy()

    def describe(self) -> dict[str, Any]:
        return {"kernel": self.report.kernel, "converted_layers": self.report.converted}
