"""End-to-end TOPS (N=16K, B4 H32) of the mma.sync FP16-PV kernel per PV accumulation, and its
accuracy vs float64 at N=4K.  python bench/mma_accum_ab.py"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import torch

sys.path.insert(0, ".")
from sageattention import reference as R  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import mma  # noqa: E402


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, acc: str) -> torch.Tensor:
    out = mma.qk_int8_pv_fp16(q, k, v, tensor_layout="HND", is_causal=False, qk_quant_gran="per_thread",
                              sm_scale=1 / math.sqrt(q.shape[-1]), pv_accum_dtype=acc, smooth_k=True,
                              smooth_v=False, return_lse=False)
    return out[0] if isinstance(out, tuple) else out


def tops(fn: Callable[[], object], flops: float) -> float:
    return flops / (time_ms(fn) / 1e3) / 1e12


def main() -> None:
    torch.manual_seed(0)
    for d in (128, 64):
        q, k, v = (torch.randn(1, 4, 4096, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ref, _ = R.attention_fp64(q, k, v, False)
        qb, kb, vb = (torch.randn(4, 32, 16384, d, device="cuda", dtype=torch.float16) for _ in range(3))
        for acc in mma.FP16_PV_ACCUM:
            rel = R.rel_l1(attention(q, k, v, acc), ref)
            t = tops(lambda acc=acc: attention(qb, kb, vb, acc), 4.0 * 4 * 32 * 16384 * 16384 * d)  # noqa: B023
            print(f"mma fp16-PV D{d} accum={acc:10s} e2e N=16K {t:6.1f} TOPS   rel-L1 N=4K {rel:.4f}", flush=True)


if __name__ == "__main__":
    main()
