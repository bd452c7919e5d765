"""Short key sequences (cross-attention to text tokens) on sm_90: the single-level kernel (192- or 256-key steps)
against the two-level one (128-key steps), end to end through the explicit entry point and on pre-quantized
inputs. One step covers the whole key sequence up to the step length, so a shorter step wastes less on padding.

    python bench/short_kv_ab.py [--kv 77,128,...] [--dims 64,128]
"""

from __future__ import annotations

import argparse
import sys

import torch

sys.path.insert(0, ".")
from sageattention import sageattn_qk_int8_pv_fp8_cuda_sm90  # noqa: E402
from sageattention.bench import BACKENDS, time_ms  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kv", default="77,128,160,192,256,320,384,512,1024")
    ap.add_argument("--dims", default="64,128")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--heads", type=int, default=10)
    ap.add_argument("--q-len", type=int, default=4096)
    args = ap.parse_args()
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}; B={args.batch} H={args.heads} "
          f"Nq={args.q_len} fp16 HND; us per call (do_bench median)", flush=True)
    print(f"{'D':>4s} {'Nkv':>6s} {'e2e single':>11s} {'e2e two':>9s} {'kern single':>12s} {'kern two':>9s}")
    for d in (int(x) for x in args.dims.split(",")):
        for n in (int(x) for x in args.kv.split(",")):
            q = torch.randn(args.batch, args.heads, args.q_len, d, device="cuda", dtype=torch.float16)
            k, v = (torch.randn(args.batch, args.heads, n, d, device="cuda", dtype=torch.float16) for _ in range(2))
            row = []
            for accum in ("fp32", "fp32+fp32"):
                row.append(time_ms(lambda: sageattn_qk_int8_pv_fp8_cuda_sm90(q, k, v, pv_accum_dtype=accum)) * 1e3)
            for name in ("sage_fp8_sm90_fp32_kernel", "sage_fp8_sm90_kernel"):
                row.append(time_ms(BACKENDS[name].make(q, k, v, False, "HND")) * 1e3)
            print(f"{d:4d} {n:6d} {row[0]:11.1f} {row[1]:9.1f} {row[2]:12.1f} {row[3]:9.1f}", flush=True)


if __name__ == "__main__":
    main()
