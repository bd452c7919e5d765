"""Kernel-only TOPS of an mma.sync kernel (pre-quantized inputs, B=4 H=32, HND; default the FP16-PV
kernel, pv_accum fp32; --backend sage_fp8_cuda_kernel for the FP8-PV one, fp32+fp32) for one build of
its module, one process per build so the A/B of scripts/gpu_mma_variants.sh compares builds under
the same clocks.

    python bench/mma_variant_ab.py LABEL [--backend NAME] [--out DIR] [--round R]
Prints one line per configuration and appends one JSON record per configuration to DIR/ab.jsonl.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import torch

sys.path.insert(0, ".")
from sageattention import bench  # noqa: E402

# (head dim, sequence length, causal): the N=16K points, N=4K and 8K, and the causal cases at 16K.
CONFIGS = [(128, 16384, False), (64, 16384, False), (128, 4096, False), (64, 4096, False), (128, 16384, True),
           (64, 16384, True), (64, 8192, False)]
B, H = 4, 32


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("--out", default=".")
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--backend", default="sage_fp16_cuda_kernel",
                    choices=["sage_fp16_cuda_kernel", "sage_fp8_cuda_kernel"])
    args = ap.parse_args()
    make = bench.BACKENDS[args.backend].make
    torch.manual_seed(0)
    records = []
    for d, n, causal in CONFIGS:
        q, k, v = (torch.randn(B, H, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        fn = make(q, k, v, causal, "HND")
        ms = bench.time_ms(fn)
        ops = 4.0 * B * H * n * n * d / (2 if causal else 1)
        tops = ops / (ms / 1e3) / 1e12
        rec = {"label": args.label, "backend": args.backend, "round": args.round, "d": d, "n": n, "causal": causal,
               "ms": ms, "tops": tops}
        records.append(rec)
        print(f"{args.label:14s} round {args.round} D{d:<3d} N={n:<5d} {'causal' if causal else 'full  '} "
              f"{ms:8.3f} ms {tops:6.1f} TOPS", flush=True)
        del q, k, v, fn
        torch.cuda.empty_cache()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "ab.jsonl", "a") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
