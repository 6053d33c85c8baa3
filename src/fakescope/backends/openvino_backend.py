"""The OpenVINO runtime: the model exported once to a graph, cached per model version, compiled
for this CPU and checked on the probe (:mod:`fakescope.openvino_runtime`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakescope.acceleration import AccelerationReport
from fakescope.openvino_runtime import CompiledGraph, PreparedGraph, prepare_graph

RUNTIME = "openvino"
# Modes OpenVINO runs without a calibration step (int8 would need one).
MODES = ("fp32", "bf16")


class OpenVINOBackend:
    """A compiled OpenVINO graph with two outputs: the logits and the pooled features."""

    runtime = RUNTIME

    def __init__(self, prepared: PreparedGraph, mode: str) -> None:
        self.prepared = prepared
        self.graph: CompiledGraph = prepared.graph
        fallback = prepared.refused
        if fallback is None and prepared.graph.mode != mode:
            fallback = f"{mode}: OpenVINO runs {prepared.graph.mode} on this CPU"
        self.report = AccelerationReport(
            mode=prepared.graph.mode,
            requested_mode=mode,
            fallback_reason=fallback,
            kernel="openvino",
            probe_delta=prepared.probe_delta,
            seconds=prepared.seconds,
        )

    @classmethod
    def prepare(cls, model: Any, mode: str, cache_dir: Path, threads: int) -> OpenVINOBackend:
        """Export (or find in the cache), compile and check the graph.

        Raises:
            GraphError: OpenVINO is missing or cannot run this model (the caller uses torch).
        """
        return cls(prepare_graph(model, mode, cache_dir, threads), mode)

    def forward(self, pixel_values: Any, *, pooled: bool) -> tuple[Any, Any | None]:
        # The pooled features are a second output of the same graph: no extra work to skip.
        logits, features = self.graph.run(pixel_values)
        return logits, features if pooled else None

    def describe(self) -> dict[str, Any]:
        cache = self.prepared.cache
        return {
            "kernel": "openvino",
            "converted_layers": 0,
            "graph_cache": cache.cache,
            "graph_folder": str(cache.folder),
            "graph_export_seconds": round(cache.export_seconds, 3),
            "graph_cache_note": cache.note,
        }
