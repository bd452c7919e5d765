"""One kernel-only launch of the sm90 kernel (D=128, N=8K, B=4, H=32) for ncu.

    python bench/sm90_profile.py [single|two]     (accumulation: single level, the default path, or two levels)
"""
import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import kernel_only  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

two_level = len(sys.argv) > 1 and sys.argv[1] == "two"
n, d = 8192, 128
q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
run = kernel_only(q, ops, n, False, two_level)
for _ in range(2):
    run()
torch.cuda.synchronize()
