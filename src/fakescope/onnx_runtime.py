"""ONNX Runtime int8: a transformer model exported once to ONNX, quantized, cached, checked.

Why: on a CPU without native bfloat16 (AVX2-only, or AVX-512 without AVX512-BF16) float32 is the
only fast precision torch and OpenVINO offer, and ViT-B/16 in float32 already runs near the
float32 compute floor there. Integer matrix multiplies go further: ONNX Runtime's dynamic int8
kernels (u8 activations x s8 weights, quantized per call) ran ViT-B/16 about 2x faster than the
transformers pipeline on a 2-core AVX2 EPYC, where OpenVINO's int8 reached 1.1-1.4x (issue 14).

How:

1. **Export** (:func:`export_graph`): the float32 module is exported with ``torch.onnx.export``
   (TorchScript exporter, opset 17, dynamic batch), two outputs like the OpenVINO graph: the
   logits and the pooled features the head reads (:mod:`fakescope.embedding`). The weights of
   every MatMul/Gemm are then quantized to int8, per output channel
   (``onnxruntime.quantization.quantize_dynamic``); activations are quantized per call, so no
   calibration set is needed. Only the int8 graph is kept. Beside it: the float32 answers on the
   fidelity inputs (the bundled sample photos as the model sees them, and the noise probe).
2. **Cache** (:func:`cached_graph`): ``<cache_dir>/onnx/<key>/``; the key hashes the weights,
   ``config.json``, the input size, the versions of ONNX Runtime, onnx, torch and transformers,
   :data:`GRAPH_FORMAT` and the **CPU class**, because int8 kernels (and so the answers) differ
   between AVX2, AVX-512 VNNI and AMX. Writes go to a staging folder renamed into place; the
   least recently used beyond :data:`MAX_CACHED_GRAPHS` are deleted.
3. **Check** (:func:`prepare_int8`): the first start on a CPU class runs every fidelity input
   through the int8 graph and compares the fake probability with float32 (the caller's
   ``fake_probability`` function: temperature and label roles of the model) and the verdicts; a
   graph that moves a probability by more than :data:`FIDELITY_TOLERANCE` or flips a verdict
   (fake <-> real) is
   refused, and the caller uses float32 instead, with the reason. The verdict is stored in the
   cache folder, so later starts only run the noise probe (a broken kernel or file still shows).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fakescope import graph_cache
from fakescope.graph_cache import CachedGraph
from fakescope.errors import FakeScopeError
from fakescope.probe import PROBE_TOLERANCE, probe_input

logger = logging.getLogger(__name__)

# Bump when the files or the manifest change shape: old cache entries are then ignored.
GRAPH_FORMAT = 1
GRAPH_FILE = "model_int8.onnx"
MANIFEST_FILE = graph_cache.MANIFEST_FILE
INPUTS_FILE = "fidelity_inputs.npy"
CHECK_FILE = "fidelity_check.json"
# An int8 ViT-B/16 graph is about 90 MB; every version, upgrade or CPU class adds one.
MAX_CACHED_GRAPHS = 4
# Largest change of the fake probability on a fidelity input before int8 is refused (the
# project's fidelity target for any faster path, issue 5 and issue 14).
FIDELITY_TOLERANCE = 0.01
OPSET = 17


class OnnxError(FakeScopeError):
    """The model could not be exported, quantized, loaded or checked with ONNX Runtime."""


# CPU flags of int8 dot-product instructions (u8 x s8 summed in 32 bits, no overflow).
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


@dataclass(frozen=True)
class Int8Target:
    """What an int8 graph is made for: the CPU class (kernels differ, so graphs and their
    fidelity are kept per class) and whether weights use 7 bits.

    Without VNNI, x86 multiplies u8 by s8 with ``vpmaddubsw``, whose 16-bit pair sums saturate
    when both values are large; 7-bit weights (``reduce_range``) keep every pair sum in range, as
    ONNX Runtime's documentation advises. With VNNI the sums are 32-bit and 8 bits are kept.
    The integer results do not depend on the kernel, so a reduced-range graph's fidelity measured
    on a VNNI machine is the fidelity an AVX2 machine gets.
    """

    cpu_class: str
    reduce_range: bool

    @classmethod
    def for_cpu(cls, cpu_class: str, flags: frozenset[str]) -> Int8Target:
        return cls(cpu_class, reduce_range=not (flags & VNNI_FLAGS))

    def describe(self) -> str:
        return f"{self.cpu_class}, {'7' if self.reduce_range else '8'}-bit weights"


def import_onnxruntime() -> Any:
    """Import ONNX Runtime; raise OnnxError when it is missing."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxError(f"ONNX Runtime is not installed ({exc}); pip install onnxruntime") from None
    return onnxruntime


def onnxruntime_version() -> str | None:
    """The installed ONNX Runtime's version (from its metadata: nothing is imported), or None."""
    return graph_cache.package_version("onnxruntime")


def graph_key(model: Any, target: Int8Target) -> str:
    """The cache key of a loaded model's int8 graph for a target (hex, 24 characters): the model
    and versions of :func:`fakescope.graph_cache.graph_key`, ONNX Runtime's, onnx's, the
    target's CPU class and weight width, and :data:`GRAPH_FORMAT`."""
    return graph_cache.graph_key(
        model,
        format=GRAPH_FORMAT,
        cpu_class=target.cpu_class,
        reduce_range=target.reduce_range,
        onnxruntime=onnxruntime_version(),
        onnx=graph_cache.package_version("onnx"),
    )


def _noise_probe(model: Any) -> np.ndarray:
    height, width = model.spec.input_size
    return probe_input((1, 3, height, width))


def fidelity_inputs(model: Any, images: Sequence[Any]) -> np.ndarray:
    """The model inputs the int8 graph is checked on: the noise probe, then ``images`` (PIL
    images) preprocessed as the Predictor does (every crop in crops mode)."""
    from fakescope.preprocess import image_to_inputs

    batches = [_noise_probe(model)]
    batches += [image_to_inputs(image, model.spec) for image in images]
    return np.ascontiguousarray(np.concatenate(batches), dtype=np.float32)


def export_graph(
    model: Any, folder: Path, inputs: np.ndarray, target: Int8Target | None = None
) -> None:
    """Export a loaded float32 model to an int8 ONNX graph in ``folder`` (which must exist).

    Writes :data:`GRAPH_FILE`, :data:`INPUTS_FILE` (``inputs``) and :data:`MANIFEST_FILE` (the
    float32 torch logits on ``inputs``; the first input is the noise probe).

    Raises:
        OnnxError: ONNX Runtime or onnx is missing, or export or quantization failed.
    """
    import torch

    import_onnxruntime()
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # onnx itself is missing
        raise OnnxError(f"ONNX export needs the onnx package ({exc}); pip install onnx") from None
    from fakescope.embedding import logits_and_pooled

    wrapper = logits_and_pooled(model.module)
    probe = torch.from_numpy(inputs[:1])
    float_file = folder / "model_fp32.onnx"
    try:
        with torch.inference_mode():
            reference = np.concatenate(
                [wrapper(torch.from_numpy(chunk))[0].float().numpy() for chunk in _chunks(inputs)]
            )
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing warns about Python-side shape checks in transformers; they are constant
            # for a fixed input size, which the graph's input shape pins.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (probe,),
                str(float_file),
                input_names=["pixel_values"],
                output_names=["logits", "pooled"],
                dynamic_axes={name: {0: "batch"} for name in ("pixel_values", "logits", "pooled")},
                opset_version=OPSET,
                dynamo=False,
            )
            # Weights int8 per output channel, activations u8 quantized per call: no calibration
            # set, and per-channel scales keep the head's few large weights from costing the rest
            # their resolution.
            with _quiet_root_hint():
                quantize_dynamic(
                    str(float_file),
                    str(folder / GRAPH_FILE),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    reduce_range=bool(target and target.reduce_range),
                    op_types_to_quantize=["MatMul", "Gemm"],
                )
    except Exception as exc:  # noqa: BLE001 - any export/quantization failure means "not int8"
        raise OnnxError(f"ONNX export or quantization failed: {type(exc).__name__}: {exc}")
    finally:
        float_file.unlink(missing_ok=True)
        for extra in folder.glob("*.onnx.data"):
            extra.unlink(missing_ok=True)
    np.save(folder / INPUTS_FILE, inputs, allow_pickle=False)
    manifest = {
        "format": GRAPH_FORMAT,
        "model": model.info.name,
        "weights_sha256": model.info.weights_sha256,
        "input_size": list(model.spec.input_size),
        "float32_logits": reference.tolist(),
        "target": target.describe() if target else None,
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


class _DropHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


class _quiet_root_hint:
    """Keep ONNX Runtime's advice to pre-process the model (logged on the root logger at every
    quantization) out of the server log; what pre-processing changes is measured in
    docs/performance.md."""

    def __enter__(self) -> None:
        self._filter = _DropHint()
        logging.getLogger().addFilter(self._filter)

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger().removeFilter(self._filter)


def _chunks(inputs: np.ndarray, size: int = 8) -> list[np.ndarray]:
    return [inputs[i : i + size] for i in range(0, len(inputs), size)]


def cached_graph(
    model: Any,
    cache_dir: Path,
    target: Int8Target,
    make_inputs: Callable[[], np.ndarray],
    *,
    refresh: bool = False,
) -> CachedGraph:
    """Find the model's int8 graph for ``target`` under ``cache_dir``, exporting it first
    when missing (``make_inputs`` gives the fidelity inputs then).

    Raises:
        OnnxError: the export failed.
    """
    return graph_cache.find_or_export(
        Path(cache_dir) / "onnx" / graph_key(model, target),
        (MANIFEST_FILE, GRAPH_FILE, INPUTS_FILE),
        lambda into: export_graph(model, into, make_inputs(), target),
        limit=MAX_CACHED_GRAPHS,
        refresh=refresh,
    )


class Int8Graph:
    """An int8 graph in an ONNX Runtime session: float32 pixels in, float32 logits and pooled
    features out. Not thread-safe: the Predictor runs one forward pass at a time."""

    def __init__(self, folder: Path, threads: int) -> None:
        """Load ``folder``'s graph on ``threads`` intra-op threads.

        Raises:
            OnnxError: ONNX Runtime is missing or cannot load the file.
        """
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # warnings about unused initializers are noise
        try:
            self._session = ort.InferenceSession(
                str(folder / GRAPH_FILE), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
            raise OnnxError(f"ONNX Runtime could not load the graph: {exc}") from None

    def run(self, pixel_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, labels), pooled features (n, d)) of pixel values (n, 3, H, W), float32."""
        pixels = np.ascontiguousarray(pixel_values, dtype=np.float32)
        logits, pooled = self._session.run(None, {"pixel_values": pixels})
        return logits.astype(np.float32, copy=False), pooled.reshape(len(logits), -1)


@dataclass(frozen=True)
class Fidelity:
    """How far int8 moved the fake probability from float32 on the fidelity inputs.

    Attributes:
        max_change: the largest |delta p| over the inputs.
        flips: inputs called fake by one and real by the other (the project's flip, as in the
            fidelity tests and benchmarks; a move into or out of the uncertain band is none).
        inputs: how many inputs were compared.
        measured: ``now`` (run at this start) or ``cached`` (the first start on this CPU class).
        band_crossings: inputs whose verdict changed at all (fake, real or uncertain): only
            those within ``max_change`` of the uncertain band's edges can.
    """

    max_change: float
    flips: int
    inputs: int
    measured: str
    band_crossings: int = 0

    @property
    def passed(self) -> bool:
        return self.max_change <= FIDELITY_TOLERANCE and self.flips == 0

    def describe(self) -> str:
        return (
            f"max |delta p| {self.max_change:.4f}, {self.flips} flipped verdicts "
            f"(fake/real) on {self.inputs} inputs"
        )


@dataclass
class PreparedInt8:
    """A loaded, checked int8 graph and the facts the Models page shows about it."""

    graph: Int8Graph
    cache: CachedGraph
    fidelity: Fidelity
    probe_delta: float
    seconds: float
    target: Int8Target


def _manifest_logits(folder: Path) -> np.ndarray:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        return np.asarray(manifest["float32_logits"], dtype=np.float32)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OnnxError(f"the graph's manifest is unreadable ({exc})") from None


def int8_logits(graph: Int8Graph, folder: Path, first: int | None = None) -> np.ndarray:
    """The int8 graph's logits on the stored fidelity inputs (the first ``first`` only).

    Raises:
        OnnxError: the inputs are unreadable, or the run failed or gave non-finite logits.
    """
    try:
        inputs = np.load(folder / INPUTS_FILE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise OnnxError(f"the fidelity inputs are unreadable ({exc})") from None
    if first is not None:
        inputs = inputs[:first]
    try:
        logits = np.concatenate([graph.run(chunk)[0] for chunk in _chunks(inputs)])
    except Exception as exc:  # noqa: BLE001 - a broken file or kernel
        raise OnnxError(f"the int8 graph failed on its fidelity inputs: {exc}") from None
    if not np.isfinite(logits).all():
        raise OnnxError("the int8 graph gave non-finite logits")
    return logits


def compare(
    logits: np.ndarray,
    expected: np.ndarray,
    fake_probability: Callable[[np.ndarray], np.ndarray],
    verdict: Callable[[float], str],
    measured: str = "now",
) -> Fidelity:
    """Fidelity of int8 ``logits`` against float32 ``expected`` (the first rows of it).

    Raises:
        OnnxError: the shapes differ (a graph of another model).
    """
    expected = expected[: len(logits)]
    if logits.shape != expected.shape:
        raise OnnxError(f"the int8 graph gave logits of shape {logits.shape}, not {expected.shape}")
    fast, reference = fake_probability(logits), fake_probability(expected)
    pairs = [(verdict(float(a)), verdict(float(b))) for a, b in zip(fast, reference)]
    flips = sum({a, b} == {"fake", "real"} for a, b in pairs)
    crossings = sum(a != b for a, b in pairs)
    change = float(np.abs(fast - reference).max())
    return Fidelity(change, int(flips), len(logits), measured, int(crossings))


def prepare_int8(
    model: Any,
    cache_dir: Path,
    target: Int8Target,
    threads: int,
    make_inputs: Callable[[], np.ndarray],
    fake_probability: Callable[[np.ndarray], np.ndarray],
    verdict: Callable[[float], str],
    *,
    require_fidelity: bool = True,
) -> PreparedInt8:
    """Export (or find), load and check the model's int8 graph.

    The first start on a CPU class measures fidelity on every stored input and records it in
    the cache folder; later starts run the noise probe only (its float32 answer is stored) and
    reuse the recorded figure. A cached graph that fails to load or run is exported once more.

    Raises:
        OnnxError: ONNX Runtime is missing, the graph cannot be made or run, or (with
            ``require_fidelity``, as ``auto`` asks) its fidelity is short of
            :data:`FIDELITY_TOLERANCE` / zero flips (the message gives the figures).
    """
    start = time.perf_counter()
    import_onnxruntime()
    cached = cached_graph(model, cache_dir, target, make_inputs)
    recorded = _recorded_fidelity(cached.folder, fake_probability, verdict)
    if require_fidelity and recorded is not None and not recorded.passed:
        # Refused at an earlier start on this CPU class: no session is made for nothing.
        raise _refusal(recorded)
    try:
        try:
            graph, fidelity, delta = _load_checked(
                cached.folder, threads, fake_probability, verdict, recorded
            )
        except OnnxError as exc:
            if cached.cache != "hit":
                raise
            logger.warning("cached int8 graph %s refused (%s); exporting again", cached.folder, exc)
            cached = cached_graph(model, cache_dir, target, make_inputs, refresh=True)
            graph, fidelity, delta = _load_checked(
                cached.folder, threads, fake_probability, verdict
            )
    finally:
        if cached.cache == "uncached":
            shutil.rmtree(cached.folder, ignore_errors=True)  # the session holds the weights
    if require_fidelity and not fidelity.passed:
        raise _refusal(fidelity)
    return PreparedInt8(graph, cached, fidelity, delta, time.perf_counter() - start, target)


def _refusal(fidelity: Fidelity) -> OnnxError:
    return OnnxError(
        f"int8 would change the answers ({fidelity.describe()}; allowed: "
        f"{FIDELITY_TOLERANCE} and no flip)"
    )


def _recorded_fidelity(
    folder: Path,
    fake_probability: Callable[[np.ndarray], np.ndarray],
    verdict: Callable[[float], str],
) -> Fidelity | None:
    """The fidelity of the int8 logits stored at the first check, judged now; None when there
    are none (or they are unreadable: the check runs again)."""
    try:
        stored = json.loads((folder / CHECK_FILE).read_text(encoding="utf-8"))["int8_logits"]
        logits = np.asarray(stored, dtype=np.float32)
        return compare(logits, _manifest_logits(folder), fake_probability, verdict, "cached")
    except (OSError, ValueError, KeyError, TypeError, OnnxError):
        return None


def _load_checked(
    folder: Path,
    threads: int,
    fake_probability: Callable[[np.ndarray], np.ndarray],
    verdict: Callable[[float], str],
    recorded: Fidelity | None = None,
) -> tuple[Int8Graph, Fidelity, float]:
    """Load the graph and run the probe; the first time (no ``recorded`` fidelity), every
    fidelity input.

    The int8 logits of the first check are stored beside the graph, so later starts judge them
    with the settings of the day (threshold, uncertain band) without running them again.
    """
    graph = Int8Graph(folder, threads)
    expected = _manifest_logits(folder)
    probe = compare(int8_logits(graph, folder, first=1), expected, fake_probability, verdict)
    if not probe.max_change <= PROBE_TOLERANCE:
        raise OnnxError(f"probe probability moved by {probe.max_change:.3f} (a broken graph)")
    fidelity = recorded
    if fidelity is None:
        logits = int8_logits(graph, folder)
        fidelity = compare(logits, expected, fake_probability, verdict)
        try:
            (folder / CHECK_FILE).write_text(
                json.dumps({"int8_logits": logits.tolist()}), encoding="utf-8"
            )
        except OSError:
            pass  # a read-only cache: measured again at the next start
    return graph, fidelity, probe.max_change
