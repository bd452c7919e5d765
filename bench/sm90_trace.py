"""Timeline of the sm90 kernel's consumer warpgroups in CTA 0, from a build compiled with
-DSAGE_SM90_TRACE (csrc/sm90/trace.cuh): per-step phase lengths in SM clocks (median over the
steps that are neither first nor last of their work item), the offset between the two
warpgroups, and the gaps between work items; then every CTA's walk (global time, SM clock rate,
items, steps) and the idle time at the end of the launch.

    python bench/sm90_trace.py [N | i,j,...]   (needs the trace build installed in sageattention/; N: the
                                               first N configurations; i,j,...: those, 0-based)
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

STEPS, STEP_EV, ITEMS, ITEM_EV, CTAS, CTA_F = 512, 6, 64, 3, 1024, 6  # csrc/sm90/trace.cuh
TOP, ISSUE, QK, SOFTMAX, PV, END = range(STEP_EV)
START, LOOP_END, STORED = range(ITEM_EV)


def trace_launch(d: int, n: int, causal: bool, two_level: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        raw = np.fromfile(path, dtype=np.uint8)
    n32 = 2 * STEPS * STEP_EV + 2 * ITEMS * ITEM_EV
    stamps = raw[: 4 * n32].view(np.uint32)
    steps = stamps[: 2 * STEPS * STEP_EV].reshape(2, STEPS, STEP_EV).astype(np.int64)
    items = stamps[2 * STEPS * STEP_EV :].reshape(2, ITEMS, ITEM_EV).astype(np.int64)
    ctas = raw[4 * n32 :].view(np.uint64).reshape(CTAS, CTA_F).astype(np.int64)
    return steps, items, ctas


def report_ctas(ctas: np.ndarray) -> None:
    """Every CTA's walk: global time, SM clock rate, items and steps, and how long the others idle at the end."""
    c = ctas[ctas[:, 1] != 0]
    if len(c) == 0:
        return
    t0, t1, c0, c1, n_items, n_steps = (c[:, i] for i in range(CTA_F))
    span = (t1 - t0).astype(float)
    ghz = (c1 - c0) / span
    ns_step = span / np.maximum(n_steps, 1)
    end = t1.max()
    idle = (end - t1).sum() / (len(c) * (end - t0.min()))
    q = lambda a: f"{np.min(a):.3g} / {np.median(a):.3g} / {np.max(a):.3g}"  # noqa: E731
    print(f"  {len(c)} CTAs: kernel {(end - t0.min()) / 1e3:.0f} us; start spread {(t0.max() - t0.min()) / 1e3:.1f} us;"
          f" end spread {(end - t1.min()) / 1e3:.1f} us, idle at the end {100 * idle:.2f} % of CTA time")
    print(f"    SM clock GHz min/med/max {q(ghz)};  ns per step {q(ns_step)};  items {q(n_items)};  steps {q(n_steps)}")


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
    for wg in range(2):  # the last step of an item (masked at the diagonal or past kv_len)
        s = steps[wg][last & used & ~first]
        if len(s) == 0:  # every item of the trace was a single step
            continue
        print(f"  wg{wg} last steps ({len(s)}) median clocks: wait {int(np.median(dt(s[:, TOP], s[:, ISSUE])))}"
              f"  qk {int(np.median(dt(s[:, ISSUE], s[:, QK])))}  softmax {int(np.median(dt(s[:, QK], s[:, SOFTMAX])))}"
              f"  pv_wait {int(np.median(dt(s[:, SOFTMAX], s[:, PV])))}  tail {int(np.median(dt(s[:, PV], s[:, END])))}")
    n_items = int((items[0, :, START] != 0).sum())
    item_fit(steps, items, used, first, n_items)
    for wg in range(2):
        it = items[wg, :n_items]
        epi = dt(it[:, LOOP_END], it[:, STORED])
        gap = dt(it[:-1, STORED], it[1:, START])
        fs = steps[wg][first & used]
        step0 = dt(fs[:, TOP], fs[:, END])
        step0_wait = dt(fs[:, TOP], fs[:, ISSUE])
        print(f"  wg{wg} items {n_items}: epilogue {int(np.median(epi))}  gap to next Q {int(np.median(gap)) if len(gap) else -1}"
              f"  step0 {int(np.median(step0))} (of it waiting {int(np.median(step0_wait))})")


def item_fit(steps: np.ndarray, items: np.ndarray, used: np.ndarray, first: np.ndarray, n_items: int) -> None:
    """Clocks from one item's Q landing to the next's, against the item's step count: a least-squares
    line gives the per-step clocks (slope) and the per-item overhead (intercept) of warpgroup 0."""
    starts = np.nonzero(first & used)[0]
    k = min(len(starts), n_items) - 1  # items whose successor started inside the trace
    if k < 2:
        return
    n_steps = np.diff(starts)[:k].astype(float)
    span = dt(items[0, :k, START], items[0, 1 : k + 1, START]).astype(float)
    if np.ptp(n_steps) > 0:
        slope, icpt = np.polyfit(n_steps, span, 1)
        print(f"  wg0 item fit over {k} items ({int(n_steps.min())}-{int(n_steps.max())} steps): "
              f"{slope:.0f} clocks per step + {icpt:.0f} per item")
    else:
        per = span / n_steps
        print(f"  wg0 items of {int(n_steps[0])} steps: {np.median(span):.0f} clocks per item, {np.median(per):.0f} per step")


def main() -> None:
    torch.manual_seed(0)
    print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    configs = ((128, 8192, False, False, "1"), (128, 4096, False, False, "1"), (64, 16384, False, False, "1"),
               (128, 8192, False, True, "1"), (128, 8192, False, True, "0"), (128, 16384, True, False, "1"),
               (128, 8192, True, False, "1"))
    if len(sys.argv) > 1:  # a comma-separated list of configuration indices (0-based) or N: the first N
        arg = sys.argv[1]
        configs = [configs[int(i)] for i in arg.split(",")] if "," in arg else configs[: int(arg)]
    for d, n, causal, two_level, pingpong in configs:
        os.environ["SAGEATTENTION_SM90_PINGPONG"] = pingpong
        steps, items, ctas = trace_launch(d, n, causal, two_level)
        report(f"D{d} N={n} causal={int(causal)} {'two-level' if two_level else 'single'} pingpong={pingpong}",
               steps, items)
        report_ctas(ctas)
    os.environ.pop("SAGEATTENTION_SM90_PINGPONG", None)


if __name__ == "__main__":
    main()
