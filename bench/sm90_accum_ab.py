"""Two-level ("fp32+fp32") against single-level ("fp32") sm90 accumulation, kernel-only and end to
end, interleaved in one process: each round times both, with the sustained timer
(sageattention.bench.time_ms: 100 ms warm-up, median over 300 ms) and the burst timer of
bench/sm90_bench.py (3 calls warm-up, median of 10 single calls), so clock drift and the choice of
timer show up as spreads between rounds and columns instead of as a difference between the two.

    python bench/sm90_accum_ab.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import kernel_only, timeit  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    b, h = 4, 32
    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    for d, n, causal in ((128, 4096, False), (128, 8192, False), (128, 16384, False), (128, 16384, True),
                         (64, 16384, False)):
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        flops = 4.0 * b * h * n * n * d / (2 if causal else 1)

        def kernel(two_level: bool):
            return kernel_only(q, ops, n, causal, two_level)

        def e2e(accum: str):
            return lambda: sm90.qk_int8_pv_fp8_sm90(
                q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran="per_thread", sm_scale=1 / math.sqrt(d),
                pv_accum_dtype=accum, smooth_k=True, smooth_v=False, return_lse=False)

        for r in range(args.rounds):
            cells = []
            for label, fn in (("kernel two", kernel(True)), ("kernel one", kernel(False)),
                              ("e2e two", e2e("fp32+fp32")), ("e2e one", e2e("fp32"))):
                sustained = flops / (time_ms(fn) / 1e3) / 1e12
                burst = flops / timeit(fn) / 1e12
                cells.append(f"{label} {sustained:6.1f}/{burst:6.1f}")
            print(f"D{d} N={n} causal={int(causal)} round {r}: " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
