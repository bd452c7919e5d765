"""sm90 single-level kernel at D=64 over sequence lengths, kernel-only and end to end (`sageattn`),
causal and not: the A/B script behind the Q-slot choice (TileTraits::kQSlots; bench/NOTES.md,
v13). Run it once per build, in the order A, B, B, A, to see the card's drift.

    python bench/sm90_lengths_ab.py LABEL
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import kernel_only  # noqa: E402
from sageattention import sageattn  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    b, h, d = 4, 32, 64
    for causal in (False, True):
        for n in (1024, 2048, 4096, 16384):
            q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
            ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)

            def e2e() -> None:
                sageattn(q, k, v, is_causal=causal)

            flops = 4.0 * b * h * n * n * d / (2 if causal else 1)
            tk = flops / (time_ms(kernel_only(q, ops, n, causal, False)) / 1e3) / 1e12
            te = flops / (time_ms(e2e) / 1e3) / 1e12
            print(f"[{label}] D64 causal={int(causal)} N={n}: kernel {tk:6.1f} e2e {te:6.1f}", flush=True)


if __name__ == "__main__":
    main()
