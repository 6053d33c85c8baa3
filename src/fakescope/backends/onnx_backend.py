"""The ONNX Runtime int8 runtime: the model exported once to ONNX, its matrix multiplies quantized
to int8, cached per model version and CPU class, and kept only where its fidelity on real images
holds (:mod:`fakescope.onnx_runtime`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from fakescope.acceleration import AccelerationReport
from fakescope.onnx_runtime import Int8Graph, Int8Target, PreparedInt8, prepare_int8

RUNTIME = "onnxruntime"
MODES = ("int8",)


class OnnxInt8Backend:
    """An int8 ONNX Runtime session with two outputs: the logits and the pooled features."""

    runtime = RUNTIME

    def __init__(self, prepared: PreparedInt8) -> None:
        self.prepared = prepared
        self.graph: Int8Graph = prepared.graph
        self.report = AccelerationReport(
            mode="int8",
            requested_mode="int8",
            kernel="onnxruntime-int8",
            probe_delta=prepared.probe_delta,
            seconds=prepared.seconds,
        )

    @classmethod
    def prepare(
        cls,
        model: Any,
        cache_dir: Path,
        target: Int8Target,
        threads: int,
        make_inputs: Callable[[], np.ndarray],
        fake_probability: Callable[[np.ndarray], np.ndarray],
        verdict: Callable[[float], str],
        *,
        require_fidelity: bool = True,
    ) -> OnnxInt8Backend:
        """Export and quantize (or find in the cache), load and check the int8 graph.

        Raises:
            OnnxError: ONNX Runtime is missing, cannot run this model, or (``require_fidelity``)
                int8 would change the answers (the caller runs float32 instead).
        """
        prepared = prepare_int8(
            model,
            cache_dir,
            target,
            threads,
            make_inputs,
            fake_probability,
            verdict,
            require_fidelity=require_fidelity,
        )
        return cls(prepared)

    def forward(self, pixel_values: Any, *, pooled: bool) -> tuple[Any, Any | None]:
        logits, features = self.graph.run(pixel_values)
        return logits, features if pooled else None

    def describe(self) -> dict[str, Any]:
        cache, fidelity = self.prepared.cache, self.prepared.fidelity
        return {
            "kernel": "onnxruntime-int8",
            "converted_layers": 0,
            "graph_cache": cache.cache,
            "graph_folder": str(cache.folder),
            "graph_export_seconds": round(cache.export_seconds, 3),
            "graph_cache_note": cache.note,
            "int8_target": self.prepared.target.describe(),
            "int8_fidelity": {
                "max_change": round(fidelity.max_change, 5),
                "flips": fidelity.flips,
                "band_crossings": fidelity.band_crossings,
                "inputs": fidelity.inputs,
                "measured": fidelity.measured,
            },
        }
