"""Small-shape sweep over the sm90 attention kernel's variants, for compute-sanitizer:
compute-sanitizer --tool memcheck --error-exitcode 9 python bench/sm90_sanitize_sweep.py

Both accumulations (D256: single level only), the 16-bit PV kernel and the INT8-PV kernel, causal and not, D64/D128/D256, GQA, qo_len != kv_len, fp16 and bf16; each shape on the default grid
and on a few CTAs (SAGEATTENTION_SM90_CTAS=3: one 2-CTA cluster or three CTAs walking many work items), so the ring
and Q-slot phases, the cluster hand-over and the end-of-walk paths all run. --quick: one call per kernel (racecheck).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import torch

sys.path.insert(0, ".")
from sageattention.kernels import sm90

# (head dim, causal, qo_len, kv_len, hq, hkv, dtype). D128 non-causal with an even number of 128-row q tiles per head
# runs the multicast (2-CTA cluster) kernel with the single-level accumulation.
SHAPES = [
    (128, True, 700, 300, 4, 2, torch.float16),
    (64, False, 600, 600, 4, 2, torch.bfloat16),
    (128, False, 1000, 257, 4, 2, torch.float16),
    (128, False, 129, 129, 2, 2, torch.bfloat16),
    (64, True, 300, 900, 4, 2, torch.float16),
    (256, False, 500, 333, 4, 2, torch.bfloat16),
    (256, True, 300, 700, 4, 2, torch.float16),
    (200, True, 257, 257, 2, 1, torch.float16),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="default grid only, one accumulation per shape")
    args = ap.parse_args()
    torch.manual_seed(0)
    calls = 0
    for ctas in (None,) if args.quick else (None, "3"):
        if ctas:
            os.environ["SAGEATTENTION_SM90_CTAS"] = ctas
        for d, causal, qo, kv, hq, hkv, dtype in SHAPES:
            q = torch.randn(2, hq, qo, d, device="cuda", dtype=dtype)
            k, v = (torch.randn(2, hkv, kv, d, device="cuda", dtype=dtype) for _ in range(2))
            for acc in ("fp32",) if args.quick or d > 128 else ("fp32", "fp32+fp32"):
                out, _ = sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout="HND", is_causal=causal,
                                                  qk_quant_gran="per_thread", sm_scale=1 / math.sqrt(d),
                                                  pv_accum_dtype=acc, smooth_k=True, smooth_v=calls % 2 == 1,
                                                  return_lse=True)
                calls += 1
                if not torch.isfinite(out).all():
                    sys.exit(f"non-finite output: D{d} causal={causal} {qo}x{kv} {acc} ctas={ctas}")
            if sm90._has_pv16_op():
                out, _ = sm90.qk_int8_pv16_sm90(q, k, v, tensor_layout="HND", is_causal=causal,
                                                qk_quant_gran="per_thread", sm_scale=1 / math.sqrt(d),
                                                pv_accum_dtype="fp32", smooth_k=True, smooth_v=False, return_lse=True)
                calls += 1
                if not torch.isfinite(out).all():
                    sys.exit(f"non-finite output: 16-bit PV D{d} causal={causal} {qo}x{kv} ctas={ctas}")
            if sm90._has_pv_int8_op():
                out, _ = sm90.qk_int8_pv_int8_sm90(q, k, v, tensor_layout="HND", is_causal=causal,
                                                   qk_quant_gran="per_thread", sm_scale=1 / math.sqrt(d),
                                                   pv_accum_dtype="int32", smooth_k=True, smooth_v=calls % 2 == 0,
                                                   return_lse=True)
                calls += 1
                if not torch.isfinite(out).all():
                    sys.exit(f"non-finite output: INT8 PV D{d} causal={causal} {qo}x{kv} ctas={ctas}")
        os.environ.pop("SAGEATTENTION_SM90_CTAS", None)
    torch.cuda.synchronize()
    print(f"sm90 sanitize sweep done: {calls} calls")


if __name__ == "__main__":
    main()
