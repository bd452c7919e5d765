"""Small-shape sweep over every mma.sync kernel variant, for compute-sanitizer:
compute-sanitizer --tool memcheck --error-exitcode 9 python bench/mma_sanitize_sweep.py
Run it once more with SAGEATTENTION_MMA_PAIRED_QUANT=0 for the separate quantization launches (the default pairs
them); then calls with 2100 keys (9 statistics slices: the finalize launch, where the short ones fold it into the
quantization), and calls whose grids span several waves."""

from __future__ import annotations

import itertools
import math
import sys

import torch

sys.path.insert(0, ".")
from sageattention.kernels import mma

torch.manual_seed(0)
count = 0
for fp8, d, causal, acc_i, gran in itertools.product((False, True), (40, 64, 128, 256), (False, True), range(3),
                                                     ("per_warp", "per_thread")):
    acc = (mma.FP8_PV_ACCUM if fp8 else mma.FP16_PV_ACCUM)
    acc = list(acc)[acc_i]
    if acc == "fp32+fp16" and not mma.fp8_f16_accum_available():
        continue
    layout = "NHD" if (d + acc_i) % 2 else "HND"
    nq, nk = (77, 130) if causal else (130, 77)
    hq, hkv = 4, 2
    dtype = torch.bfloat16 if acc_i == 1 else torch.float16
    q, k, v = (torch.randn((1, h, n, d) if layout == "HND" else (1, n, h, d), device="cuda", dtype=dtype)
               for h, n in ((hq, nq), (hkv, nk), (hkv, nk)))
    fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
    out, lse = fn(q, k, v, tensor_layout=layout, is_causal=causal, qk_quant_gran=gran, sm_scale=1 / math.sqrt(d),
                  pv_accum_dtype=acc, smooth_k=True, smooth_v=acc_i == 0, return_lse=True)
    torch.cuda.synchronize()
    assert torch.isfinite(out).all()
    count += 1
# Longer calls, as (heads, q length, kv heads, kv length, head dim): 2100 keys (9 statistics slices: the finalize
# launch, where the short ones fold it into the quantization), and grids of several waves (1024 paired quantization
# tiles at D = 64, K's statistics folded in: a persistent build of the paired launch, an A/B switch, then loops over
# tiles and stages the next one).
for (hq, nq, hkv, nkv, d), fp8 in itertools.product(((4, 100, 2, 2100, 128), (32, 2048, 32, 2048, 64)), (False, True)):
    q = torch.randn(1, hq, nq, d, device="cuda", dtype=torch.float16)
    k, v = (torch.randn(1, hkv, nkv, d, device="cuda", dtype=torch.float16) for _ in range(2))
    fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
    out = fn(q, k, v, tensor_layout="HND", is_causal=False, qk_quant_gran="per_thread", sm_scale=1 / math.sqrt(d),
             pv_accum_dtype="fp32", smooth_k=True, smooth_v=fp8, return_lse=False)
    torch.cuda.synchronize()
    assert torch.isfinite(out).all()
    count += 1
print(f"sanitize sweep: {count} kernel calls done")
