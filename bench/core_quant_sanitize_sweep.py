"""Small-shape sweep over the core quantization kernels that the mma.sync families' fused ops run (quant_int8 and
channel_stats: csrc/common/quant_int8_kernel.cuh, channel_stats_kernel.cuh), for compute-sanitizer:

    compute-sanitizer --tool memcheck|racecheck|synccheck --error-exitcode 9 python bench/core_quant_sanitize_sweep.py

Covers the paths inside them: quant_int8's tiles kept in registers (one round) and streamed twice (K at D=256),
16-byte and scalar loads, with and without a mean; channel_stats' two folds (warp shuffles at head dims 64, 128 and
256; one thread per chunk through shared memory at 40 and 96: 5 and 12 chunks per row), token slices from one row
to many, centered or not.
"""

from __future__ import annotations

import itertools
import sys

import torch

sys.path.insert(0, ".")
from sageattention import _lib, quant  # noqa: E402
from sageattention._layout import padded_head_dim  # noqa: E402
from sageattention.kernels import mma  # noqa: E402

assert _lib.load("core"), _lib.error("core")
torch.manual_seed(0)
calls = 0
for d, n, layout, aligned in itertools.product((40, 64, 96, 128, 256), (1, 300, 1000), ("HND", "NHD"), (True, False)):
    extra = 0 if aligned else 3
    shape = (2, 3, n, d + extra) if layout == "HND" else (2, n, 3, d + extra)
    x = torch.randn(*shape, device="cuda", dtype=torch.float16)[..., :d]
    dp = padded_head_dim(d)
    for centered in (False, True):
        mean, _ = quant.channel_stats(x, layout, centered)
        calls += 1
    for spec in (mma.q_spec(dp, "per_thread"), mma.k_spec("per_thread", False), mma.k_spec("per_warp", True)):
        quant.quant_int8(x, layout, spec, dp, 128, mean if spec.block == mma.CTA_K else None)
        calls += 1
torch.cuda.synchronize()
print(f"core quantization sweep: {calls} calls, no error")
