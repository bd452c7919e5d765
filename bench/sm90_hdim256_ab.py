"""Head dim 256 on the sm90 kernel, one build per process (run it once per build, same GPU, alternating):
kernel-only TOPS on pre-quantized inputs, end-to-end sageattn TOPS, and accuracy vs float64 at N=4K.

    python bench/sm90_hdim256_ab.py LABEL
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bench import accuracy, kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

B, H, D = 4, 32, 256


def tops(n: int, causal: bool, ms: float) -> float:
    return 4.0 * B * H * n * n * D / (2 if causal else 1) / (ms / 1e3) / 1e12


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    torch.manual_seed(0)
    print(f"[{label}] {torch.cuda.get_device_name()} kv_block={sm90.kv_block(D, 'fp32')}", flush=True)
    rel, cos = accuracy(D, False, 0.0, "fp32", 4096)
    print(f"[{label}] accuracy D{D} fp32 N=4096: rel-L1 {rel:.4f} cos {cos:.6f}", flush=True)
    for n in (4096, 8192, 16384):
        q, k, v = (torch.randn(B, H, n, D, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        for causal in (False, True):
            kern = tops(n, causal, time_ms(kernel_only(q, ops, n, causal, two_level=False)))
            e2e = tops(n, causal, time_ms(lambda: sageattention.sageattn(q, k, v, is_causal=causal)))
            print(f"[{label}] D{D} N={n} causal={int(causal)}: kernel {kern:6.1f}  sageattn {e2e:6.1f}", flush=True)
        del q, k, v, ops
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
