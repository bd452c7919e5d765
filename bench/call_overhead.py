"""Host-side cost of one `sageattn` call vs its GPU time (is a short call CPU-bound?), and where the
host time goes.  python bench/call_overhead.py"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402


def main() -> None:
    for n, d in ((1024, 128), (2048, 128), (4096, 128), (1024, 64)):
        q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        for _ in range(5):
            sageattention.sageattn(q, k, v)
        torch.cuda.synchronize()
        reps = 50
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        t0 = time.perf_counter()
        for _ in range(reps):
            sageattention.sageattn(q, k, v)
        host = (time.perf_counter() - t0) / reps
        e.record()
        e.synchronize()
        wall = a.elapsed_time(e) / 1e3 / reps
        print(f"N={n} D={d}: host {host * 1e6:7.1f} us/call, GPU-timeline {wall * 1e6:7.1f} us/call"
              f" -> {'CPU-bound' if host > 0.9 * wall else 'GPU-bound'}", flush=True)
    q, k, v = (torch.randn(4, 32, 1024, 128, device="cuda", dtype=torch.float16) for _ in range(3))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(200):
        sageattention.sageattn(q, k, v)
    prof.disable()
    torch.cuda.synchronize()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
