"""Bandwidth of the quantization passes (the end-to-end overhead around the attention kernels).

Bytes counted: every input read and every output written once per pass (a two-pass op reads its
input twice), so GB/s compares directly with the GPU's memory bandwidth.

python bench/quant_bench.py [--seqlens 4096 16384]  -> prints GB/s per op (bytes read + written once).
"""

from __future__ import annotations

import argparse

import torch

from sageattention import _lib, quant
from sageattention._layout import GroupSpec

sm90 = None
if torch.cuda.is_available() and torch.cuda.get_device_capability() == (9, 0) and _lib.load("sm90"):
    from sageattention.kernels import sm90


def time_ms(fn, iters: int = 20) -> float:
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seqlens", type=int, nargs="+", default=[4096, 16384])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--headdim", type=int, default=128)
    args = ap.parse_args()
    b, h, d = args.batch, args.heads, args.headdim
    print(f"{'op':<32}{'N':>7}{'ms':>9}{'GB/s':>9}")
    for n in args.seqlens:
        x = torch.randn(b, h, n, d, device="cuda", dtype=torch.float16)
        elems = x.numel()
        mean, amax = quant.channel_stats(x, "HND", False)
        cases = {
            "channel_stats": (lambda: quant.channel_stats(x, "HND", False), elems * 2),
            "quant_int8 Q sm90 per_thread": (lambda: quant.quant_int8(x, "HND", GroupSpec(16, 8, 1), d, 128), elems * 3),
            "quant_int8 Q mma per_thread": (lambda: quant.quant_int8(x, "HND", GroupSpec(32, 8, 1), d, 128), elems * 3),
            "quant_int8 K +mean": (lambda: quant.quant_int8(x, "HND", GroupSpec(128, 8, 2), d, 128, mean), elems * 3),
            "smooth_quant_k (2 passes)": (lambda: quant.smooth_quant_k(x, "HND", GroupSpec(128, 8, 2), d, 128, True), elems * 5),
            "quant_v_fp8 (2 passes)": (lambda: quant.quant_v_fp8(x, "HND", 128, d), elems * 5),
        }
        if sm90 is not None and d <= 128:
            cases["quant_v_fp8_sm90 (1 pass)"] = (
                lambda: torch.ops.sageattention.quant_v_fp8_sm90(x, 0, 128, d, amax, None), elems * 3)
            q, k, v = x, torch.randn_like(x), torch.randn_like(x)
            cases["sm90.quantize Q+K+V separate"] = (
                lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False, fused=False), elems * 13)
            cases["sm90.quantize Q+K+V fused"] = (
                lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False), elems * 9)
        for name, (fn, nbytes) in cases.items():
            ms = time_ms(fn)
            print(f"{name:<32}{n:>7}{ms:>9.3f}{nbytes / ms / 1e6:>9.0f}")


if __name__ == "__main__":
    main()
