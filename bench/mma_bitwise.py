"""Bit-for-bit comparison, in one process, of the mma.sync FP16-PV (or, with --fp8, FP8-PV) kernel under two settings
of the environment variables that its launches read (an A/B build's choice of kernel, a forced CTA budget): every
call runs once with the current environment and once with VAR=VALUE... added, and the outputs and LSEs must be
identical.

    python bench/mma_bitwise.py [--fp8] [--head-dims 64,128] VAR=VALUE [VAR=VALUE ...]   # exit 1 unless all equal

The calls cover head dims 64 and 128 (or those --head-dims names), the family's accumulations, causal and not, fp16
and bf16, both scale granularities, GQA, odd lengths and qo_len != kv_len, and keys whose row maxima keep growing or
settle.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Iterator

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bitwise import inputs  # noqa: E402

LENGTHS = ((1, 1), (17, 17), (127, 127), (1000, 1000), (4097, 4097), (129, 3000), (700, 300))


def accumulations(fp8: bool) -> tuple[str, ...]:
    if not fp8:
        return ("fp32", "fp16+fp32", "fp16")
    from sageattention.kernels import mma

    return ("fp32", "fp32+fp32") + (("fp32+fp16",) if mma.fp8_f16_accum_available() else ())


def cases(head_dims: tuple[int, ...] = (64, 128), fp8: bool = False) -> Iterator[tuple]:
    first = accumulations(fp8)[0]
    for d, accum, causal, dtype, gran, (qo, kv), growth in itertools.product(
            head_dims, accumulations(fp8), (False, True), (torch.float16, torch.bfloat16),
            ("per_thread", "per_warp"), LENGTHS, (0.0, 1.0)):
        if (d == 128 or accum != first) and (dtype == torch.bfloat16 or gran == "per_warp"):  # thin the product
            continue
        yield d, accum, causal, dtype, gran, qo, kv, growth


def outputs(head_dims: tuple[int, ...], fp8: bool = False) -> list[torch.Tensor]:
    fn = sageattention.sageattn_qk_int8_pv_fp8_cuda if fp8 else sageattention.sageattn_qk_int8_pv_fp16_cuda
    got = []
    for i, (d, accum, causal, dtype, gran, qo, kv, growth) in enumerate(cases(head_dims, fp8)):
        q, k, v = inputs(i, d, dtype, qo, kv, growth, batch=2)
        out, lse = fn(q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran=gran, sm_scale=1 / math.sqrt(d),
                      pv_accum_dtype=accum, smooth_k=True, return_lse=True)
        got += [out.cpu(), lse.cpu()]
    return got


def parse(args: list[str]) -> tuple[tuple[int, ...], bool, dict[str, str]]:
    """[--fp8] [--head-dims D,D] VAR=VALUE... -> (head dims, FP8 PV, {VAR: VALUE})."""
    head_dims: tuple[int, ...] = (64, 128)
    fp8 = args[:1] == ["--fp8"]
    if fp8:
        args = args[1:]
    if args[:1] == ["--head-dims"]:
        if len(args) < 2 or not all(d in ("64", "128") for d in args[1].split(",")):
            sys.exit(f"--head-dims: expected a comma list of 64 and 128, got {args[1:2]}")
        head_dims, args = tuple(int(d) for d in args[1].split(",")), args[2:]
    env = {}
    for a in args:
        var, eq, value = a.partition("=")
        if not eq or not var.startswith("SAGEATTENTION_"):
            sys.exit(f"expected SAGEATTENTION_...=VALUE, got {a!r}")
        env[var] = value
    if not env:
        sys.exit(__doc__)
    return head_dims, fp8, env


def main() -> None:
    head_dims, fp8, env = parse(sys.argv[1:])
    base = outputs(head_dims, fp8)
    os.environ.update(env)
    got = outputs(head_dims, fp8)
    bad = [i for i, (a, b) in enumerate(zip(got, base)) if not torch.equal(a.view(torch.uint8), b.view(torch.uint8))]
    print(f"{' '.join(sys.argv[1:])}: {len(got) // 2} calls, {len(got)} tensors: {len(bad)} differ"
          + (f" (first: {bad[:5]})" if bad else ""))
    sys.exit(1 if bad or len(got) != len(base) else 0)


if __name__ == "__main__":
    main()
