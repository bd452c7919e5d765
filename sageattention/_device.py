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


def preferred_families(cap: tuple[int, int]) -> list[str]:
    """Kernel families to try in order for a compute capability (first that loads wins).

    sm_80/86/87: INT8 QK + FP16 PV. sm_89/sm_100/sm_120/sm_121: INT8 QK + FP8 PV (mma.sync).
    sm_90: the wgmma kernel, then FP16 PV: sm_90 has no native FP8 mma.sync (the compiler emulates it
    with two FP16 MMAs plus unpacking), so there the FP16-PV kernel is ~25% faster than FP8-PV.
    """
    if cap < (8, 0):
        return []
    if cap == (9, 0):
        return ["sm90", "mma_fp16", "mma_fp8"]
    if cap >= (8, 9):
        return ["mma_fp8", "mma_fp16"]
    return ["mma_fp16"]
