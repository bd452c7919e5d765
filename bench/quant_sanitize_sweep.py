"""Small-shape sweep over the fused sm90 quantization pass (`quant_qkv_sm90`), for compute-sanitizer:
compute-sanitizer --tool memcheck --error-exitcode 9 python bench/quant_sanitize_sweep.py [--quick]

Covers what selects a different code path inside the pass: both layouts, every padded head dim, fp16 and
bf16, 16-byte aligned rows and not (the scalar-load kernels), one chunk to many chunks per K/V head (a
cluster of one CTA, clusters that reload their chunks), GQA, both scale granularities and every
smoothing flag. The attention kernels have their own sweeps (gpu_wheel_check.sh).

--quick: eight calls, one per path that matters to racecheck / synccheck (slow tools): smoothed K and V
heads whose clusters meet at the barrier (with and without a V mean, one chunk to chunks reloaded per
CTA), and the plain Q / K runs; both layouts, D 40-128, bf16.
"""

from __future__ import annotations

import itertools
import sys

import torch

sys.path.insert(0, ".")
from sageattention import _lib  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def make(layout: str, h: int, n: int, d: int, dtype: torch.dtype, extra: int) -> torch.Tensor:
    shape = (1, h, n, d + extra) if layout == "HND" else (1, n, h, d + extra)
    return torch.randn(*shape, device="cuda", dtype=dtype)[..., :d]


def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: str, per_thread: bool, smooth_k: bool,
        smooth_v: bool, dp: int) -> None:
    """One call of the pass; its outputs must be finite (the sanitizer reports the memory side)."""
    out = torch.ops.sageattention.quant_qkv_sm90(q, k, v, 0 if layout == "HND" else 1, per_thread, smooth_k,
                                                 smooth_v, dp)
    torch.cuda.synchronize()
    assert all(bool(torch.isfinite(t.float()).all()) for t in out if t.numel()), (layout, q.dtype, tuple(q.shape), tuple(k.shape))


def quick() -> int:
    count = 0
    # (d, qo_len, kv_len, layout, smooth_v): 5000 keys at D64 give clusters of 3 chunks per CTA (reloads).
    for d, nq, nk, layout, smooth_v in ((128, 300, 700, "HND", False), (40, 17, 129, "NHD", True),
                                        (96, 1, 1, "HND", True), (64, 200, 5000, "NHD", False),
                                        (256, 130, 3000, "NHD", True)):
        q = make(layout, 4, nq, d, torch.bfloat16, 0)
        k, v = (make(layout, 2, nk, d, torch.bfloat16, 0) for _ in range(2))
        for smooth_k in (True, False):
            run(q, k, v, layout, True, smooth_k, smooth_v, sm90.padded_head_dim(d))
            count += 1
    return count


def main() -> None:
    _lib.require("sm90", "the fused quantization pass")
    torch.manual_seed(0)
    if "--quick" in sys.argv[1:]:
        print(f"quant sanitize sweep (quick): {quick()} quant_qkv_sm90 calls done")
        return
    count = 0
    # (qo_len, kv_len): single rows, odd tails, a head of 14 chunks (the pass reloads chunks), 16 CTAs of 2.
    lengths = ((1, 1), (17, 127), (300, 1000), (129, 1800), (64, 4096))
    for layout, d, dtype, extra, (nq, nk) in itertools.product(("HND", "NHD"), (32, 64, 96, 128, 200, 256),
                                                                (torch.float16, torch.bfloat16), (0, 3), lengths):
        if (d + extra + nq) % 3 == 0 and dtype == torch.bfloat16:  # thin the product; every axis still varies
            continue
        per_thread = (d // 32 + nk) % 2 == 0
        smooth_k, smooth_v = (count % 4) in (0, 1), (count % 4) in (1, 2)
        q = make(layout, 4, nq, d, dtype, extra)
        k, v = (make(layout, 2, nk, d, dtype, extra) for _ in range(2))
        run(q, k, v, layout, per_thread, smooth_k, smooth_v, sm90.padded_head_dim(d))
        count += 1
    print(f"quant sanitize sweep: {count} quant_qkv_sm90 calls done")


if __name__ == "__main__":
    main()
