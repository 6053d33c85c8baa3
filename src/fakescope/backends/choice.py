"""Runtimes behind one interface, and the one function that picks one.

The Predictor asks :func:`choose_backend` for a :class:`~fakescope.backends.base.Backend` and
then only calls ``forward``: which runtime, which precision and which fallback are decided here,
from the parsed CPU description and the settings, and nowhere else. One module per runtime:

* :mod:`fakescope.backends.torch_backend`: the transformers module, converted in place
  (:mod:`fakescope.acceleration`);
* :mod:`fakescope.backends.openvino_backend`: an exported, cached, compiled graph
  (:mod:`fakescope.openvino_runtime`);
* :mod:`fakescope.backends.onnx_backend`: an exported graph quantized to int8, run by ONNX
  Runtime where its fidelity holds (:mod:`fakescope.onnx_runtime`).

Imports go one way: ``backends`` -> ``acceleration`` / ``openvino_runtime`` / ``onnx_runtime``
-> ``probe``; no runtime module imports another or this package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fakescope.acceleration import (
    NO_LINEAR_REASON,
    CpuInfo,
    PrecisionChoice,
    accelerated_report,
    choose_precision,
    cpu_class,
    read_cpu_info,
)
from fakescope.backends import openvino_backend
from fakescope.backends.base import Backend
from fakescope.backends.onnx_backend import OnnxInt8Backend
from fakescope.backends.openvino_backend import OpenVINOBackend
from fakescope.backends.torch_backend import TorchBackend
from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope.model import linear_layer_count
from fakescope import onnx_runtime, openvino_runtime
from fakescope.onnx_runtime import OnnxError
from fakescope.openvino_runtime import GraphError
from fakescope.runtime_env import intra_op_threads
from fakescope.verdicts import fake_probabilities, verdict_for

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", TorchBackend.runtime, OpenVINOBackend.runtime, OnnxInt8Backend.runtime)


@dataclass(frozen=True)
class RuntimeChoice:
    """What runs the model, and why.

    Attributes:
        runtime: ``torch`` or ``openvino``.
        requested: what the settings asked for (``auto`` or a runtime).
        reason: one sentence, shown in logs and on the Models page.
    """

    runtime: str
    requested: str
    reason: str


def choose_runtime(requested: str, mode: str) -> RuntimeChoice:
    """Pick the runtime for a precision mode.

    ``auto`` and ``openvino`` give OpenVINO for ``fp32``/``bf16`` when it can be imported, else
    torch with the reason; ``auto`` and ``onnxruntime`` give ONNX Runtime for ``int8`` when it is
    installed; ``torch`` always gives torch (int8 there is torch's dynamic quantization).

    Raises:
        ConfigError: ``requested`` is not one of :data:`RUNTIMES`.
    """
    if requested not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {requested!r}")
    if requested == "torch":
        return RuntimeChoice("torch", requested, "set in settings")
    origin = "auto" if requested == "auto" else "set in settings"
    if mode == "int8" and requested in ("auto", OnnxInt8Backend.runtime):
        version = onnx_runtime.onnxruntime_version()
        if version is None:
            return RuntimeChoice("torch", requested, "ONNX Runtime is not installed")
        return RuntimeChoice(
            OnnxInt8Backend.runtime, requested, f"{origin}: ONNX Runtime {version}"
        )
    if requested == OnnxInt8Backend.runtime:
        return RuntimeChoice(
            "torch", requested, f"ONNX Runtime runs int8 only here; {mode} runs on torch"
        )
    if mode not in openvino_backend.MODES:
        return RuntimeChoice(
            "torch", requested, f"OpenVINO runs fp32 or bf16 only; {mode} runs on torch"
        )
    version = openvino_runtime.openvino_version()
    if version is None:
        return RuntimeChoice("torch", requested, "OpenVINO is not installed")
    return RuntimeChoice("openvino", requested, f"{origin}: OpenVINO {version}")


@dataclass
class Selection:
    """The precision decision, the prepared backend, and the facts the Models page shows.

    ``details`` is None when the model had already been prepared by another Predictor (its first
    preparation's facts stay in ``ModelInfo.extra``).
    """

    choice: PrecisionChoice
    backend: Backend
    details: dict[str, Any] | None = field(default=None)


def choose_backend(model: Any, settings: Settings, cpu: CpuInfo | None = None) -> Selection:
    """Pick and prepare the runtime for ``settings.precision`` and ``settings.runtime`` on ``cpu``.

    ``auto`` picks bf16 on CPUs with AVX512-BF16/AMX. Elsewhere a transformer (a model with
    Linear layers) runs int8 on ONNX Runtime when its fidelity check passes (no probability moved
    by more than 0.01, no verdict flipped, on the bundled sample photos), else fp32. OpenVINO runs
    fp32/bf16 when it is installed and can export the model, else torch (the reason is kept). A
    CNN (no Linear layer but its head) runs fp32 on any runtime.

    Raises:
        ConfigError: the model was already prepared for another precision.
    """
    cpu = cpu or read_cpu_info()
    choice = choose_precision(settings.precision, cpu)
    existing = accelerated_report(model.module) if model.module_loaded else None
    if existing is not None:
        # A LoadedModel shared by several Predictors is prepared once; another precision
        # cannot be had without reloading the float32 weights.
        if choice.mode not in (existing.mode, existing.requested_mode):
            raise ConfigError(
                f"model {model.info.name} is already prepared for {existing.mode}; "
                f"load it again to run it in {choice.mode}"
            )
        return Selection(choice, TorchBackend(model, existing))
    mode, reasons = choice.mode, []
    linear_layers = linear_layer_count(model)
    if mode != "fp32" and linear_layers == 0:
        # A CNN runs fp32 on every runtime: torch would have nothing to convert, OpenVINO would
        # run its convolutions in bf16 (see convertible_linear_count), and int8 moved the demo
        # CNN's fake probability by up to 0.56 (docs/performance.md).
        mode = "fp32"
        reasons.append(f"{choice.mode}: {NO_LINEAR_REASON}")
    # Without native bfloat16, fp32 is as fast as a float path gets; int8 goes further and is
    # kept only where it keeps the answers.
    auto_int8 = (
        choice.requested == "auto"
        and mode == "fp32"
        and not cpu.native_bf16
        and linear_layers > 0
        and settings.runtime in ("auto", OnnxInt8Backend.runtime)
    )
    runtime = choose_runtime(settings.runtime, "int8" if auto_int8 else mode)
    details: dict[str, Any] = {"runtime": runtime.runtime, "runtime_reason": runtime.reason}
    backend: Backend | None = None
    threads = intra_op_threads(settings)
    if runtime.runtime == OnnxInt8Backend.runtime:
        try:
            backend = OnnxInt8Backend.prepare(
                model,
                settings.cache_dir,
                onnx_runtime.Int8Target.for_cpu(cpu_class(cpu), cpu.flags),
                threads,
                lambda: _fidelity_inputs(model),
                _fake_probability_of(model),
                lambda p: verdict_for(p, settings.threshold, settings.uncertain_band),
                require_fidelity=auto_int8,
            )
        except OnnxError as exc:
            logger.warning("ONNX Runtime int8 not used for %s: %s", model.info.name, exc)
            if auto_int8:
                choice = PrecisionChoice("fp32", choice.requested, choice.reason)
                runtime = choose_runtime("auto", mode)
            else:
                runtime = RuntimeChoice("torch", runtime.requested, "ONNX Runtime could not run it")
            details["runtime"], details["runtime_reason"] = runtime.runtime, runtime.reason
            details["runtime_failure"] = f"onnxruntime: {exc}"
        else:
            mode = "int8"
            if auto_int8:
                fidelity = backend.prepared.fidelity.describe()
                choice = PrecisionChoice(
                    "int8", "auto", f"{choice.reason}; int8 keeps the answers ({fidelity})"
                )
    if runtime.runtime == OpenVINOBackend.runtime:
        try:
            backend = OpenVINOBackend.prepare(model, mode, settings.cache_dir, threads)
        except GraphError as exc:
            logger.warning("OpenVINO not used for %s: %s", model.info.name, exc)
            details["runtime"] = TorchBackend.runtime
            details["runtime_reason"] = "OpenVINO could not run this model"
            details["runtime_failure"] = f"openvino: {exc}"
    if backend is None:
        backend = TorchBackend.prepare(model, mode, settings.num_threads or None)
    if backend.runtime == TorchBackend.runtime:
        import torch  # loaded already: the torch runtime runs the module

        threads = torch.get_num_threads()  # torch's own count, whoever set it
    report = backend.report
    report.requested_mode = choice.mode
    failures = [details.get("runtime_failure"), *reasons, report.fallback_reason]
    report.fallback_reason = "; ".join(dict.fromkeys(filter(None, failures))) or None
    details.update(backend.describe())
    details.update(
        {
            "requested": choice.mode,
            "setting": choice.requested,
            "reason": choice.reason,
            "fallback_reason": report.fallback_reason,
            "prepare_seconds": round(report.seconds, 3),
            "cpu": cpu.describe(),
            "cpu_class": cpu_class(cpu),
            "threads": threads,
        }
    )
    return Selection(choice, backend, details)


def _fidelity_inputs(model: Any) -> np.ndarray:
    """The noise probe and the bundled sample photos, as the model sees them."""
    from PIL import Image

    from fakescope.traffic import bundled_samples

    images = []
    for path in bundled_samples():
        with Image.open(path) as opened:
            images.append(opened.convert("RGB"))
    return onnx_runtime.fidelity_inputs(model, images)


def _fake_probability_of(model: Any) -> Any:
    """logits (n, labels) -> fake probability (n,), as the Predictor computes it."""
    fake_ids = [i for i, role in model.info.label_roles.items() if role == "fake"]
    multi_label = model.problem_type == "multi_label_classification"

    def fake_probability(logits: np.ndarray) -> np.ndarray:
        return fake_probabilities(logits, model.info.temperature, fake_ids, multi_label)

    return fake_probability
