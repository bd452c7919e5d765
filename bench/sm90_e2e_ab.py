"""A/B of sm90 module builds end to end (run once per build, same GPU): the fused quantization
pass alone (ms), the single-level kernel on pre-quantized inputs and the whole `sageattn` call
(TOPS), with the sustained timer (sageattention.bench.time_ms).

    python bench/sm90_e2e_ab.py LABEL
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bench import kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

SHAPES = ((128, 4096, False), (128, 8192, False), (128, 16384, False), (128, 16384, True), (64, 16384, False),
          (128, 32768, False))


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    b, h = 4, 32
    for d, n, causal in SHAPES:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        flops = 4.0 * b * h * n * n * d / (2 if causal else 1)
        quant_ms = time_ms(lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False))  # noqa: B023
        kernel = flops / (time_ms(kernel_only(q, ops, n, causal, False)) / 1e3) / 1e12
        e2e = flops / (time_ms(lambda: sageattention.sageattn(q, k, v, is_causal=causal)) / 1e3) / 1e12  # noqa: B023
        print(f"[{label}] D{d} N={n} causal={int(causal)}: quant {quant_ms:.3f} ms  kernel {kernel:6.1f}  "
              f"sageattn {e2e:6.1f} TOPS", flush=True)
        del q, k, v, ops


if __name__ == "__main__":
    main()
