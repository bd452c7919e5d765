"""Bit-for-bit comparison of two sm90 module builds that must give identical results (a scheduling change,
not a numerical one): run `save` with one build and `check` with the other, in separate processes.

    python bench/sm90_bitwise.py save FILE      # outputs and LSEs of a fixed set of calls
    python bench/sm90_bitwise.py check FILE     # the same calls; exit 1 unless every tensor is identical

The calls cover both head dims, both accumulations, causal and not, fp16 and bf16, both scale granularities,
GQA, odd lengths, and keys whose row maxima keep growing, settle, or sit in the first step.
"""

from __future__ import annotations

import itertools
import math
import sys

import torch

sys.path.insert(0, ".")
from sageattention.kernels import sm90  # noqa: E402


def cases():
    lengths = ((1000, 1000), (129, 3000), (4096, 4096), (700, 300))
    for d, accum, causal, dtype, gran, (qo, kv), growth in itertools.product(
            (64, 128), ("fp32", "fp32+fp32"), (False, True), (torch.float16, torch.bfloat16),
            ("per_thread", "per_warp"), lengths, (0.0, 1.0, -1.0)):
        if (dtype == torch.bfloat16) and (gran == "per_warp" or growth != 0.0):  # thin the product
            continue
        yield d, accum, causal, dtype, gran, qo, kv, growth


def inputs(seed: int, d: int, dtype: torch.dtype, qo: int, kv: int, growth: float,
           batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HND q (4 heads, offset by 0.5), k and v (2 heads, GQA); each key row grows by growth / 64 per token, so that
    row maxima keep rising (> 0), settle (0) or sit in the first step (< 0)."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    q = torch.randn(batch, 4, qo, d, device="cuda", dtype=dtype, generator=g) + 0.5
    k, v = (torch.randn(batch, 2, kv, d, device="cuda", dtype=dtype, generator=g) for _ in range(2))
    return q, k + (growth / 64) * torch.arange(kv, device="cuda", dtype=dtype)[:, None], v


def outputs() -> list[torch.Tensor]:
    got = []
    for i, (d, accum, causal, dtype, gran, qo, kv, growth) in enumerate(cases()):
        q, k, v = inputs(i, d, dtype, qo, kv, growth)
        out, lse = sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran=gran,
                                            sm_scale=1 / math.sqrt(d), pv_accum_dtype=accum, smooth_k=True,
                                            smooth_v=False, return_lse=True)
        got += [out.cpu(), lse.cpu()]
    return got


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    got = outputs()
    if mode == "save":
        torch.save(got, path)
        print(f"saved {len(got)} tensors from {len(got) // 2} calls")
        return
    want = torch.load(path)
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if not torch.equal(a.view(torch.uint8), b.view(torch.uint8))]
    print(f"{len(got) // 2} calls, {len(got)} tensors: {len(bad)} differ" + (f" (first: {bad[:5]})" if bad else ""))
    sys.exit(1 if bad or len(got) != len(want) else 0)


if __name__ == "__main__":
    main()
