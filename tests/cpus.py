"""CPUs as their /proc/cpuinfo describes them, for tests of CPU-dependent branches.

Tests drive precision and runtime choices with these descriptions (parsed by the real parser)
instead of the host's flags, so every branch runs on every machine: an AVX2-only AMD EPYC, an
AVX-512 Xeon without bfloat16, an AVX512-BF16 EPYC and an AMX Xeon alike.
"""

from __future__ import annotations

from fakescope.acceleration import CpuInfo, parse_cpu_info


def described(model: str, flags: str, capability: str) -> CpuInfo:
    """A CPU as its /proc/cpuinfo describes it (the parser runs, not the host)."""
    text = f"processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags}\n"
    return parse_cpu_info(text, capability)


# Flags trimmed to the ones that matter here.
ZEN3_AVX2 = described("AMD EPYC 7B13", "fpu sse2 avx avx2 fma f16c", "AVX2")
SKYLAKE_AVX512 = described(
    "Intel Xeon Platinum 8175M", "fpu avx2 fma avx512f avx512dq avx512bw avx512vl", "AVX512"
)
ZEN4_BF16 = described(
    "AMD EPYC 9R14", "fpu avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16", "AVX512"
)
SPR_AMX = described(
    "Intel Xeon Platinum 8488C",
    "fpu avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 amx_tile amx_bf16",
    "AVX512",
)
