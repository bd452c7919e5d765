"""A few small mma.sync attention calls for `compute-sanitizer --tool racecheck` (which is too slow for the full
bench/mma_sanitize_sweep.py in an A/B run): head dims 64 and 128 (or those --headdims names), causal and not, and
lengths that cover one key, tails of Q and K, and several KV tiles. The A/B scripts set the knob that picks their
kernels in the environment.

    compute-sanitizer --tool racecheck --error-exitcode 9 python bench/mma_race_sweep.py [--fp8] [--headdims 64] \
        [--accum fp16+fp32]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator

sys.path.insert(0, ".")
from bench.varlen_knob_ab import parse_headdims  # noqa: E402

LENGTHS = ((64, 1), (130, 77), (77, 300), (256, 256), (256, 512))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp8", action="store_true", help="the FP8-PV kernel instead of FP16 PV")
    ap.add_argument("--headdims", type=parse_headdims, default=(64, 128))
    ap.add_argument("--accum", default=None, help="pv_accum_dtype (default: 'fp32+fp32' with --fp8, else 'fp32')")
    args = ap.parse_args(argv)
    from sageattention.core import FP8_ACCUMS, FP16_ACCUMS

    allowed = FP8_ACCUMS if args.fp8 else FP16_ACCUMS
    if args.accum is None:
        args.accum = "fp32+fp32" if args.fp8 else "fp32"
    elif args.accum not in allowed:
        ap.error(f"--accum: expected one of {', '.join(allowed)} for the {'FP8' if args.fp8 else 'FP16'}-PV kernel, "
                 f"got {args.accum!r}")
    return args


def cases(dims: tuple[int, ...]) -> Iterator[tuple[int, bool, int, int]]:
    for d, causal, (nq, nk) in itertools.product(dims, (False, True), LENGTHS):
        yield d, causal, nq, nk


def main() -> None:
    args = parse()
    import torch

    import sageattention

    fn = sageattention.sageattn_qk_int8_pv_fp8_cuda if args.fp8 else sageattention.sageattn_qk_int8_pv_fp16_cuda
    n = 0
    for d, causal, nq, nk in cases(args.headdims):
        q, k, v = (torch.randn(1, 2, m, d, device="cuda", dtype=torch.float16) for m in (nq, nk, nk))
        fn(q, k, v, is_causal=causal, pv_accum_dtype=args.accum)
        n += 1
    torch.cuda.synchronize()
    print(f"race sweep: {n} calls")


if __name__ == "__main__":
    main()
