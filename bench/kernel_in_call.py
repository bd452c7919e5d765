"""Does the attention kernel run faster inside the end-to-end call than on pre-quantized operands alone? Per backend
of `python -m sageattention.bench`, each kernel's GPU time per call (CUDA profiler), so that an end-to-end backend
and its `_kernel` twin can be compared kernel by kernel, in alternating order over rounds.

    python bench/kernel_in_call.py [--shapes D:N[:c],...] [--backends NAME,...] [--rounds R] [--reps N]

Why: at D=64 the mma.sync FP16-PV end-to-end call read more TOPS than its kernel-only twin (H100 419.9 vs 402.5 at
16K, bench/results/sm90_targets_h100_s28.md), which a faster attention kernel inside the call would explain (the
quantization's memory-bound gaps leaving the power-capped clock room) and a different kernel would too. The answer
there (`bench/results/kernel_in_call_h100_s28.log`): neither; the first backend of each round ran faster, whichever it
was, so compare rounds in both orders.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

sys.path.insert(0, ".")
from bench.short_calls import kernel_split, kernel_us  # noqa: E402
from bench.sm90_e2e_ab import parse_shapes  # noqa: E402
from sageattention.bench import BACKENDS, time_rounds  # noqa: E402

DEFAULT_BACKENDS = "sage_fp16_cuda,sage_fp16_cuda_kernel"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", type=parse_shapes, default=((64, 16384, False),), help="D:N[:c],...")
    ap.add_argument("--backends", type=lambda s: [x for x in s.split(",") if x], default=DEFAULT_BACKENDS.split(","))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args(argv)
    unknown = [n for n in args.backends if n not in BACKENDS]
    if unknown:
        ap.error(f"--backends: unknown {unknown}; known: {sorted(BACKENDS)}")
    if args.rounds < 1 or args.reps < 1:
        ap.error(f"--rounds and --reps must be positive, got {args.rounds} and {args.reps}")
    if not torch.cuda.is_available():
        print("kernel_in_call.py needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}; B4 H32 fp16 HND; us per call", flush=True)
    b, h = 4, 32
    for d, n, causal in args.shapes:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        calls = {name: BACKENDS[name].make(q, k, v, causal, "HND") for name in args.backends}
        done = dict.fromkeys(calls, 0)  # rounds printed per backend

        def profile(name: str, fn: Callable[[], object]) -> float:
            kernels = kernel_us(fn, reps=args.reps)
            done[name] += 1
            total = sum(kernels.values())
            print(f"D{d} N{n}{' causal' if causal else ''} r{done[name]} {name:28s} total {total:9.1f}: "
                  f"{kernel_split(kernels)}", flush=True)
            return total

        time_rounds(calls, args.rounds, profile)  # the same alternation as python -m sageattention.bench
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
