"""A few small mma.sync attention calls for `compute-sanitizer --tool racecheck` (which is too slow for the full
bench/mma_sanitize_sweep.py in an A/B run): head dims 64 and 128 (or those --headdims names), causal and not, and
lengths that cover one key, tails of Q and K, and several KV tiles. The A/B scripts set the knob that picks their
kernels in the environment.

    compute-sanitizer --tool racecheck --error-exitcode 9 python bench/mma_race_sweep.py [--fp8] [--headdims 64]
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
    ap.add_argument("--fp8", action="store_true", help="the FP8-PV kernel ('fp32+fp32') instead of FP16 PV ('fp32')")
    ap.add_argument("--headdims", type=parse_headdims, default=(64, 128))
    return ap.parse_args(argv)


def cases(dims: tuple[int, ...]) -> Iterator[tuple[int, bool, int, int]]:
    for d, causal, (nq, nk) in itertools.product(dims, (False, True), LENGTHS):
        yield d, causal, nq, nk


def main() -> None:
    args = parse()
    import torch

    import sageattention

    fn, accum = ((sageattention.sageattn_qk_int8_pv_fp8_cuda, "fp32+fp32") if args.fp8
                 else (sageattention.sageattn_qk_int8_pv_fp16_cuda, "fp32"))
    n = 0
    for d, causal, nq, nk in cases(args.headdims):
        q, k, v = (torch.randn(1, 2, m, d, device="cuda", dtype=torch.float16) for m in (nq, nk, nk))
        fn(q, k, v, is_causal=causal, pv_accum_dtype=accum)
        n += 1
    torch.cuda.synchronize()
    print(f"race sweep: {n} calls")


if __name__ == "__main__":
    main()
