"""Where a short `sageattn` call's time goes at real models' shapes (cross-attention to a few text tokens, small
self-attention levels), beside SDPA: host time per call, GPU timeline per call back to back, and each kernel's
duration from the CUDA profiler.

    python bench/short_calls.py [--only TEXT]     shapes of sageattention.model_shapes whose label contains TEXT
                                                 (default: every shape whose call is under 2 ms on an H200)
"""

from __future__ import annotations

import argparse
import collections
import sys
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.call_overhead import host_and_gpu_us  # noqa: E402
from sageattention.bench import DTYPES  # noqa: E402
from sageattention.bench_models import inputs  # noqa: E402
from sageattention.model_shapes import MODEL_SHAPES, select  # noqa: E402

SHORT = ("cross-attention", "32x32 level", "SD 1.5, 512x512, self", "SDXL, 1024x1024, self-attention, 64x64",
         "FLUX", "SD3")


def kernel_us(fn: Callable[[], object], reps: int = 20) -> dict[str, float]:
    """Mean GPU microseconds per call of each kernel fn launches (CUDA profiler; names shortened)."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    total: dict[str, float] = collections.defaultdict(float)
    for e in prof.events():
        if e.device_type.name == "CUDA":
            total[e.name.split("<")[0].split("(")[0][:48]] += e.device_time / reps
    return dict(total)


def kernel_split(kernels: dict[str, float]) -> str:
    """kernel_us's result as "name us, ..." from the longest kernel down."""
    return ", ".join(f"{n} {us:.1f}" for n, us in sorted(kernels.items(), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    shapes = select(args.only) if args.only else tuple(s for s in MODEL_SHAPES if any(t in s.label for t in SHORT))
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, sageattention from {sageattention.__file__}")
    for s in shapes:
        q, k, v = inputs(s, DTYPES[s.dtype], "HND")
        gqa = s.heads != s.kv_heads
        runs = {
            "sageattn": lambda: sageattention.sageattn(q, k, v, is_causal=s.causal),
            "SDPA (default backend)": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=s.causal,
                                                                              enable_gqa=gqa),
        }
        print(f"## {s.label}: B={s.batch} H={s.heads}/{s.kv_heads} Nq={s.q_len} Nkv={s.kv_len} D={s.headdim} {s.dtype}",
              flush=True)
        for name, fn in runs.items():
            host, wall = host_and_gpu_us(fn)
            kernels = kernel_us(fn)
            print(f"  {name:24s} host {host:7.1f} us/call, GPU timeline {wall:7.1f} us/call, kernels "
                  f"{sum(kernels.values()):7.1f} us: {kernel_split(kernels)}", flush=True)
        del q, k, v


if __name__ == "__main__":
    main()
