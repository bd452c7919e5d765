"""One sm90.quantize call (B4 H32 N4096 D128 fp16) after a warm-up, for Nsight Compute:
ncu -k regex:"quant|channel" python bench/quant_profile.py"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from sageattention.kernels import sm90  # noqa: E402

q, k, v = (torch.randn(4, 32, 4096, 128, device="cuda", dtype=torch.float16) for _ in range(3))
sm90.quantize(q, k, v, "HND", "per_thread", True, False)
torch.cuda.synchronize()
sm90.quantize(q, k, v, "HND", "per_thread", True, False)
torch.cuda.synchronize()
