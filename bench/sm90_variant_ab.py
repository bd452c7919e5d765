"""A/B of sm90 kernel builds in one process each (run once per build, same GPU): kernel-only TOPS on
pre-quantized inputs for both accumulations, plus accuracy vs float64 at N=4K.

    python bench/sm90_variant_ab.py LABEL
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import accuracy, kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def kernel_tops(n: int, d: int, causal: bool, two_level: bool) -> float:
    b, h = 4, 32
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)

    flops = 4.0 * b * h * n * n * d / (2 if causal else 1)
    return flops / (time_ms(kernel_only(q, ops, n, causal, two_level)) / 1e3) / 1e12


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    torch.manual_seed(0)
    for d, acc, n in ((64, "fp32", 4096), (128, "fp32+fp32", 4096), (128, "fp32", 4096), (128, "fp32", 16384)):
        rel, cos = accuracy(d, False, 0.0, acc, n)
        print(f"[{label}] accuracy D{d} {acc} N={n}: rel-L1 {rel:.4f} cos {cos:.6f}", flush=True)
    for n, d, causal in ((16384, 64, False), (4096, 64, False), (16384, 128, False), (4096, 128, False),
                         (16384, 128, True)):
        two = kernel_tops(n, d, causal, True)
        one = kernel_tops(n, d, causal, False)
        print(f"[{label}] D{d} N={n} causal={int(causal)}: two-level {two:6.1f}  single-level {one:6.1f}", flush=True)


if __name__ == "__main__":
    main()
