"""Precision modes: CPU detection, the choice of mode, and preparing real (tiny) models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from cpus import SKYLAKE_AVX512, SPR_AMX, ZEN3_AVX2, ZEN4_BF16
from torch import nn

from fakescope import Predictor
from fakescope.acceleration import (
    CPU_CLASSES,
    CpuInfo,
    accelerate,
    accelerated_report,
    choose_precision,
    cpu_class,
    describe_runtime,
    packed_linear_class,
    parse_cpu_info,
    read_cpu_info,
)
from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope.model import load_model

pytestmark = pytest.mark.unit

AMD_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R45
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
processor\t: 1
model name\t: AMD EPYC 9R45
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni
"""


def cpu(*flags: str) -> CpuInfo:
    return CpuInfo(model_name="test CPU", flags=frozenset(flags), capability="AVX512")


@pytest.mark.parametrize(
    ("flags", "mode", "unit"),
    [
        (("avx512f", "avx512_bf16"), "bf16", "AVX512-BF16"),
        (("avx512f", "amx_tile", "amx_bf16"), "bf16", "AMX"),
        (("avx512f", "avx512_vnni"), "fp32", None),
        ((), "fp32", None),
    ],
)
def test_choose_precision_auto_follows_cpu_flags(
    flags: tuple[str, ...], mode: str, unit: str | None
) -> None:
    choice = choose_precision("auto", cpu(*flags))
    assert choice.mode == mode and choice.requested == "auto"
    if unit:
        assert unit in choice.reason
    else:
        assert "no native bfloat16" in choice.reason


@pytest.mark.parametrize("mode", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("described_cpu", [SKYLAKE_AVX512, ZEN4_BF16, SPR_AMX])
def test_choose_precision_explicit_mode_is_honoured(mode: str, described_cpu: CpuInfo) -> None:
    assert choose_precision(mode, described_cpu).mode == mode


@pytest.mark.parametrize("mode", ["fp32", "int8"])
def test_choose_precision_explicit_fp32_and_int8_run_on_avx2(mode: str) -> None:
    assert choose_precision(mode, ZEN3_AVX2) == choose_precision(mode, ZEN4_BF16)


def test_choose_precision_bf16_on_avx512_without_bf16_is_emulated_and_says_so() -> None:
    choice = choose_precision("bf16", SKYLAKE_AVX512)
    assert SKYLAKE_AVX512.bf16_capable and not SKYLAKE_AVX512.native_bf16
    assert choice.mode == "bf16" and "emulates bfloat16" in choice.reason


@pytest.mark.parametrize("described_cpu", [ZEN3_AVX2, cpu(), cpu("avx512f", "avx512bw")])
def test_choose_precision_bf16_on_a_cpu_that_cannot_run_it_falls_back_to_fp32(
    described_cpu: CpuInfo,
) -> None:
    """oneDNN refuses bfloat16 without AVX-NE-CONVERT or AVX-512 BW+VL+DQ (issue 9: a traceback)."""
    choice = choose_precision("bf16", described_cpu)
    assert not described_cpu.bf16_capable
    assert choice.mode == "fp32" and choice.requested == "bf16"
    assert "this CPU cannot run bfloat16" in choice.reason and choice.reason.endswith("fp32")


def test_avx_ne_convert_counts_as_bf16_capable() -> None:
    assert cpu("avx2", "avx_ne_convert").bf16_capable
    assert choose_precision("bf16", cpu("avx2", "avx_ne_convert")).mode == "bf16"


def test_parse_cpu_info_reads_the_first_processor_and_records_the_capability() -> None:
    assert ZEN3_AVX2.model_name == "AMD EPYC 7B13" and ZEN3_AVX2.capability == "AVX2"
    assert "avx2" in ZEN3_AVX2.flags and not ZEN3_AVX2.native_bf16
    assert SPR_AMX.amx and SPR_AMX.native_bf16 and not ZEN4_BF16.amx
    assert parse_cpu_info("").flags == frozenset()


@pytest.mark.parametrize(
    ("described_cpu", "expected"),
    [
        (ZEN3_AVX2, "AVX2"),
        (SKYLAKE_AVX512, "AVX-512"),
        (ZEN4_BF16, "AVX-512+BF16"),
        (SPR_AMX, "AMX"),
    ],
)
def test_cpu_class_of_the_described_cpus(described_cpu: CpuInfo, expected: str) -> None:
    assert cpu_class(described_cpu) == expected and expected in CPU_CLASSES


def test_cpu_class_follows_the_flags_not_torchs_capability() -> None:
    # torch capped to AVX2 (ATEN_CPU_CAPABILITY=avx2) on an AMX Xeon is still an AMX machine.
    capped = CpuInfo(SPR_AMX.model_name, SPR_AMX.flags, capability="AVX2")
    assert cpu_class(capped) == "AMX"
    assert cpu_class(cpu("avx2", "avx_vnni", "avx_ne_convert")) == "AVX2"


@pytest.mark.parametrize(
    ("capability", "expected"), [("AVX512", "AVX-512"), ("AVX2", "AVX2"), ("DEFAULT", "other")]
)
def test_cpu_class_without_flags_falls_back_to_the_capability(
    capability: str, expected: str
) -> None:
    assert cpu_class(CpuInfo("", frozenset(), capability)) == expected


def test_cpu_class_of_a_cpu_without_avx2_is_other() -> None:
    assert cpu_class(parse_cpu_info("processor : 0\nFeatures : fp asimd sve\n", "DEFAULT")) == (
        "other"
    )


def test_choose_precision_unknown_mode_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="precision must be one of auto, fp32, bf16, int8"):
        choose_precision("fp16", cpu())


def test_choose_precision_reads_this_cpu_by_default() -> None:
    expected = "bf16" if read_cpu_info().native_bf16 else "fp32"
    assert choose_precision("auto").mode == expected


# --------------------------------------------------------------------------- accelerate


def logits_of(module: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return module(pixel_values=pixels).logits


@pytest.fixture
def pixels() -> torch.Tensor:
    return torch.rand((3, 3, 224, 224), generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_accelerate_fp32_keeps_the_answers(vit_dir: Path, pixels: torch.Tensor) -> None:
    module = load_model(vit_dir).module
    before = logits_of(module, pixels)
    report = accelerate(module, "fp32", probe_shape=(1, 3, 224, 224), compare=True)
    after = logits_of(module, pixels)
    assert report.mode == "fp32" and report.fallback_reason is None
    # 2 layers x (q, k, v, o, fc1, fc2) converted; the classifier is a head.
    assert report.converted == 12
    assert report.probe_delta is not None and report.probe_delta < 1e-5
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)
    assert accelerated_report(module) is report


def test_accelerate_bf16_runs_matmuls_in_bf16_and_keeps_the_head_fp32(
    vit_dir: Path, pixels: torch.Tensor
) -> None:
    module = load_model(vit_dir).module
    before = torch.softmax(logits_of(module, pixels), -1)
    report = accelerate(module, "bf16", probe_shape=(1, 3, 224, 224))
    after = logits_of(module, pixels)
    packed = packed_linear_class()
    layers = [m for m in module.modules() if isinstance(m, packed)]
    assert report.mode == "bf16" and report.converted == 12 and len(layers) == 13
    assert {m.compute_dtype for m in layers if m is not module.classifier} == {torch.bfloat16}
    assert module.classifier.compute_dtype == torch.float32
    assert after.dtype == torch.float32
    assert float((torch.softmax(after, -1) - before).abs().max()) < 0.01
    assert report.kernel in ("onednn-packed", "torch")
    assert all(m.original is None for m in layers)  # float32 copies freed


def test_accelerate_int8_quantizes_linear_layers(vit_dir: Path, pixels: torch.Tensor) -> None:
    module = load_model(vit_dir).module
    before = torch.softmax(logits_of(module, pixels), -1)
    report = accelerate(module, "int8", probe_shape=(1, 3, 224, 224))
    assert report.mode == "int8" and report.kernel == "dynamic-int8" and report.converted == 12
    assert isinstance(module.classifier, nn.Linear)  # the head stays float32
    after = torch.softmax(logits_of(module, pixels), -1)
    assert float((after - before).abs().max()) < 0.1


def test_accelerate_twice_is_refused(vit_dir: Path) -> None:
    module = load_model(vit_dir).module
    accelerate(module, "fp32")
    with pytest.raises(ConfigError, match="already prepared for fp32; load it again"):
        accelerate(module, "bf16")


def test_accelerate_unknown_mode_is_refused(vit_dir: Path) -> None:
    with pytest.raises(ConfigError, match="must be one of fp32, bf16, int8"):
        accelerate(load_model(vit_dir).module, "auto")


class Fp32Only(nn.Module):
    """A model whose float32 parameter meets a Linear output: bfloat16 cannot flow through it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.config = SimpleNamespace(num_labels=2)
        self.body = nn.Linear(12, 8)
        self.mix = nn.Parameter(torch.randn(8, 2))

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        hidden = self.body(pixel_values.mean(dim=(2, 3)).repeat(1, 4))
        return SimpleNamespace(logits=hidden @ self.mix)


def test_accelerate_falls_back_to_fp32_when_the_probe_fails() -> None:
    module = Fp32Only().eval()
    pixels = torch.rand(2, 3, 8, 8)
    before = logits_of(module, pixels)
    report = accelerate(module, "bf16", probe_shape=(1, 3, 8, 8))
    assert report.mode == "fp32" and report.requested_mode == "bf16"
    assert report.fallback_reason is not None and report.fallback_reason.startswith("bf16: ")
    assert "RuntimeError" in report.fallback_reason
    torch.testing.assert_close(logits_of(module, pixels), before, atol=1e-5, rtol=1e-5)


def test_accelerate_without_probe_does_not_check(vit_dir: Path) -> None:
    module = load_model(vit_dir).module
    report = accelerate(module, "bf16")
    assert report.mode == "bf16" and report.probe_delta is None


# --------------------------------------------------------------------------- Predictor


def test_predictor_records_the_precision_in_effect(vit_dir: Path, jpeg_bytes: bytes) -> None:
    predictor = Predictor(
        load_model(vit_dir), Settings(precision="bf16", runtime="torch"), cpu=ZEN4_BF16
    )
    assert predictor.info.precision == "bf16"
    details = predictor.info.extra["acceleration"]
    assert details["setting"] == "bf16" and details["reason"] == "set in settings"
    assert details["runtime"] == "torch" and details["runtime_reason"] == "set in settings"
    assert details["converted_layers"] == 12 and details["fallback_reason"] is None
    assert details["threads"] == torch.get_num_threads()
    (prediction,) = predictor.predict(jpeg_bytes)
    assert 0.0 <= prediction.fake_probability <= 1.0


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_predictor_bf16_on_an_avx2_cpu_runs_fp32_and_says_why(
    vit_dir: Path, jpeg_bytes: bytes, runtime: str
) -> None:
    """Issue 9: on an AVX2-only CPU, bf16 on torch was a RuntimeError traceback."""
    settings = Settings(precision="bf16", runtime=runtime)
    predictor = Predictor(load_model(vit_dir), settings, cpu=ZEN3_AVX2)
    assert predictor.info.precision == "fp32"
    details = predictor.info.extra["acceleration"]
    assert details["runtime"] == runtime and details["setting"] == "bf16"
    assert details["cpu"].startswith("AMD EPYC 7B13 (AVX2")
    assert "this CPU cannot run bfloat16" in describe_runtime(details)
    (prediction,) = predictor.predict(jpeg_bytes)
    assert 0.0 <= prediction.fake_probability <= 1.0


@pytest.mark.parametrize(
    ("described_cpu", "mode"), [(ZEN3_AVX2, "fp32"), (SKYLAKE_AVX512, "fp32"), (SPR_AMX, "bf16")]
)
def test_predictor_auto_precision_follows_the_described_cpu(
    vit_dir: Path, described_cpu: CpuInfo, mode: str
) -> None:
    predictor = Predictor(
        load_model(vit_dir), Settings(precision="auto", runtime="torch"), cpu=described_cpu
    )
    details = predictor.info.extra["acceleration"]
    assert details["requested"] == mode and details["setting"] == "auto"
    assert predictor.info.precision == mode


AVX2_ONEDNN = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def test_bf16_refused_by_onednn_falls_back_instead_of_raising(vit_dir: Path) -> None:
    """What an AVX2-only CPU does, made real on any x86 CPU: oneDNN limited to AVX2 raises on the
    first bf16 weight it packs. accelerate() must keep the model usable (plain torch bf16 when the
    packed kernel is refused, fp32 when packing raises), never leave it half converted."""
    code = f"""
import json, torch
from fakescope import acceleration
from fakescope.model import load_model
module = load_model({str(vit_dir)!r}).module
pixels = torch.from_numpy(acceleration.probe_input((2, 3, 224, 224), seed=3))
with torch.inference_mode():
    before = torch.softmax(module(pixel_values=pixels).logits, -1)
plain = acceleration.accelerate(module, "bf16", probe_shape=(1, 3, 224, 224))
forced = load_model({str(vit_dir)!r}).module
acceleration._onednn_ok = lambda dtype=None: True  # pack even where oneDNN refuses bf16
report = acceleration.accelerate(forced, "bf16", probe_shape=(1, 3, 224, 224))
with torch.inference_mode():
    after = torch.softmax(forced(pixel_values=pixels).logits, -1)
print(json.dumps({{"plain": [plain.mode, plain.kernel], "forced": [report.mode, report.kernel],
    "reason": report.fallback_reason, "delta": float((after - before).abs().max())}}))
"""
    env = {**os.environ, **AVX2_ONEDNN}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["plain"] == ["bf16", "torch"]  # oneDNN refused bf16: plain torch bf16 runs
    assert outcome["forced"] == ["fp32", "onednn-packed"]
    assert outcome["reason"].startswith("bf16: RuntimeError: ")
    assert "bf16 path needs the cpu support" in outcome["reason"]
    assert outcome["delta"] < 1e-5  # the fp32 fallback answers as the model loaded did


def test_predictor_auto_precision_matches_the_cpu(vit_dir: Path) -> None:
    predictor = Predictor(load_model(vit_dir), Settings(precision="auto"))
    details = predictor.info.extra["acceleration"]
    by_cpu = choose_precision("auto").mode
    # Without native bfloat16, a transformer runs int8 where int8 keeps the answers.
    assert details["requested"] in ({by_cpu, "int8"} if by_cpu == "fp32" else {by_cpu})
    assert details["setting"] == "auto"
    # What runs is the request, or fp32 with the reason when this CPU's kernels refused it.
    assert predictor.info.precision == details["requested"] or (
        predictor.info.precision == "fp32" and details["fallback_reason"]
    )


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_predictor_bf16_agrees_with_fp32(vit_dir: Path, runtime: str) -> None:
    from conftest import encode, photo_like

    host = read_cpu_info()
    if runtime == "openvino" and not host.native_bf16:
        pytest.skip("needs avx512_bf16 or amx_bf16: OpenVINO keeps f32 on this CPU")
    if not host.bf16_capable:
        pytest.skip("needs avx512bw+avx512vl+avx512dq or avx_ne_convert: no bf16 on this CPU")

    images = [encode(photo_like(320, 240, seed=s)) for s in range(4)]
    fp32 = Predictor(load_model(vit_dir), Settings(precision="fp32", runtime="torch"))
    bf16 = Predictor(load_model(vit_dir), Settings(precision="bf16", runtime=runtime))
    assert bf16.info.extra["acceleration"]["runtime"] == runtime
    for a, b in zip(fp32.predict(images), bf16.predict(images)):
        assert abs(a.fake_probability - b.fake_probability) < 0.01


def test_predictor_shares_a_prepared_model_of_the_same_precision(vit_dir: Path) -> None:
    loaded = load_model(vit_dir)
    first = Predictor(loaded, Settings(precision="fp32", runtime="torch"))
    second = Predictor(loaded, Settings(precision="fp32", runtime="torch"))
    assert second.acceleration is first.acceleration
    with pytest.raises(ConfigError, match="already prepared for fp32; load it again"):
        Predictor(loaded, Settings(precision="bf16", runtime="torch"), cpu=ZEN4_BF16)


def test_predictor_draft_size_only_in_resize_mode(vit_dir: Path, resnet_dir: Path) -> None:
    resize = Predictor(load_model(vit_dir), Settings(precision="fp32"))
    assert resize._draft_size() == (448, 448)
    crops = Predictor(load_model(resnet_dir), Settings(precision="fp32"))
    assert crops._draft_size() is None


def test_predictor_warm_up_covers_each_batch_size(resnet_dir: Path) -> None:
    predictor = Predictor(load_model(resnet_dir), Settings(precision="fp32"))
    assert predictor.warm_up((1, 4, 4)) > 0.0


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_cnn_without_linear_layers_reports_fp32(resnet_dir: Path, runtime: str) -> None:
    """Only the head is a Linear layer: bf16 would change nothing on torch, and on OpenVINO it
    would run the convolutions in bf16 (too far from fp32 on the demo CNN), so both run fp32."""
    predictor = Predictor(
        load_model(resnet_dir), Settings(precision="bf16", runtime=runtime), cpu=ZEN4_BF16
    )
    assert predictor.info.precision == "fp32"
    details = predictor.info.extra["acceleration"]
    assert details["runtime"] == runtime
    assert details["fallback_reason"] == "bf16: the model has no Linear layer to convert"
    assert "(set in settings; bf16: the model has no Linear layer to convert" in describe_runtime(
        details
    )
