"""A/B of runtime knobs (an A/B build's choice of kernel) on the mma.sync families' packed-sequence op, in one
process: for each pack of bench/varlen_bench.py (head dim D, causal and not), every variant's SAGEATTENTION_*
variables are set for its calls, the outputs of all variants must be bit-identical to the first's, and each variant
is timed over R rounds in alternating order (sageattention.bench.time_ms, TOPS as varlen_bench counts them).

    python bench/varlen_knob_ab.py --variants "NAME:VAR=V,...;NAME:..." [--family mma_fp16|mma_fp8]
                                   [--headdims 64,128] [--rounds R] [--label TEXT]

Exits 1 if any output differs between variants.
"""

from __future__ import annotations

import argparse
import sys

import torch

sys.path.insert(0, ".")
from bench.knob_ab import parse_variants, with_env  # noqa: E402
from bench.varlen_bench import H, PACKS, mma_paths, pack_inputs  # noqa: E402
from sageattention.bench import environment, time_ms  # noqa: E402


def parse_headdims(text: str) -> tuple[int, ...]:
    dims = tuple(int(d) for d in text.split(",") if d.strip().isdigit())
    if not dims or any(d not in (64, 128, 256) for d in dims) or len(dims) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"--headdims: expected a comma list of 64, 128, 256; got {text!r}")
    return dims


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=parse_variants, required=True)
    ap.add_argument("--family", choices=("mma_fp16", "mma_fp8"), default="mma_fp16")
    ap.add_argument("--headdims", type=parse_headdims, default=(64, 128))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    if not torch.cuda.is_available():
        print("varlen_knob_ab.py needs a CUDA GPU: torch.cuda.is_available() is False here", file=sys.stderr)
        return 2
    env = environment()
    print(f"# {args.label} {env['device_name']}, torch {env['torch']}, CUDA {env['cuda']}; {args.family} varlen one op, "
          f"H{H} fp16 NHD; TOPS per round (alternating order) and mean", flush=True)
    names = list(args.variants)
    every_var = {v for e in args.variants.values() for v in e}
    differ = 0
    for d in args.headdims:
        for causal in (False, True):
            for label, lens in PACKS.items():
                cu_t, q, k, v, work = pack_inputs(lens, d, causal)
                op_fn, _ = mma_paths(args.family, lens, causal)
                calls = {n: with_env(e, every_var - set(e), lambda: op_fn(q, k, v, cu_t))
                         for n, e in args.variants.items()}
                outs = {n: fn() for n, fn in calls.items()}
                bad = [n for n in names[1:] if not torch.equal(outs[n].view(torch.uint8), outs[names[0]].view(torch.uint8))]
                differ += len(bad)
                tops: dict[str, list[float]] = {n: [] for n in names}
                for r in range(args.rounds):
                    for n in (names if r % 2 == 0 else names[::-1]):
                        tops[n].append(work / time_ms(calls[n], warmup_ms=50, rep_ms=200) / 1e9)
                for n in names:
                    runs = "  ".join(f"{t:6.1f}" for t in tops[n])
                    print(f"D{d} {'causal ' if causal else ''}{label:26s} {n:10s} {runs}  mean {sum(tops[n]) / len(tops[n]):6.1f}"
                          + (f"  OUTPUT DIFFERS from {names[0]}" if n in bad else ""), flush=True)
    print(f"outputs: {differ} (variant, pack, head dim, causal) cases differ from {names[0]}'s")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
