"""Kernel-only TOPS of one sm90 module build on the shapes that decide issue #4's targets, on one line:
the quick half of a schedule A/B (scripts/gpu_sm90_schedule_ab.sh runs it once per build and round, so
builds interleave and a drift of the card's clocks shows as a difference between rounds).

    python bench/sm90_schedule_ab.py LABEL
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

SHAPES = ((128, 4096, False), (128, 8192, False), (128, 16384, False), (128, 16384, True), (64, 16384, False))


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    b, h = 4, 32
    cells = []
    for d, n, causal in SHAPES:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        tops = flops(b, h, n, d, causal) / (time_ms(kernel_only(q, ops, n, causal, False), 50, 200) / 1e3) / 1e12
        cells.append(f"D{d}{'c' if causal else ''}-{n // 1024}K {tops:6.1f}")
        del q, k, v, ops
    print(f"[{label:>14}] " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
