"""A/B of sm90 module builds end to end (run once per build, same GPU): the fused quantization
pass alone (ms), the single-level kernel on pre-quantized inputs and the whole `sageattn` call
(TOPS), with the sustained timer (sageattention.bench.time_ms).

    python bench/sm90_e2e_ab.py LABEL [--kernel-only | --timers | --breakdown] [--shapes D:N[:c],...]

--kernel-only: the kernel alone, all shapes on one line (the quick half of a schedule A/B:
`scripts/gpu_sm90_variants.sh quick` runs it once per build and round).
--timers: the kernel alone timed three ways, to separate its own duration from what the benchmark
timer adds: triton's do_bench median (an L2 flush before each call, events around the call: what
every table here reports), 20 back-to-back calls between two events (warm L2, launch gaps hidden),
and the attention kernel's duration from the CUDA profiler.
--breakdown: where the time of one `sageattn` call goes on the GPU: under the CUDA profiler, with an L2 flush
before each call as do_bench does, the median duration of each kernel of the call, the idle time between the
flush and the call's first kernel (host work not hidden by the flush) and between its kernels, beside the
do_bench medians of the call, the quantization pass and the kernel alone.
--shapes: other shapes than the default set, e.g. 128:8192:c,128:32768:c (c: causal).
"""

from __future__ import annotations

import sys
from typing import Callable

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

SHAPES = ((128, 4096, False), (128, 8192, False), (128, 16384, False), (128, 16384, True), (64, 16384, False),
          (128, 32768, False))


def parse_shapes(spec: str) -> tuple[tuple[int, int, bool], ...]:
    shapes = []
    for item in spec.split(","):
        parts = item.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "c"):
            raise SystemExit(f"--shapes: expected D:N or D:N:c, got {item!r}")
        shapes.append((int(parts[0]), int(parts[1]), len(parts) == 3))
    return tuple(shapes)


def back_to_back_ms(fn: Callable[[], object], reps: int = 20) -> float:
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def profiler_ms(fn: Callable[[], object], reps: int = 10) -> float:
    fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
    times = sorted(e.device_time for e in prof.events() if "attn_fwd_kernel" in e.name)
    return times[len(times) // 2] / 1e3 if times else float("nan")


def breakdown(label: str, fn: Callable[[], object], reps: int = 12) -> str:
    """Median per-kernel durations and gaps (us) of `fn` under the profiler, an L2 flush before each call."""
    flush = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(reps):
            flush.zero_()
            fn()
        torch.cuda.synchronize()
    kernels = sorted((e.time_range.start, e.time_range.end, e.name) for e in prof.events()
                     if e.device_type == torch.autograd.DeviceType.CUDA)
    calls, cur = [], None
    for start, end, name in kernels:  # a call: the flush's kernel, then the call's kernels
        if "Fill" in name and "signed char" in name:  # the int8 flush buffer's zero_()
            cur = [(start, end, "flush")]
            calls.append(cur)
        elif cur is not None:
            cur.append((start, end, name))
    rows: dict[str, list[float]] = {}
    for call in calls:
        for i in range(1, len(call)):
            short = call[i][2].split("(")[0].split("<")[0].split("::")[-1][:24]
            rows.setdefault(f"gap>{short}", []).append(call[i][0] - call[i - 1][1])
            rows.setdefault(short, []).append(call[i][1] - call[i][0])
        rows.setdefault("span", []).append(call[-1][1] - call[1][0] if len(call) > 1 else float("nan"))
    if not rows:
        return f"[{label}] no call found among the profiled kernels: " + "; ".join(n[:60] for _, _, n in kernels[:8])
    med = {k: sorted(v)[len(v) // 2] for k, v in rows.items()}
    return f"[{label}] calls {len(calls)}: " + "  ".join(f"{k} {v:.1f}" for k, v in med.items())


def main() -> None:
    argv = sys.argv[1:]
    shapes = SHAPES
    if "--shapes" in argv:
        i = argv.index("--shapes")
        if i + 1 >= len(argv):
            raise SystemExit("--shapes needs a value, e.g. 128:8192:c")
        shapes = parse_shapes(argv[i + 1])
        del argv[i : i + 2]
    only_kernel, timers, split = "--kernel-only" in argv, "--timers" in argv, "--breakdown" in argv
    if only_kernel + timers + split > 1:
        raise SystemExit("--kernel-only, --timers and --breakdown are separate modes; pass one")
    args = [a for a in argv if a not in ("--kernel-only", "--timers", "--breakdown")]
    if any(a.startswith("-") for a in args) or len(args) > 1:
        raise SystemExit(f"expected one LABEL and the options --kernel-only, --timers, --breakdown, --shapes; got {args}")
    label = args[0] if args else "build"
    b, h = 4, 32
    cells = []
    for d, n, causal in shapes:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        ops_count = flops(b, h, n, d, causal)
        kernel_fn = kernel_only(q, ops, n, causal, False)
        quant_fn = lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False)  # noqa: B023, E731
        call_fn = lambda: sageattention.sageattn(q, k, v, is_causal=causal)  # noqa: B023, E731
        if only_kernel:
            kernel = ops_count / (time_ms(kernel_fn, 50, 200) / 1e3) / 1e12
            cells.append(f"D{d}{'c' if causal else ''}-{n // 1024}K {kernel:6.1f}")
        elif timers:
            tops = [ops_count / (ms / 1e3) / 1e12
                    for ms in (time_ms(kernel_fn, 50, 200), back_to_back_ms(kernel_fn), profiler_ms(kernel_fn))]
            print(f"[{label}] D{d} N={n} causal={int(causal)}: do_bench {tops[0]:.1f}  back-to-back {tops[1]:.1f}  "
                  f"profiler {tops[2]:.1f} TOPS", flush=True)
        elif split:
            e2e_ms, kernel_ms, quant_ms = time_ms(call_fn), time_ms(kernel_fn), time_ms(quant_fn)
            print(f"[{label}] D{d} N={n} causal={int(causal)}: do_bench sageattn {e2e_ms * 1e3:.1f} us, quant "
                  f"{quant_ms * 1e3:.1f} + kernel {kernel_ms * 1e3:.1f} = {(quant_ms + kernel_ms) * 1e3:.1f} us", flush=True)
            print(breakdown(f"{label} D{d} N={n} causal={int(causal)}", call_fn), flush=True)
        else:
            quant_ms = time_ms(quant_fn)
            kernel = ops_count / (time_ms(kernel_fn) / 1e3) / 1e12
            e2e = ops_count / (time_ms(call_fn) / 1e3) / 1e12
            print(f"[{label}] D{d} N={n} causal={int(causal)}: quant {quant_ms:.3f} ms  kernel {kernel:6.1f}  "
                  f"sageattn {e2e:6.1f} TOPS", flush=True)
        del q, k, v, ops, kernel_fn, quant_fn, call_fn
    if only_kernel:
        print(f"[{label:>14}] " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
