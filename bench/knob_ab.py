"""A/B of the runtime knobs that `sageattn` reads on every call (README, "Runtime knobs"), in one process on one
module: each variant is a set of SAGEATTENTION_* environment variables for its calls, timed beside the others and
beside the sm90 kernel alone on pre-quantized operands, in the benchmark window (sageattention.bench.time_ms: 100 ms
warm-up, 300 ms timing) over R rounds in alternating order; then, under the CUDA profiler, each kernel's time per
call of every variant. Separate processes cannot settle a difference of a few percent on a power-capped card: the
same kernel read 880 and 961 TOPS in two processes a minute apart (bench/results/sm90_pdl_ab_h100_s29.log).

    python bench/knob_ab.py [--shapes D:N[:c][:BxH],...] [--rounds R] [--warmup-ms MS] [--rep-ms MS] [--label TEXT]
                             [--variants "NAME:VAR=V,VAR=V;..."] [--kernel-each] [--backend NAME]

Prints one line per shape and variant (TOPS per round and their mean) and one per kernel split; fp16 HND, B4 H32
unless a shape names BxH (e.g. 128:4608:1x24, FLUX.1's joint attention), issue #4's shapes by default; the default
variants are the attention kernel as a programmatic dependent of the quantization or not (SAGEATTENTION_SM90_PDL). A
variable that a variant leaves out is unset for its calls.
--kernel-each times the kernel alone under every variant's variables too (rows NAME/kernel), for knobs that the
kernel's launch reads (an A/B build's choice of kernel). --backend NAME times one of sageattention.bench's backends
that has a NAME_kernel partner (e.g. sage_fp16_cuda, the mma.sync FP16-PV kernel) instead of sageattn and the sm90
kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.short_calls import kernel_split, kernel_us  # noqa: E402
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from bench.sm90_e2e_ab import SHAPES  # noqa: E402
from sageattention.bench import BACKENDS, add_timing_arguments, check_timing_arguments, time_ms, time_rounds  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

DEFAULT_VARIANTS = "pdl:SAGEATTENTION_SM90_PDL=1;no_pdl:SAGEATTENTION_SM90_PDL=0"


def parse_variants(spec: str) -> dict[str, dict[str, str]]:
    """"NAME:VAR=V,VAR=V;NAME:..." -> {NAME: {VAR: V}}."""
    variants: dict[str, dict[str, str]] = {}
    for item in filter(None, spec.split(";")):
        name, _, assignments = item.partition(":")
        env = {}
        for a in filter(None, assignments.split(",")):
            var, eq, value = a.partition("=")
            if not eq or not var.startswith("SAGEATTENTION_"):
                raise argparse.ArgumentTypeError(f"--variants: expected SAGEATTENTION_...=VALUE, got {a!r} in {item!r}")
            env[var] = value
        if not name or name in variants or name == "kernel_only":
            raise argparse.ArgumentTypeError(f"--variants: each variant needs a new name (not kernel_only), got {item!r}")
        variants[name] = env
    if not variants:
        raise argparse.ArgumentTypeError("--variants: no variant given")
    return variants


def parse_ab_shapes(spec: str) -> tuple[tuple[int, int, bool, int, int], ...]:
    """"D:N[:c][:BxH],..." -> (D, N, causal, B, H) each; B4 H32 unless given."""
    shapes = []
    for item in spec.split(","):
        parts = item.split(":")
        causal = len(parts) > 2 and parts[2] == "c"
        rest = parts[3:] if causal else parts[2:]  # [] or ["BxH"]
        bh = ["4", "32"] if not rest else rest[0].split("x") if len(rest) == 1 else []
        if len(parts) < 2 or len(bh) != 2 or not all(x.isdigit() for x in (*parts[:2], *bh)):
            raise argparse.ArgumentTypeError(f"--shapes: expected D:N, D:N:c, D:N:BxH or D:N:c:BxH, got {item!r}")
        shapes.append((int(parts[0]), int(parts[1]), causal, int(bh[0]), int(bh[1])))
    return tuple(shapes)


def with_env(env: dict[str, str], unset: set[str], fn: Callable[[], object]) -> Callable[[], object]:
    """fn with the variant's variables set and the other variants' unset for the call (the op reads them on every
    call)."""

    def call() -> object:
        for var in unset:
            os.environ.pop(var, None)
        os.environ.update(env)
        return fn()

    return call


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", type=parse_ab_shapes, default=tuple((d, n, c, 4, 32) for d, n, c in SHAPES),
                    help="D:N[:c][:BxH],...")
    add_timing_arguments(ap, rounds=4)
    ap.add_argument("--label", default="")
    ap.add_argument("--variants", type=parse_variants, default=parse_variants(DEFAULT_VARIANTS))
    ap.add_argument("--kernel-each", action="store_true", help="also time the kernel alone under each variant")
    ap.add_argument("--backend", default="sageattn",
                    help="sageattn (and the sm90 kernel alone), or a sageattention.bench backend with a _kernel partner")
    args = ap.parse_args(argv)
    check_timing_arguments(ap, args)
    paired = sorted(name for name in BACKENDS if name + "_kernel" in BACKENDS)
    if args.backend != "sageattn" and args.backend not in paired:
        ap.error(f"--backend: expected sageattn or one of {paired}, got {args.backend!r}")
    every_var = {var for env in args.variants.values() for var in env}
    if not torch.cuda.is_available():
        print("knob_ab.py needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    print(f"# {args.label} {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"fp16 HND; TOPS per round (alternating order) and mean", flush=True)
    for d, n, causal, b, h in args.shapes:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        if args.backend == "sageattn":
            e2e = lambda: sageattention.sageattn(q, k, v, tensor_layout="HND", is_causal=causal)  # noqa: E731
            ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
            kernel = kernel_only(q, ops, n, causal, False)
        else:
            e2e = BACKENDS[args.backend].make(q, k, v, causal, "HND")
            kernel = BACKENDS[args.backend + "_kernel"].make(q, k, v, causal, "HND")
        calls = {name: with_env(env, every_var - set(env), e2e) for name, env in args.variants.items()}
        calls["kernel_only"] = with_env({}, every_var, kernel)
        if args.kernel_each:
            for name, env in args.variants.items():
                calls[f"{name}/kernel"] = with_env(env, every_var - set(env), kernel)
        times = time_rounds(calls, args.rounds, lambda name, fn: time_ms(fn, args.warmup_ms, args.rep_ms))
        shape = f"D{d} N{n}{' causal' if causal else ''}" + ("" if (b, h) == (4, 32) else f" B{b}H{h}")
        for name, ms in times.items():
            tops = [flops(b, h, n, d, causal) / (t * 1e-3) / 1e12 for t in ms]
            print(f"{shape:18s} {name:12s} " + " ".join(f"{t:6.1f}" for t in tops) +
                  f"  mean {sum(tops) / len(tops):6.1f}", flush=True)
        for name in args.variants:
            print(f"{shape:18s} {name:12s} kernels (us): {kernel_split(kernel_us(calls[name], reps=10))}", flush=True)
        del q, k, v, calls
        torch.cuda.empty_cache()
    for var in every_var:
        os.environ.pop(var, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
