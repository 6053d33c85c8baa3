"""OpenVINO runtime: a model exported once to an OpenVINO graph, cached on disk, run by OpenVINO.

Why: on this project's CPUs OpenVINO runs ViT-B/16 in bfloat16 about 1.4x faster than the best
eager torch path (:mod:`fakescope.acceleration`): it fuses attention, GELU, LayerNorm and the
residual adds into its matrix-multiply kernels, where torch runs each as a separate pass over
memory (see docs/performance.md for the figures).

How:

1. **Export** (:func:`export_graph`): the float32 transformers module is traced by
   ``openvino.convert_model`` with a dynamic batch dimension and saved as OpenVINO IR
   (``model.xml`` + ``model.bin``, float32 weights: the precision is chosen at compile time). The
   float32 torch answer on a fixed probe input is stored beside it (``manifest.json``).
2. **Cache** (:func:`cached_graph`): the graph lives in ``<cache_dir>/openvino/<key>/``, where the
   key hashes the weights, ``config.json``, the input size and the versions of OpenVINO, torch,
   transformers and this export format, so any change exports again. A new graph is written to a
   temporary folder and renamed into place, so a crash never leaves half a graph under a key; the
   least recently used graphs beyond :data:`MAX_CACHED_GRAPHS` are then deleted. A cache folder
   that cannot be written is reported and the graph is exported to a temporary folder for this
   process only.
3. **Compile and check** (:func:`prepare_graph`): the graph is compiled for the CPU with the
   precision asked for (``INFERENCE_PRECISION_HINT``), then run on the probe; a graph that
   fails, gives non-finite logits, or moves a probability by more than
   :data:`fakescope.probe.PROBE_TOLERANCE` from the stored float32 answer is refused (a
   cached one is deleted and exported once more). The caller then falls back to torch.

Exporting ViT-B/16 takes about 3 s; finding and compiling a cached graph about 0.5 s, which keeps
the cold start under 5 s from the second start on. The serving image keeps graphs in
``/data/cache``, which survives restarts where the Space has persistent storage.

OpenVINO's usage telemetry (the ``openvino-telemetry`` package, which sends events to Google
Analytics unless the user opted out) is kept off: :func:`import_openvino` makes it unimportable
before OpenVINO loads, so OpenVINO uses its own no-op stub.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope import graph_cache
from fakescope.graph_cache import CachedGraph
from fakescope.errors import FakeScopeError
from fakescope.probe import PROBE_TOLERANCE, probe_input

logger = logging.getLogger(__name__)

# Bump when the exported graph or manifest changes shape: old cache entries are then ignored.
# 2: the graph has a second output, the pooled features (the head's input, fakescope.embedding).
# 3: the probe input is made by numpy (the stored probe answers of format 2 are for another one).
GRAPH_FORMAT = 3
# OpenVINO's names for the precisions FakeScope offers (int8 would need a calibration step).
INFERENCE_PRECISION = {"fp32": "f32", "bf16": "bf16"}
GRAPH_FILE = "model.xml"
MANIFEST_FILE = graph_cache.MANIFEST_FILE
# Graphs kept in a cache folder; the least recently used go first. A ViT-B/16 graph is 343 MB and
# every registered version or upgrade adds one, so an unbounded cache would fill a Space's disk.
MAX_CACHED_GRAPHS = 4


class GraphError(FakeScopeError):
    """The model could not be exported, compiled or checked with OpenVINO."""


def import_openvino() -> Any:
    """Import OpenVINO with its usage telemetry switched off; raise GraphError when missing."""
    # A None entry makes ``import openvino_telemetry`` fail, and OpenVINO then uses its stub.
    # It must happen before the first ``import openvino``, which sends an event at import.
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)
    try:
        import openvino
    except ImportError as exc:
        raise GraphError(f"OpenVINO is not installed ({exc}); pip install openvino") from None
    return openvino


def openvino_version() -> str | None:
    """The installed OpenVINO's version, or None when it cannot be imported."""
    try:
        # get_version() adds the build ("2026.4.1-22982-e213a14-releases/2026/4").
        return str(import_openvino().get_version()).split("-")[0]
    except GraphError:
        return None


def graph_key(model: Any) -> str:
    """The cache key of a loaded model's graph (hex, 24 characters): the model and versions of
    :func:`fakescope.graph_cache.graph_key`, OpenVINO's and :data:`GRAPH_FORMAT`."""
    return graph_cache.graph_key(model, format=GRAPH_FORMAT, openvino=openvino_version())


def _probe(model: Any) -> np.ndarray:
    """The fixed probe batch (one input) for this model's input size."""
    height, width = model.spec.input_size
    return probe_input((1, 3, height, width))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def export_graph(model: Any, folder: Path) -> None:
    """Export a loaded float32 model to OpenVINO IR in ``folder`` (which must exist).

    Writes ``model.xml``, ``model.bin`` and ``manifest.json`` (the key's parts and the float32
    torch probabilities on the probe input). The graph has two outputs: the logits and the pooled
    features the classification head reads (:mod:`fakescope.embedding`).

    Raises:
        GraphError: tracing or conversion failed.
    """
    import torch

    ov = import_openvino()
    probe = _probe(model)

    from fakescope.embedding import logits_and_pooled

    wrapper = logits_and_pooled(model.module)
    height, width = model.spec.input_size
    try:
        with torch.inference_mode():
            reference = wrapper(torch.from_numpy(probe))[0].float().numpy()
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing warns about Python-side shape checks in transformers; they are constant
            # for a fixed input size, which the graph's input shape pins.
            warnings.simplefilter("ignore")
            graph = ov.convert_model(
                wrapper,
                example_input=torch.from_numpy(probe),
                input=[("pixel_values", [-1, 3, height, width])],
            )
        # float32 weights on disk: bfloat16 (or not) is decided when compiling.
        ov.save_model(graph, str(folder / GRAPH_FILE), compress_to_fp16=False)
    except Exception as exc:  # noqa: BLE001 - any tracing/conversion failure means "use torch"
        raise GraphError(f"OpenVINO could not export the model: {type(exc).__name__}: {exc}")
    manifest = {
        "format": GRAPH_FORMAT,
        "model": model.info.name,
        "weights_sha256": model.info.weights_sha256,
        "input_size": [height, width],
        "probe_probabilities": _softmax(reference).tolist(),
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def cached_graph(model: Any, cache_dir: Path, *, refresh: bool = False) -> CachedGraph:
    """Find the model's graph under ``cache_dir``, exporting it first when missing.

    Args:
        model: a :class:`fakescope.model.LoadedModel` whose module is still float32.
        cache_dir: the cache root (``Settings.cache_dir``); graphs go in ``openvino/<key>/``.
        refresh: delete a cached graph and export again (after it failed its check).

    Raises:
        GraphError: the export failed.
    """
    return graph_cache.find_or_export(
        Path(cache_dir) / "openvino" / graph_key(model),
        (MANIFEST_FILE, GRAPH_FILE),
        lambda into: export_graph(model, into),
        limit=MAX_CACHED_GRAPHS,
        refresh=refresh,
    )


def prune_cache(root: Path, keep: Path, limit: int | None = None) -> list[Path]:
    """Delete the least recently used graphs under ``root`` beyond ``limit`` (never ``keep``;
    default :data:`MAX_CACHED_GRAPHS`): :func:`fakescope.graph_cache.prune_cache`."""
    return graph_cache.prune_cache(root, keep, MAX_CACHED_GRAPHS if limit is None else limit)


class CompiledGraph:
    """An exported graph compiled for this CPU: float32 pixels in, float32 logits and pooled
    features out.

    Not thread-safe: the Predictor runs one forward pass at a time.
    """

    def __init__(self, folder: Path, mode: str, threads: int) -> None:
        """Compile ``folder``'s graph for ``mode`` (``fp32``/``bf16``) on ``threads`` threads.

        Raises:
            GraphError: the mode has no OpenVINO counterpart, or compiling failed.
        """
        if mode not in INFERENCE_PRECISION:
            raise GraphError(f"OpenVINO runs fp32 or bf16 here, not {mode}")
        ov = import_openvino()
        config = {
            "INFERENCE_PRECISION_HINT": INFERENCE_PRECISION[mode],
            # One request at a time, every thread on it: the Predictor serialises passes.
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, threads),
        }
        try:
            self._compiled = ov.Core().compile_model(str(folder / GRAPH_FILE), "CPU", config)
            self._request = self._compiled.create_infer_request()
        except Exception as exc:  # noqa: BLE001 - a bad file or an unsupported hint
            raise GraphError(f"OpenVINO could not compile the graph: {exc}") from None
        # What OpenVINO really runs: a CPU without bfloat16 support may keep f32 whatever the hint.
        actual = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.mode = {name: mode for mode, name in INFERENCE_PRECISION.items()}.get(actual, mode)

    def __call__(self, pixel_values: np.ndarray) -> np.ndarray:
        """Logits (n, labels) of pixel values (n, 3, H, W), float32."""
        return self.run(pixel_values)[0]

    def run(self, pixel_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, labels), pooled features (n, d)) of pixel values (n, 3, H, W), float32."""
        pixels = np.ascontiguousarray(pixel_values, dtype=np.float32)
        self._request.infer({0: pixels})
        # The output buffers are reused by the next call: copy them out.
        logits, pooled = (
            np.array(self._request.get_output_tensor(i).data, dtype=np.float32, copy=True)
            for i in (0, 1)
        )
        return logits, pooled.reshape(len(logits), -1)


def check_graph(graph: CompiledGraph, folder: Path, model: Any, tolerance: float) -> float:
    """Run the probe through ``graph``; return the largest probability change vs float32 torch.

    Raises:
        GraphError: the run failed, the answer is misshapen or non-finite, or it moved a
            probability by more than ``tolerance``.
    """
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        expected = np.asarray(manifest["probe_probabilities"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GraphError(f"the graph's manifest is unreadable ({exc})") from None
    try:
        logits = graph(_probe(model))
    except Exception as exc:  # noqa: BLE001 - a broken file or kernel
        raise GraphError(f"the graph failed on the probe input: {exc}") from None
    if logits.shape != expected.shape or not np.isfinite(logits).all():
        raise GraphError("the graph gave non-finite or misshapen logits on the probe input")
    delta = float(np.abs(_softmax(logits.astype(np.float64)) - expected).max())
    if not delta <= tolerance:
        raise GraphError(f"probe probabilities moved by {delta:.3f} (more than {tolerance})")
    return delta


@dataclass
class PreparedGraph:
    """A compiled, checked graph and the facts the Models page shows about it."""

    graph: CompiledGraph
    cache: CachedGraph
    probe_delta: float
    seconds: float
    # Why the mode asked for was refused and the graph runs fp32 instead (None when it was not).
    refused: str | None = None


def prepare_graph(model: Any, mode: str, cache_dir: Path, threads: int) -> PreparedGraph:
    """Export (or find), compile and check a model's graph for ``mode``.

    A cached graph that fails its check is deleted and exported once more. A graph that cannot
    be compiled or checked in bf16 (a CPU whose kernels lack a bf16 primitive) is compiled in fp32
    instead, with the reason in ``refused``: falling back within OpenVINO keeps its speed-up.

    Raises:
        GraphError: OpenVINO is missing, or the graph cannot be exported, compiled or checked.
    """
    start = time.perf_counter()
    import_openvino()
    cached = cached_graph(model, cache_dir)
    try:
        try:
            graph, delta, refused = _compile_checked(cached.folder, mode, model, threads)
        except GraphError as exc:
            if cached.cache != "hit":
                raise
            logger.warning("cached graph %s refused (%s); exporting again", cached.folder, exc)
            cached = cached_graph(model, cache_dir, refresh=True)
            graph, delta, refused = _compile_checked(cached.folder, mode, model, threads)
    finally:
        if cached.cache == "uncached":
            # Compiled models keep their own copy of the weights: the files can go.
            shutil.rmtree(cached.folder, ignore_errors=True)
    return PreparedGraph(graph, cached, delta, time.perf_counter() - start, refused)


def _compile_checked(
    folder: Path, mode: str, model: Any, threads: int
) -> tuple[CompiledGraph, float, str | None]:
    """Compile ``folder``'s graph for ``mode`` and check it on the probe, falling back to fp32.

    Returns:
        (graph, probe delta, why ``mode`` was refused or None).

    Raises:
        GraphError: fp32 fails too (the error of the fp32 attempt).
    """
    refused = None
    for candidate in dict.fromkeys((mode, "fp32")):
        try:
            graph = CompiledGraph(folder, candidate, threads)
            return graph, check_graph(graph, folder, model, PROBE_TOLERANCE), refused
        except GraphError as exc:
            if candidate == "fp32":
                raise
            refused = f"{candidate}: {exc}"
            logger.warning("OpenVINO refused %s (%s); compiling fp32", candidate, exc)
    raise AssertionError("unreachable: the fp32 attempt returns or raises")
