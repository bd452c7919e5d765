"""Small packs through every one-op varlen path (sageattn_sm90_varlen, sageattn_mma_f16_varlen,
sageattn_mma_f8_varlen), for compute-sanitizer:
compute-sanitizer --tool memcheck --error-exitcode 9 python bench/varlen_sanitize_sweep.py [--quick]

Covers what selects a different code path: padded head dims 64 / 128 / 256 (and an unpadded 80), smoothing on and
off (per-sequence K means: sequences sharing a quantization CTA and spanning several, empty ones), both scale
granularities, causal and not, GQA, and unchecked offsets (decreasing, past the end, negative), which must stay
memory safe. --quick: one call per family and head dim (for racecheck / synccheck).
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
from sageattention import _device, _lib  # noqa: E402
from sageattention.kernels import mma  # noqa: E402

PACKS = ([1, 300, 0, 2100, 129, 7], [5000], [0, 0, 64], [3] * 40)
BAD_OFFSETS = ([0, 300, 200, 437], [0, 100, 900, 437], [-50, 100, 300, 437])


def families() -> list[str]:
    cap = _device.capability(torch.cuda.current_device())
    out = ["sm90"] if cap == (9, 0) and _lib.load("sm90") else []
    out += [f for f in ("mma_fp16", "mma_fp8") if _lib.load(f) and (f == "mma_fp16" or cap >= (8, 9))]
    return out


def call(family: str, q, k, v, cq, ck, causal: bool, per_thread: bool, smooth_k: bool, smooth_v: bool,
         return_lse: bool = True) -> torch.Tensor:
    """One call of the family's one-op varlen kernel; its out [total_q, Hq, D] (the mma ops' batch of one dropped)."""
    ops, scale = torch.ops.sageattention, q.shape[-1] ** -0.5
    if family == "sm90":
        return ops.sageattn_sm90_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, smooth_v, scale, return_lse)[0]
    if family == "mma_fp8":
        v_max = mma.FP8_F16_ACCUM_V_MAX if mma.varlen_accum(True) == "fp32+fp16" else 448.0
        return ops.sageattn_mma_f8_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, smooth_v, scale, v_max,
                                          return_lse)[0][0]
    return ops.sageattn_mma_f16_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, scale, return_lse)[0][0]


def offsets(lengths: list[int]) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    torch.manual_seed(0)
    count = 0
    fams = families()
    if not fams:
        raise SystemExit("no one-op varlen kernel runs on this GPU")
    for family in fams:
        for d in (64, 128, 256) if quick else (64, 128, 256, 80):
            for i, lens in enumerate(PACKS[:1] if quick else PACKS):
                n = sum(lens)
                q = torch.randn(n, 4, d, device="cuda", dtype=torch.float16)
                k, v = (torch.randn(n, 2, d, device="cuda", dtype=torch.float16) + 3 for _ in range(2))
                cu = offsets(lens)
                for smooth_k in (True,) if quick else (True, False):
                    call(family, q, k, v, cu, cu, i % 2 == 1, i % 2 == 0, smooth_k, smooth_k and d == 128)
                    count += 1
            if not quick:
                q = torch.randn(437, 4, d, device="cuda", dtype=torch.float16)
                k, v = (torch.randn(437, 2, d, device="cuda", dtype=torch.float16) for _ in range(2))
                for bad in BAD_OFFSETS:
                    cu = torch.tensor(bad, dtype=torch.int32, device="cuda")
                    call(family, q, k, v, cu, cu, False, True, True, False)
                    count += 1
    torch.cuda.synchronize()
    print(f"varlen sanitize sweep{' (quick)' if quick else ''}: {count} calls on {', '.join(fams)} done")


if __name__ == "__main__":
    main()
