"""Device capability (cached: looked up once per device, not per call) and the kernel choice per arch."""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=None)
def capability(device_index: int) -> tuple[int, int]:
    return torch.cuda.get_device_capability(device_index)


def capability_of(t: torch.Tensor) -> tuple[int, int]:
    index = t.device.index if t.device.index is not None else torch.cuda.current_device()
    return capability(index)


# Majors whose FP8 (e4m3) mma.sync the compiler emulates: nvcc 13.0 lowers it on sm_90 and sm_100 to F2FP unpacks into
# two f16 HMMAs, where sm_89 and sm_120/121 get a native QMMA (tests/cpu/test_extension_build.py compiles one for
# every supported arch and checks this set against the SASS). Every 10.x GPU runs the sm_100 cubin. On the H100 the
# emulated FP8-PV kernel reads 32 % below the FP16-PV one at D=128 N=16K (kernel alone 332 against 486 TOPS; 300
# against 420 at D=64; bench/results/issues_h100_s39.md), and FP16 PV is also the more accurate of the two.
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
