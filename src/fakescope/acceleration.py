"""Inference precision on CPUs: what the CPU supports, which mode to use, and preparing a model.

Modes (``Settings.precision``, FAKESCOPE_PRECISION):

* ``fp32``: float32 everywhere. Linear layers call oneDNN with weights packed once at load instead
  of on every call (on this project's CPUs that alone is about 2x faster than torch's default
  float32 path, with the same float32 arithmetic).
* ``bf16``: Linear weights packed once in bfloat16; their matrix multiplies run in bfloat16 with
  float32 accumulation (AVX512-BF16 or AMX). Everything else (patch convolution, LayerNorm,
  softmax statistics, the residual stream and the classifier head) stays float32, so the fake
  probability moves by about 0.005 or less (``tests/integration/test_fidelity.py``). A model
  with no Linear layer besides its head (a small CNN) has nothing to convert and runs ``fp32``,
  on OpenVINO too (see :func:`convertible_linear_count`).
* ``int8``: on torch, dynamic int8 quantization of Linear layers (torch's ``quantize_dynamic``),
  which drifts several times more than bf16 (about 0.03 on ViT-B/16) and is never picked by
  ``auto``. ONNX Runtime's int8 (:mod:`fakescope.onnx_runtime`) is another matter: see below.
* ``auto``: ``bf16`` when the CPU multiplies bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` in
  ``/proc/cpuinfo``), else ``fp32`` (:func:`choose_precision`); on such a CPU
  :func:`fakescope.backends.choose_backend` then runs a transformer in int8 on ONNX Runtime when
  int8 keeps its answers. Emulated bfloat16 is slower than float32, so it is never
  chosen on other CPUs. Asking for ``bf16`` explicitly gets it where oneDNN can at least emulate
  it (AVX-512 BW/VL/DQ or AVX-NE-CONVERT); on an AVX2-only CPU it falls back to ``fp32`` with
  the reason, since oneDNN refuses bfloat16 there.

Every CPU-dependent decision takes a :class:`CpuInfo` (parsed from ``/proc/cpuinfo`` text by
:func:`parse_cpu_info`), so tests drive each branch with a described CPU instead of the host's.

:func:`accelerate` changes a loaded model in place (the float32 Linear weights are replaced, which
keeps the serving process's memory down) and checks its result against float32 on a probe input:
when the prepared model fails or disagrees, the float32 weights are put back and ``fp32`` is used.
Nothing is compiled, so a model is ready in well under a second.

Which *runtime* runs the model is chosen in :mod:`fakescope.backends` (one module per runtime
behind one interface): OpenVINO (:mod:`fakescope.openvino_runtime`, an exported graph) for
``fp32`` and ``bf16`` when it is installed, ONNX Runtime for ``int8``, else torch with the modes
above.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakescope.errors import ConfigError
from fakescope.probe import PROBE_TOLERANCE, probe_input  # noqa: F401 (probe_input: re-exported)

logger = logging.getLogger(__name__)

MODES = ("fp32", "bf16", "int8")
REQUESTS = ("auto", *MODES)
RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
# Modes OpenVINO runs without a calibration step (int8 would need one).
OPENVINO_MODES = ("fp32", "bf16")
CPUINFO_PATH = Path("/proc/cpuinfo")
# CPU flags that mean bfloat16 dot products run in hardware (Linux names).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# oneDNN (torch's packed Linear) runs bfloat16 at all, emulated or not, with AVX-NE-CONVERT or with
# all three of these AVX-512 subsets; elsewhere (AVX2-only CPUs) it raises on the first bf16 weight.
BF16_EMULATION_FLAGS = frozenset({"avx512bw", "avx512vl", "avx512dq"})
# Classifier heads stay float32: they are tiny, and their rounding would land on the logits.
# A head is found by its output size (the number of labels) or, failing that, by these names.
HEAD_NAMES = ("classifier", "head", "fc", "score")


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU offers for inference.

    Attributes:
        model_name: the CPU model as the kernel reports it ("" when unknown).
        flags: instruction-set flags from ``/proc/cpuinfo`` (empty where there is none).
        capability: torch's own vector ISA level (``AVX512``, ``AVX2``, ``DEFAULT``...).
    """

    model_name: str
    flags: frozenset[str]
    capability: str

    @property
    def native_bf16(self) -> bool:
        """Whether bfloat16 matrix multiplies run in hardware (AVX512-BF16 or AMX)."""
        return bool(self.flags & BF16_FLAGS)

    @property
    def bf16_capable(self) -> bool:
        """Whether oneDNN can run bfloat16 here at all (natively, or emulated on AVX-512)."""
        return (
            self.native_bf16 or "avx_ne_convert" in self.flags or BF16_EMULATION_FLAGS <= self.flags
        )

    @property
    def amx(self) -> bool:
        """Whether the CPU has AMX tiles for bfloat16 (much faster than AVX512-BF16)."""
        return "amx_bf16" in self.flags

    def describe(self) -> str:
        """One line for logs and reports, e.g. ``AMD EPYC (AVX512, avx512_bf16)``."""
        extras = sorted(self.flags & (BF16_FLAGS | {"amx_tile", "avx512_vnni", "avx_vnni"}))
        name = self.model_name or "unknown CPU"
        return f"{name} ({', '.join([self.capability, *extras])})"


# Benchmark classes, slowest first: speed ratios are only compared within one class.
CPU_CLASSES = ("other", "AVX2", "AVX-512", "AVX-512+BF16", "AMX")


def cpu_class(cpu: CpuInfo) -> str:
    """The CPU's class for benchmarks, from its instruction-set flags (the hardware's, not torch's).

    ``AMX`` (``amx_bf16``: bfloat16 tiles), ``AVX-512+BF16`` (``avx512_bf16``, no AMX: native
    bfloat16 dot products), ``AVX-512`` (``avx512f``: float32 and emulated bfloat16 only),
    ``AVX2`` (``avx2`` and no AVX-512) or ``other`` (neither: ARM, older x86). With no flags
    (no ``/proc/cpuinfo``) torch's capability level decides between ``AVX-512``, ``AVX2`` and
    ``other``.

    Args:
        cpu: the parsed CPU description.

    Returns:
        One of :data:`CPU_CLASSES`.
    """
    flags = cpu.flags or {
        "AVX512": frozenset({"avx512f", "avx2"}),
        "AVX2": frozenset({"avx2"}),
    }.get(cpu.capability.upper(), frozenset())
    if "amx_bf16" in flags:
        return "AMX"
    if "avx512_bf16" in flags:
        return "AVX-512+BF16"
    if "avx512f" in flags:
        return "AVX-512"
    return "AVX2" if "avx2" in flags else "other"


def read_cpu_info(cpuinfo_path: Path | None = None) -> CpuInfo:
    """Read the CPU's model name and flags (``/proc/cpuinfo``) and torch's capability level.

    Args:
        cpuinfo_path: the cpuinfo file; default ``FAKESCOPE_CPUINFO`` when set (a saved
            ``/proc/cpuinfo`` of another machine: its choices are reproduced here, on this
            machine's kernels), else ``/proc/cpuinfo``. A missing or unreadable file gives no
            flags.

    Returns:
        A :class:`CpuInfo` (flags of the first processor listed).
    """
    if cpuinfo_path is None:
        cpuinfo_path = Path(os.environ.get("FAKESCOPE_CPUINFO") or CPUINFO_PATH)
    try:
        text = cpuinfo_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    parsed = parse_cpu_info(text)
    return CpuInfo(parsed.model_name, parsed.flags, _torch_capability(parsed.flags))


def parse_cpu_info(text: str, capability: str = "unknown") -> CpuInfo:
    """A :class:`CpuInfo` from the text of a ``/proc/cpuinfo`` file (first processor listed).

    Args:
        text: the file's content ("" gives an unknown CPU with no flags).
        capability: torch's vector ISA level to record (``AVX512``, ``AVX2``...).
    """
    model_name, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model_name:
            model_name = value.strip()
        elif key in ("flags", "features") and not flags:  # "Features" on ARM
            flags = frozenset(value.split())
    return CpuInfo(model_name=model_name, flags=flags, capability=capability)


# What torch's CPU dispatch needs for its AVX512 kernels (aten/src/ATen/cpu/vec).
_TORCH_AVX512 = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512dq"})


def _torch_capability(flags: frozenset[str] = frozenset()) -> str:
    """torch's vector ISA level: asked of torch when it is loaded, else worked out the way torch
    does (``ATEN_CPU_CAPABILITY``, then the CPU's flags), so reading the CPU imports nothing."""
    import sys

    if "torch" in sys.modules:
        try:
            import torch

            return str(torch.backends.cpu.get_cpu_capability())
        except Exception:  # noqa: BLE001 - only informative; an old torch lacks the call
            return "unknown"
    forced = os.environ.get("ATEN_CPU_CAPABILITY", "").strip().upper()
    if forced in ("AVX512", "AVX2", "DEFAULT"):
        return forced
    if not flags:
        return "unknown"
    if _TORCH_AVX512 <= flags:
        return "AVX512"
    return "AVX2" if {"avx2", "fma"} <= flags else "DEFAULT"


@dataclass(frozen=True)
class PrecisionChoice:
    """The precision mode to run, and why.

    Attributes:
        mode: ``fp32``, ``bf16`` or ``int8``.
        requested: what the settings asked for (``auto`` or a mode).
        reason: one sentence, shown in logs and on the Models page.
    """

    mode: str
    requested: str
    reason: str


def choose_precision(requested: str = "auto", cpu: CpuInfo | None = None) -> PrecisionChoice:
    """Pick the precision mode for this CPU.

    Args:
        requested: ``auto``, ``fp32``, ``bf16`` or ``int8`` (``Settings.precision``).
        cpu: the CPU to decide for; defaults to :func:`read_cpu_info`.

    Returns:
        The chosen mode with the reason. An explicit mode is honoured where the CPU can run it:
        ``bf16`` on a CPU without any bfloat16 support (AVX2-only) gives ``fp32``, saying why.

    Raises:
        ConfigError: ``requested`` is not one of :data:`REQUESTS`.
    """
    if requested not in REQUESTS:
        raise ConfigError(f"precision must be one of {', '.join(REQUESTS)}, got {requested!r}")
    cpu = cpu or read_cpu_info()
    if requested == "auto":
        if cpu.native_bf16:
            unit = "AMX" if cpu.amx else "AVX512-BF16"
            return PrecisionChoice("bf16", requested, f"auto: the CPU has {unit}")
        return PrecisionChoice(
            "fp32", requested, "auto: the CPU has no native bfloat16 (avx512_bf16/amx_bf16)"
        )
    if requested == "bf16" and not cpu.bf16_capable:
        return PrecisionChoice(
            "fp32",
            requested,
            "bf16 set in settings, but this CPU cannot run bfloat16 (it needs avx512_bf16, "
            "amx_bf16, avx_ne_convert or avx512bw+avx512vl+avx512dq): fp32",
        )
    if requested == "bf16" and not cpu.native_bf16:
        return PrecisionChoice(
            "bf16", requested, "set in settings (the CPU emulates bfloat16: likely slower)"
        )
    return PrecisionChoice(requested, requested, "set in settings")


def describe_runtime(details: Mapping[str, Any]) -> str:
    """One line for the Models page: what runs the model, and why.

    Args:
        details: ``ModelInfo.extra["acceleration"]`` as the Predictor writes it.

    Returns:
        e.g. ``OpenVINO 2026.4.1, 2 threads (auto: the CPU has AVX512-BF16; graph found in the
        cache)`` or ``torch, onednn-packed, 2 threads (...; openvino: <why it was not used>)``.
    """
    if not details:
        return "not prepared"
    threads = f"{details.get('threads', '?')} threads"
    notes = [details.get("reason")]
    if details.get("runtime") == "openvino":
        engine = str(details.get("runtime_reason", "OpenVINO")).split(": ", 1)[-1]
        notes.append(details.get("fallback_reason"))  # e.g. a CNN asked for bf16 runs fp32
        cache = details.get("graph_cache")
        notes.append(
            {
                "hit": "graph found in the cache",
                "exported": "graph exported at start, cached for the next",
            }.get(str(cache), details.get("graph_cache_note"))
        )
    else:
        engine = f"torch, {details.get('kernel', 'eager')}"
        if details.get("runtime_reason") not in (None, "set in settings"):
            notes.append(details.get("runtime_reason"))
        notes.append(details.get("fallback_reason"))
    return f"{engine}, {threads} ({'; '.join(str(n) for n in notes if n)})"


@dataclass
class AccelerationReport:
    """What :func:`accelerate` did to a model.

    Attributes:
        mode: the mode in effect (``fp32`` after a fallback).
        requested_mode: the mode that was asked for.
        converted: number of Linear layers converted.
        kernel: ``openvino`` (an exported graph), ``onednn-packed``, ``torch`` (plain torch
            ops) or ``dynamic-int8``.
        probe_delta: largest change of any output probability on the probe input, vs float32
            (None unless ``accelerate(..., compare=True)``).
        seconds: time spent preparing (packing weights, the probe).
        fallback_reason: why the requested mode was not kept, or None.
    """

    mode: str
    requested_mode: str
    converted: int = 0
    kernel: str = "torch"
    probe_delta: float | None = None
    seconds: float = 0.0
    fallback_reason: str | None = None

    @property
    def label(self) -> str:
        """Short name for the Models page and benchmark tables, e.g. ``bf16 (onednn-packed)``."""
        return f"{self.mode} ({self.kernel})"


def _onednn_ok(dtype: Any = None) -> bool:
    """Whether torch's oneDNN packed-linear ops exist and work here for ``dtype`` (float32 when
    None). oneDNN refuses bfloat16 on AVX2-only CPUs, so each dtype is tried for itself."""
    import torch

    dtype = dtype or torch.float32
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        ops = torch.ops.mkldnn
        weight = ops._reorder_linear_weight(torch.ones(4, 4, dtype=dtype))
        out = ops._linear_pointwise(torch.ones(2, 4, dtype=dtype), weight, None, "none", [], "")
        return bool(torch.allclose(out.float(), torch.full((2, 4), 4.0)))
    except Exception:  # noqa: BLE001 - private ops: any failure means "use plain torch"
        return False


def _make_packed_linear_class() -> type:
    """Build the PackedLinear module class (defined late so this module imports without torch)."""
    import torch
    from torch import nn

    class PackedLinear(nn.Module):
        """A Linear layer whose weight is cast (and packed for oneDNN) once, at load.

        The weight lives outside the state dict (an opaque oneDNN tensor cannot be saved or
        copied); ``original`` keeps the float32 layer until the load-time check has passed.
        """

        def __init__(self, linear: nn.Linear, dtype: torch.dtype, packed: bool) -> None:
            super().__init__()
            self.in_features = linear.in_features
            self.out_features = linear.out_features
            self.compute_dtype = dtype
            self.packed = packed
            weight = linear.weight.detach().to(dtype).contiguous()
            self._weight = torch.ops.mkldnn._reorder_linear_weight(weight) if packed else weight
            self._bias = None if linear.bias is None else linear.bias.detach().to(dtype)
            self.original: nn.Linear | None = linear

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # Output stays in the compute dtype: a bfloat16 result feeds the next matrix multiply
            # (attention, the MLP) without a round trip, and is promoted back to float32 where it
            # meets the float32 residual stream.
            x = x.to(self.compute_dtype)
            if self.packed:
                return torch.ops.mkldnn._linear_pointwise(
                    x, self._weight, self._bias, "none", [], ""
                )
            return nn.functional.linear(x, self._weight, self._bias)

        def extra_repr(self) -> str:
            kind = "onednn-packed" if self.packed else "torch"
            return f"{self.in_features}, {self.out_features}, {self.compute_dtype}, {kind}"

    return PackedLinear


_PACKED_LINEAR: type | None = None


def packed_linear_class() -> type:
    """The :class:`PackedLinear` module class (built once)."""
    global _PACKED_LINEAR
    if _PACKED_LINEAR is None:
        _PACKED_LINEAR = _make_packed_linear_class()
    return _PACKED_LINEAR


def _linear_slots(module: Any, heads: Iterable[str]) -> list[tuple[Any, str, bool]]:
    """(parent, attribute, is a head) of every nn.Linear in ``module``.

    A head is a Linear that produces the logits: its output size is the model's number of labels,
    or it is a top-level child named in ``heads``.
    """
    from torch import nn

    head_names = tuple(heads)
    num_labels = getattr(getattr(module, "config", None), "num_labels", None)
    slots = []
    for _, parent in module.named_modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                is_head = child.out_features == num_labels or (
                    parent is module and child_name in head_names
                )
                slots.append((parent, child_name, is_head))
    return slots


def convertible_linear_count(module: Any, heads: Iterable[str] = HEAD_NAMES) -> int:
    """Number of Linear layers bf16 or int8 would convert (every Linear but the classifier head).

    Zero means a convolutional model: bf16 is then not used on either runtime. On torch it would
    change nothing; on OpenVINO it would run the convolutions in bfloat16, which moved the demo
    CNN's calibrated probabilities by up to 0.068 on its held-out set (its temperature of 0.15
    multiplies logit errors by 6.6), against 0.0000 in float32.
    """
    return sum(1 for _, _, is_head in _linear_slots(module, heads) if not is_head)


NO_LINEAR_REASON = "the model has no Linear layer to convert"


def _probabilities(module: Any, pixel_values: Any) -> Any:
    import torch

    with torch.inference_mode():
        logits = module(pixel_values=pixel_values).logits.float()
    return torch.softmax(logits, dim=-1)


def accelerate(
    module: Any,
    mode: str,
    *,
    probe_shape: tuple[int, ...] | None = None,
    compare: bool = False,
    tolerance: float = PROBE_TOLERANCE,
    heads: Iterable[str] = HEAD_NAMES,
) -> AccelerationReport:
    """Prepare a transformers image classifier for ``mode``, in place.

    Linear layers are replaced by :class:`PackedLinear` (``fp32``/``bf16``) or by dynamic int8
    layers (``int8``). With ``probe_shape`` the prepared model is then run on a probe input (which
    also sets up its kernels): when that raises, gives non-finite or out-of-shape logits, or (with
    ``compare``) moves a probability by more than ``tolerance`` from the float32 answer, the
    layers are put back and packed float32 is tried, then the model as loaded; the report names
    the mode kept and ``fallback_reason`` says why.

    Args:
        module: a ``PreTrainedModel`` in eval mode (called as ``module(pixel_values=...)``).
        mode: ``fp32``, ``bf16`` or ``int8``.
        probe_shape: (n, 3, H, W) of the probe input; None skips the check.
        compare: also run the float32 model on the probe and compare (a first float32 pass
            costs 1-3 s on a small CPU, so serving leaves this to the fidelity tests).
        tolerance: largest probability change accepted on the probe with ``compare``.
        heads: names of the top-level classifier layers, which stay float32 in every mode.

    Returns:
        An :class:`AccelerationReport`.

    Raises:
        ConfigError: ``mode`` is not one of :data:`MODES`, or the module was already prepared.
    """
    if mode not in MODES:
        raise ConfigError(f"precision mode must be one of {', '.join(MODES)}, got {mode!r}")
    if (existing := accelerated_report(module)) is not None:
        raise ConfigError(
            f"this model was already prepared for {existing.mode}; load it again to use "
            "another precision"
        )
    start = time.perf_counter()
    reference = None
    probe = None
    if probe_shape is not None:
        import torch

        probe = torch.from_numpy(probe_input(probe_shape))
        if compare:
            reference = _probabilities(module, probe)

    slots = _linear_slots(module, heads)
    report = AccelerationReport(mode="fp32", requested_mode=mode)
    failures: list[str] = []
    # The mode asked for, then packed float32, then the model as loaded: the first that passes.
    for candidate in dict.fromkeys((mode, "fp32")):
        attempt = AccelerationReport(mode=candidate, requested_mode=mode)
        convert = _quantize_int8 if candidate == "int8" else _pack_linears
        try:
            restore = convert(module, slots, candidate, attempt)
        except Exception as exc:  # noqa: BLE001 - a kernel this CPU lacks: try the next mode
            failures.append(f"{candidate}: {type(exc).__name__}: {exc}")
            logger.warning("precision %s refused: %s", candidate, exc)
            continue
        if attempt.converted == 0 and candidate != "fp32":
            # Nothing to convert (a CNN: convolutions stay float32): say what really runs.
            restore()
            failures.append(f"{candidate}: {NO_LINEAR_REASON}")
            continue
        failure = _check_probe(module, probe, reference, tolerance, attempt)
        if failure is None:
            report = attempt
            break
        restore()
        failures.append(f"{candidate}: {failure}")
        logger.warning("precision %s refused: %s", candidate, failure)
    if failures:
        report.fallback_reason = "; ".join(failures)
    _drop_originals(module)
    module._fakescope_acceleration = report
    report.seconds = time.perf_counter() - start
    logger.info(
        "model prepared: %s, %d Linear layers, %.2f s",
        report.label,
        report.converted,
        report.seconds,
    )
    return report


def accelerated_report(module: Any) -> AccelerationReport | None:
    """The report of the :func:`accelerate` call that prepared ``module``, or None."""
    return getattr(module, "_fakescope_acceleration", None)


def _check_probe(
    module: Any, probe: Any, reference: Any, tolerance: float, report: AccelerationReport
) -> str | None:
    """Run the probe through the prepared model; None if the answer is usable, else why not."""
    if probe is None:
        return None
    try:
        probabilities = _probabilities(module, probe)
    except Exception as exc:  # noqa: BLE001 - an unusual architecture may reject a dtype
        return f"{type(exc).__name__}: {exc}"
    if not bool(probabilities.isfinite().all()) or probabilities.shape[0] != probe.shape[0]:
        return "the probe gave non-finite or misshapen outputs"
    if reference is None:
        return None
    delta = float((probabilities - reference).abs().max())
    report.probe_delta = delta
    if not delta <= tolerance:
        return f"probe probabilities moved by {delta:.3f} (more than {tolerance})"
    return None


def _restorer(replaced: list[tuple[Any, str, Any]]) -> Any:
    """A function that puts back every (parent, attribute, original layer) in ``replaced``."""

    def restore() -> None:
        for parent, name, original in replaced:
            setattr(parent, name, original)

    return restore


def _pack_linears(
    module: Any, slots: list[tuple[Any, str, bool]], mode: str, report: AccelerationReport
) -> Any:
    """Replace Linear layers by PackedLinear; return a function that puts them back."""
    import torch

    dtype = torch.bfloat16 if mode == "bf16" else torch.float32
    packed = _onednn_ok(dtype)
    cls = packed_linear_class()
    replaced: list[tuple[Any, str, Any]] = []
    restore = _restorer(replaced)
    try:
        for parent, name, is_head in slots:
            original = getattr(parent, name)
            # Heads compute in float32 (their input may arrive in bfloat16): cheap, and their
            # rounding would land on the logits unsmoothed.
            setattr(parent, name, cls(original, torch.float32 if is_head else dtype, packed))
            replaced.append((parent, name, original))
    except Exception:
        restore()  # a half-converted model is never left behind
        raise
    report.converted = sum(1 for _, _, is_head in slots if not is_head)
    report.kernel = "onednn-packed" if packed else "torch"
    return restore


def _quantize_int8(
    module: Any, slots: list[tuple[Any, str, bool]], mode: str, report: AccelerationReport
) -> Any:
    """Replace Linear layers by dynamic int8 ones; return a function that puts them back."""
    import torch

    with warnings.catch_warnings():
        # torch.ao.quantization announces its move to torchao; the API still works in 2.13.
        warnings.simplefilter("ignore")
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

        replaced: list[tuple[Any, str, Any]] = []
        restore = _restorer(replaced)
        try:
            for parent, name, is_head in slots:
                if is_head:
                    continue
                original = getattr(parent, name)
                original.qconfig = torch.ao.quantization.default_dynamic_qconfig
                try:
                    quantized = DynamicLinear.from_float(original)
                finally:
                    del original.qconfig
                setattr(parent, name, quantized)
                replaced.append((parent, name, original))
        except Exception:
            restore()  # a half-converted model is never left behind
            raise
    report.converted = len(replaced)
    report.kernel = "dynamic-int8"
    return restore


def _drop_originals(module: Any) -> None:
    """Free the float32 Linear weights once the prepared layers are kept."""
    cls = packed_linear_class()
    for child in module.modules():
        if isinstance(child, cls):
            child.original = None
