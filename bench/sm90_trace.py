"""Timeline of the sm90 kernel's consumer warpgroups in CTA 0, from a build compiled with
-DSAGE_SM90_TRACE (csrc/sm90/trace.cuh): per-step phase lengths in SM clocks (median over the
steps that are neither first nor last of their work item), the offset between the two
warpgroups, and the gaps between work items.

    python bench/sm90_trace.py [N]        (needs the trace build installed in sageattention/; N: only the
                                          first N configurations)
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, ".")
from bench.sm90_bench import kernel_only  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

STEPS, STEP_EV, ITEMS, ITEM_EV = 512, 6, 64, 3  # csrc/sm90/trace.cuh
TOP, ISSUE, QK, SOFTMAX, PV, END = range(STEP_EV)
START, LOOP_END, STORED = range(ITEM_EV)


def trace_launch(d: int, n: int, causal: bool, two_level: bool) -> tuple[np.ndarray, np.ndarray]:
    b, h = 4, 32
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)

    run = kernel_only(q, ops, n, causal, two_level)
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.bin")
        os.environ["SAGE_SM90_TRACE_FILE"] = path
        try:
            run()
            torch.cuda.synchronize()
        finally:
            del os.environ["SAGE_SM90_TRACE_FILE"]
        raw = np.fromfile(path, dtype=np.uint32)
    steps = raw[: 2 * STEPS * STEP_EV].reshape(2, STEPS, STEP_EV).astype(np.int64)
    items = raw[2 * STEPS * STEP_EV :].reshape(2, ITEMS, ITEM_EV).astype(np.int64)
    return steps, items


def dt(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (b - a) % (1 << 32)


def report(label: str, steps: np.ndarray, items: np.ndarray) -> None:
    used = steps[0, :, TOP] != 0
    g_all = np.nonzero(used)[0]
    first = steps[0, :, PV] == 0  # step 0 of an item has no PV(-1)
    last = np.zeros(STEPS, bool)
    last[g_all[:-1][first[g_all[1:]]]] = True
    last[g_all[-1]] = True
    steady = used & ~first & ~last
    steady[: g_all[0] + 1] = False
    print(f"{label}: {used.sum()} steps traced, {first[used].sum()} items, {steady.sum()} steady steps")
    for wg in range(2):
        s = steps[wg][steady]
        nxt = steps[wg][np.nonzero(steady)[0] + 1]
        phases = {
            "wait": dt(s[:, TOP], s[:, ISSUE]),
            "qk": dt(s[:, ISSUE], s[:, QK]),
            "softmax": dt(s[:, QK], s[:, SOFTMAX]),
            "pv_wait": dt(s[:, SOFTMAX], s[:, PV]),
            "tail": dt(s[:, PV], s[:, END]),
            "top": dt(s[:, END], nxt[:, TOP]),
            "step": dt(s[:, TOP], nxt[:, TOP]),
        }
        print(f"  wg{wg} median clocks: " + "  ".join(f"{k} {int(np.median(v))}" for k, v in phases.items()))
    off = (steps[1][steady, ISSUE] - steps[0][steady, ISSUE] + (1 << 31)) % (1 << 32) - (1 << 31)
    print(f"  issue offset wg1-wg0: median {int(np.median(off))}  p10 {int(np.percentile(off, 10))}"
          f"  p90 {int(np.percentile(off, 90))}")
    n_items = int((items[0, :, START] != 0).sum())
    for wg in range(2):
        it = items[wg, :n_items]
        epi = dt(it[:, LOOP_END], it[:, STORED])
        gap = dt(it[:-1, STORED], it[1:, START])
        fs = steps[wg][first & used]
        step0 = dt(fs[:, TOP], fs[:, END])
        step0_wait = dt(fs[:, TOP], fs[:, ISSUE])
        print(f"  wg{wg} items {n_items}: epilogue {int(np.median(epi))}  gap to next Q {int(np.median(gap)) if len(gap) else -1}"
              f"  step0 {int(np.median(step0))} (of it waiting {int(np.median(step0_wait))})")


def main() -> None:
    torch.manual_seed(0)
    print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    configs = ((128, 8192, False, False, "1"), (128, 4096, False, False, "1"), (64, 16384, False, False, "1"),
               (128, 8192, False, True, "1"), (128, 8192, False, True, "0"), (128, 16384, True, False, "1"))
    if len(sys.argv) > 1:  # only the first N configurations
        configs = configs[: int(sys.argv[1])]
    for d, n, causal, two_level, pingpong in configs:
        os.environ["SAGEATTENTION_SM90_PINGPONG"] = pingpong
        steps, items = trace_launch(d, n, causal, two_level)
        report(f"D{d} N={n} causal={int(causal)} {'two-level' if two_level else 'single'} pingpong={pingpong}",
               steps, items)
    os.environ.pop("SAGEATTENTION_SM90_PINGPONG", None)


if __name__ == "__main__":
    main()
