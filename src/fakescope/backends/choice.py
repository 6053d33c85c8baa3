"""Runtimes behind one interface, and the one function that picks one.

The Predictor asks :func:`choose_backend` for a :class:`~fakescope.backends.base.Backend` and
then only calls ``forward``: which runtime, which precision and which fallback are decided here,
from the parsed CPU description and the settings, and nowhere else. One module per runtime:

* :mod:`fakescope.backends.torch_backend`: the transformers module, converted in place
  (:mod:`fakescope.acceleration`);
* :mod:`fakescope.backends.openvino_backend`: an exported, cached, compiled graph
  (:mod:`fakescope.openvino_runtime`).

Imports go one way: ``backends`` -> ``acceleration`` / ``openvino_runtime`` -> ``probe``; neither
runtime module imports the other or this package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fakescope.acceleration import (
    NO_LINEAR_REASON,
    CpuInfo,
    PrecisionChoice,
    accelerated_report,
    choose_precision,
    convertible_linear_count,
    read_cpu_info,
)
from fakescope.backends import openvino_backend
from fakescope.backends.base import Backend
from fakescope.backends.openvino_backend import OpenVINOBackend
from fakescope.backends.torch_backend import TorchBackend
from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope import openvino_runtime
from fakescope.openvino_runtime import GraphError

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", TorchBackend.runtime, OpenVINOBackend.runtime)


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
    torch with the reason; ``torch`` always gives torch.

    Raises:
        ConfigError: ``requested`` is not one of :data:`RUNTIMES`.
    """
    if requested not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {requested!r}")
    if requested == "torch":
        return RuntimeChoice("torch", requested, "set in settings")
    if mode not in openvino_backend.MODES:
        return RuntimeChoice(
            "torch", requested, f"OpenVINO runs fp32 or bf16 only; {mode} runs on torch"
        )
    version = openvino_runtime.openvino_version()
    if version is None:
        return RuntimeChoice("torch", requested, "OpenVINO is not installed")
    origin = "auto" if requested == "auto" else "set in settings"
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

    ``auto`` picks bf16 on CPUs with AVX512-BF16/AMX, else fp32; OpenVINO runs it when it is
    installed and can export the model, else torch (the reason is kept). A CNN (no Linear layer
    but its head) runs fp32 on either runtime.

    Raises:
        ConfigError: the model was already prepared for another precision.
    """
    import torch

    cpu = cpu or read_cpu_info()
    choice = choose_precision(settings.precision, cpu)
    existing = accelerated_report(model.module)
    if existing is not None:
        # A LoadedModel shared by several Predictors is prepared once; another precision
        # cannot be had without reloading the float32 weights.
        if choice.mode not in (existing.mode, existing.requested_mode):
            raise ConfigError(
                f"model {model.info.name} is already prepared for {existing.mode}; "
                f"load it again to run it in {choice.mode}"
            )
        return Selection(choice, TorchBackend(model, existing))
    runtime = choose_runtime(settings.runtime, choice.mode)
    details: dict[str, Any] = {"runtime": runtime.runtime, "runtime_reason": runtime.reason}
    mode, reasons = choice.mode, []
    if mode != "fp32" and convertible_linear_count(model.module) == 0:
        # A CNN runs fp32 on either runtime: torch would have nothing to convert, and
        # OpenVINO would run its convolutions in bf16 (see convertible_linear_count).
        mode = "fp32"
        reasons.append(f"{choice.mode}: {NO_LINEAR_REASON}")
    backend: Backend | None = None
    if runtime.runtime == OpenVINOBackend.runtime:
        try:
            backend = OpenVINOBackend.prepare(
                model, mode, settings.cache_dir, torch.get_num_threads()
            )
        except GraphError as exc:
            logger.warning("OpenVINO not used for %s: %s", model.info.name, exc)
            details["runtime"] = TorchBackend.runtime
            details["runtime_reason"] = "OpenVINO could not run this model"
            details["runtime_failure"] = f"openvino: {exc}"
    if backend is None:
        backend = TorchBackend.prepare(model, mode)
    report = backend.report
    report.requested_mode = choice.mode
    failures = [details.get("runtime_failure"), *reasons, report.fallback_reason]
    report.fallback_reason = "; ".join(filter(None, failures)) or None
    details.update(backend.describe())
    details.update(
        {
            "requested": choice.mode,
            "setting": choice.requested,
            "reason": choice.reason,
            "fallback_reason": report.fallback_reason,
            "prepare_seconds": round(report.seconds, 3),
            "cpu": cpu.describe(),
            "threads": torch.get_num_threads(),
        }
    )
    return Selection(choice, backend, details)
