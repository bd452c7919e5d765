"""Host time of a repeated call with and without the call cache (sageattention/_call_cache.py), in one process and
interleaved: the host's CPU speed moves between processes, so only rows of one run compare.

    python bench/call_cache_ab.py
"""

from __future__ import annotations

import math
import sys
from typing import Callable

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.call_overhead import host_and_gpu_us  # noqa: E402
from sageattention import _call_cache, _lib  # noqa: E402
from sageattention.kernels import mma  # noqa: E402


def main() -> None:
    if not _lib.load("mma_fp16"):
        raise SystemExit(f"the mma_fp16 module does not load: {_lib.error('mma_fp16')}")
    q, k, v = (torch.randn(1, 128, 1, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    scale = 1 / math.sqrt(64)
    # (label, call, whether the call cache is in its path): the op and the kernel function lie below the cache, so
    # they run once per round; the entry points run with the cache and without it.
    runs: list[tuple[str, Callable[[], object], bool]] = [
        ("FP16 PV fused op alone", lambda: torch.ops.sageattention.sageattn_mma_f16.default(
            q, k, v, 1, False, True, True, scale, mma.FP16_PV_ACCUM["fp32"], False), False),
        ("FP16 PV kernel function (kernels/mma.py)", lambda: mma.qk_int8_pv_fp16(
            q, k, v, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_thread", sm_scale=scale,
            pv_accum_dtype="fp32", smooth_k=True, smooth_v=False, return_lse=False), False),
        ("sageattn_qk_int8_pv_fp16_cuda", lambda: sageattention.sageattn_qk_int8_pv_fp16_cuda(
            q, k, v, tensor_layout="NHD"), True),
        ("sageattn", lambda: sageattention.sageattn(q, k, v, tensor_layout="NHD"), True),
    ]
    real_lookup = _call_cache.lookup
    print(f"# {torch.cuda.get_device_name()}, B1 H1 N128 D64 NHD fp16; host us per call (200 calls, no syncs)")
    for rnd in range(2):
        for name, fn, behind_cache in runs:
            for cached in (True, False) if behind_cache else (True,):
                _call_cache.lookup = real_lookup if cached else (lambda key: None)
                host, _ = host_and_gpu_us(fn)
                label = f"{name} ({'cache' if cached else 'no cache'})" if behind_cache else name
                print(f"  round {rnd}: {label:52s} {host:7.1f}", flush=True)
    _call_cache.lookup = real_lookup


if __name__ == "__main__":
    main()
