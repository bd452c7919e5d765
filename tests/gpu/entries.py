"""The public kernel entry points, the GPUs each runs on and its relative-L1 bound against float64 at randn inputs
(FP8 PV's e4m3 rounding ~0.038, INT8 PV ~0.025, FP16 PV ~0.01; `sageattn` is FP8 PV on sm_89+), for tests that
call every entry point alike."""

from __future__ import annotations

import pytest
import torch

from sageattention import _device

ENTRIES = {  # entry: (capability it needs, whether exactly that one, rel-L1 bound against float64)
    "sageattn": ((8, 0), False, 0.06),
    "sageattn_qk_int8_pv_fp16_cuda": ((8, 0), False, 0.03),
    "sageattn_qk_int8_pv_fp16_triton": ((8, 0), False, 0.03),
    "sageattn_qk_int8_pv_fp8_cuda": ((8, 9), False, 0.06),
    "sageattn_qk_int8_pv_fp8_cuda_sm90": ((9, 0), True, 0.06),
    "sageattn_qk_int8_pv_fp16_cuda_sm90": ((9, 0), True, 0.03),
    "sageattn_qk_int8_pv_int8_cuda_sm90": ((9, 0), True, 0.05),
}


def lse_bound(entry: str) -> float:
    """The LSE's bound against float64: the INT8-PV kernel's is that of its rounded weights, which on flat rows of
    many keys falls short of float64's by up to ~0.13 (README, bench/results/pv_int8_lse_model.md)."""
    return 0.15 if entry == "sageattn_qk_int8_pv_int8_cuda_sm90" else 0.05


def skip_unless_this_gpu_runs(entry: str) -> float:
    """Skips (with the reason) where this GPU cannot run `entry`; else its rel-L1 bound."""
    need, exact, bound = ENTRIES[entry]
    cap = _device.capability(torch.cuda.current_device())
    if (cap != need) if exact else (cap < need):
        pytest.skip(f"{entry} needs sm_{need[0]}{need[1]}{'' if exact else ' or newer'}")
    return bound
