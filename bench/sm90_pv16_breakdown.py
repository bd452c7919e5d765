"""Where a call's GPU time goes, e4m3 PV (`sageattn`) against 16-bit PV (`sageattn_qk_int8_pv_fp16_cuda_sm90`) and INT8
PV (`sageattn_qk_int8_pv_int8_cuda_sm90`, --calls int8) on sm_90: the quantization kernel and the attention kernel of each (median us under the CUDA profiler, an L2 flush
before each call; bench/sm90_e2e_ab.py --breakdown), and the attention kernel's TOPS from its own duration.

    python bench/sm90_pv16_breakdown.py [--shapes D:N[:c],...] [--calls e4m3,pv16,int8]
"""

from __future__ import annotations

import argparse
import re
import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_e2e_ab import breakdown, parse_shapes  # noqa: E402

SHAPES = "128:4096,128:8192,128:16384,128:16384:c,64:16384"


def kernel_tops(line: str, d: int, n: int, causal: bool) -> str:
    m = re.search(r"attn_fwd_kernel ([0-9.]+)", line)
    if not m:
        return "n/a"
    flops = 4 * 4 * 32 * n * n * d / (2 if causal else 1)
    return f"{flops / (float(m.group(1)) * 1e-6) / 1e12:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=SHAPES)
    ap.add_argument("--calls", default="e4m3,pv16", help="which of e4m3, pv16, int8 to profile (comma list)")
    args = ap.parse_args()
    wanted = args.calls.split(",")
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "sageattention", sageattention.__version__)
    for d, n, causal in parse_shapes(args.shapes):
        q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        calls = {
            "e4m3": lambda: sageattention.sageattn(q, k, v, is_causal=causal),
            "pv16": lambda: sageattention.sageattn_qk_int8_pv_fp16_cuda_sm90(q, k, v, is_causal=causal),
            "int8": lambda: sageattention.sageattn_qk_int8_pv_int8_cuda_sm90(q, k, v, is_causal=causal),
        }
        for name, fn in ((name, fn) for name, fn in calls.items() if name in wanted):
            line = breakdown(f"D{d} N{n}{' causal' if causal else ''} {name}", fn)
            print(line, "| kernel TOPS", kernel_tops(line, d, n, causal))
        del q, k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
