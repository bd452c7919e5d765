"""The same kernel-only call timed three ways (same process, same inputs), to separate the kernel's
own duration from what the benchmark timer adds: triton's do_bench median (an L2 flush before each
call, events around the call: what every table here reports), 20 back-to-back calls between two
events (warm L2, launch gaps hidden), and the attention kernel's duration from the CUDA profiler.

    python bench/sm90_timer_check.py LABEL [D:N[:c],...]
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from bench.sm90_e2e_ab import parse_shapes  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def back_to_back_ms(fn, reps: int = 20) -> float:
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def profiler_ms(fn, reps: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    times = [e.device_time for e in prof.events() if "attn_fwd_kernel" in e.name]
    if not times:
        return float("nan")
    times.sort()
    return times[len(times) // 2] / 1e3


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    shapes = parse_shapes(sys.argv[2]) if len(sys.argv) > 2 else ((128, 8192, False), (128, 16384, True))
    b, h = 4, 32
    for d, n, causal in shapes:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        fn = kernel_only(q, ops, n, causal, False)
        f = flops(b, h, n, d, causal)
        tops = [f / (ms / 1e3) / 1e12 for ms in (time_ms(fn, 50, 200), back_to_back_ms(fn), profiler_ms(fn))]
        print(f"[{label}] D{d} N={n} causal={int(causal)}: do_bench {tops[0]:.1f}  back-to-back {tops[1]:.1f}  "
              f"profiler {tops[2]:.1f} TOPS", flush=True)
        del q, k, v, ops


if __name__ == "__main__":
    main()
