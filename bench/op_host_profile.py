"""Where the host time of one sm90 op call goes: torch.profiler's CPU view (aten ops the op dispatches, CUDA runtime
calls) of N calls of sageattn_sm90 at a tiny shape, beside the op's plain host time per call.

    python bench/op_host_profile.py [N]
"""

from __future__ import annotations

import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, ".")
from sageattention import _lib  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    if not _lib.load("sm90"):
        raise SystemExit(f"the sm90 module does not load: {_lib.error('sm90')}")
    q, k, v = (torch.randn(1, 128, 1, 64, device="cuda", dtype=torch.float16) for _ in range(3))

    def op() -> object:
        return torch.ops.sageattention.sageattn_sm90(q, k, v, 1, False, True, True, False, 0.125, False, False)

    for _ in range(50):
        op()
    torch.cuda.synchronize()
    for rnd in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            op()
        host = (time.perf_counter() - t0) / n * 1e6
        torch.cuda.synchronize()
        print(f"round {rnd}: sageattn_sm90 host {host:.1f} us/call", flush=True)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(n):
            op()
        torch.cuda.synchronize()
    print(f"# torch.profiler, {n} calls of sageattn_sm90 at B1 H1 N128 D64 (host time; the profiler adds its own)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
