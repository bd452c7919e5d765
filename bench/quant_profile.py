"""sm90 quantization after a warm-up, for Nsight Compute (B4 H32 D128 fp16, N=4096 unless given):

    ncu -k regex:"quant|channel" python bench/quant_profile.py [fused|separate] [N]

fused (default): one quant_qkv_sm90 launch; separate: the five passes (quant_int8 Q, channel_stats +
quant_int8 K, channel_stats + quant_v_fp8_sm90 V). Each is launched twice; to profile the second (warm)
launch only: ncu -k regex:quant_qkv -s 1 -c 1 (with -s 2 nothing is left to profile).
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from sageattention import _lib  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

_lib.require("sm90", "the sm90 quantizers")
mode = sys.argv[1] if len(sys.argv) > 1 else "fused"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
q, k, v = (torch.randn(4, 32, n, 128, device="cuda", dtype=torch.float16) for _ in range(3))
for _ in range(2):
    sm90.quantize(q, k, v, "HND", "per_thread", True, False, fused=mode == "fused")
    torch.cuda.synchronize()
