"""End-to-end accuracy of the FP16-PV kernel per accumulation against float64 attention (issue #3's shape: fp16,
B=4 H=32 N=4096, randn, and K with per-channel offsets), at head dims 128 and 256; one line per case.

    python bench/fp16_accum_accuracy.py
"""

from __future__ import annotations

import math
import sys

import torch

sys.path.insert(0, ".")
from sageattention import reference, sageattn_qk_int8_pv_fp16_cuda  # noqa: E402


def errors(out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[float, float]:
    """Relative L1 and cosine over the batch, float64 one batch entry at a time."""
    l1 = den = dot = no = nr = 0.0
    for i in range(q.shape[0]):
        ref, _ = reference.attention_fp64(q[i : i + 1], k[i : i + 1], v[i : i + 1])
        o = out[i : i + 1].double()
        l1 += float((o - ref).abs().sum())
        den += float(ref.abs().sum())
        dot += float((o * ref).sum())
        no += float((o * o).sum())
        nr += float((ref * ref).sum())
    return l1 / den, dot / math.sqrt(no * nr)


def main() -> None:
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    for d in (128, 256):
        for case in ("randn", "k_offset"):
            torch.manual_seed(11)
            q, k, v = (torch.randn(4, 32, 4096, d, device="cuda", dtype=torch.float16) for _ in range(3))
            if case == "k_offset":
                k = k + 10 * torch.randn(4, 32, 1, d, device="cuda", dtype=torch.float16)
            for accum in ("fp32", "fp16+fp32", "fp16"):
                out = sageattn_qk_int8_pv_fp16_cuda(q, k, v, pv_accum_dtype=accum)
                rl1, cos = errors(out, q, k, v)
                print(f"D={d} {case:8s} {accum:9s} rel L1 {rl1:.5f} cosine {cos:.7f}")


if __name__ == "__main__":
    main()
