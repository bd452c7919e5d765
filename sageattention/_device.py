"""Device capability (cached: looked up once per device, not per call) and the kernel choice per arch."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=None)
def capability(device_index: int) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device_index)


def index_of(t: torch.Tensor) -> int:
    return t.device.index if t.device.index is not None else torch.cuda.current_device()


def capability_of(t: torch.Tensor) -> tuple[int, int]:
    return capability(index_of(t))


# Majors whose FP8 (e4m3) mma.sync the compiler emulates: nvcc 13.0 lowers it on sm_90 and sm_100 to F2FP unpacks into
# two f16 HMMAs, where sm_89 and sm_120/121 get a native QMMA (tests/cpu/test_extension_build.py compiles one for
# every supported arch and checks this set against the SASS). Every 10.x GPU runs the sm_100 cubin. On the H100 the
# emulated FP8-PV kernel reads 24-26 % below the FP16-PV one at N=16K (kernel alone, "fp32+fp32": D=128 360 against
# 476 TOPS, D=64 312 against 424; bench/results/fp8_subk64_final_h100_s41.md), and FP16 PV is also the more accurate.
FP8_MMA_EMULATED_MAJORS = frozenset({9, 10})


def fp8_mma_native(cap: tuple[int, int]) -> bool:
    """Whether this compute capability runs FP8 mma.sync on its tensor cores (sm_89 and newer, but not sm_90/sm_10x)."""
    return cap >= (8, 9) and cap[0] not in FP8_MMA_EMULATED_MAJORS


def preferred_families(cap: tuple[int, int]) -> list[str]:
    """Kernel families to try in order for a compute capability (first that loads wins).

    sm_80/86/87: INT8 QK + FP16 PV. sm_89/sm_120/sm_121: INT8 QK + FP8 PV (mma.sync). sm_90: the wgmma kernel, then
    FP16 PV. sm_100: FP16 PV, then FP8 PV: there, as on sm_90, FP8 mma.sync is emulated (FP8_MMA_EMULATED_MAJORS).
    """
    if cap < (8, 0):
        return []
    if cap == (9, 0):
        return ["sm90", "mma_fp16", "mma_fp8"]
    if fp8_mma_native(cap):
        return ["mma_fp8", "mma_fp16"]
    return ["mma_fp16", "mma_fp8"] if cap >= (8, 9) else ["mma_fp16"]


@functools.lru_cache(maxsize=None)
def name(device_index: int) -> str:
    return torch.cuda.get_device_name(device_index)


# Compute capabilities whose GeForce boards run FP16 mma.sync with an fp32 accumulator at half the rate of an f16
# accumulator (NVIDIA's GA102 and AD102 whitepapers: RTX 3090 71 against 142 dense FP16 tensor TFLOPS, RTX 4090 165
# against 330), where their professional and data-center boards (RTX A6000, A40, L40) run both at one rate, as the
# A100 and H100 do. sm_120 is left out until its boards' rates are known here.
F32_ACCUM_HALF_RATE_GEFORCE_CAPS = frozenset({(8, 6), (8, 9)})


def f32_accum_half_rate(cap: tuple[int, int], device_name: str) -> bool:
    """Whether this GPU's FP16 MMA accumulating in fp32 runs at half the rate of one accumulating in f16."""
    return cap in F32_ACCUM_HALF_RATE_GEFORCE_CAPS and "GeForce" in device_name


def fp16_pv_accum(device_index: int) -> str:
    """The FP16-PV kernel's accumulation sageattn runs on this GPU when the call leaves pv_accum_dtype open.

    "fp16+fp32" (a fresh f16 accumulator per K/V tile, added into fp32 O) where the fp32 accumulator runs at half
    rate: there it doubles the rate of the PV MMAs, half of the multiply-adds and the slower half (FP16 against INT8
    QK). "fp32" elsewhere, where the extra adds cost 8-16 % (H100, bench/results/fp16_accums_h100_s40.md). The kernel
    scales P by 1/64 for f16 accumulators, so no f16 V overflows a tile's sum (csrc/common/mma/attn_mainloop.cuh,
    kF16AccumLog2Scale)."""
    return "fp16+fp32" if f32_accum_half_rate(capability(device_index), name(device_index)) else "fp32"


def fp16_pv_accum_of(t: torch.Tensor) -> str:
    """fp16_pv_accum for t's GPU; "fp32" (the explicit function's default) for a tensor on no GPU, which reaches the
    dispatch only in tests that route it to a stand-in kernel."""
    return fp16_pv_accum(index_of(t)) if t.device.type == "cuda" else "fp32"
