"""Relative L1 against float64 of each kernel entry point at growing sm_scale on Gaussian inputs (B1 H4 N1024
D128, fp16), up to where one unit of the INT8 score is worth many binades of softmax weight (bench/NOTES.md,
"Coarse logits"). Not an accuracy target: at such scales float64's softmax is about an argmax, which INT8 scores
resolve only up to their rounding (~0.03-0.06); the point is whether a kernel stays finite and near it. A cell is
marked "(non-finite)" where the output holds inf or NaN (NaN counts 1e9 each in the figure).

    python bench/coarse_logits_probe.py [LABEL]
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from sageattention import _device, reference  # noqa: E402

ENTRIES = ["sageattn", "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp8_cuda"]
SM90_ENTRIES = ["sageattn_qk_int8_pv_fp8_cuda_sm90", "sageattn_qk_int8_pv_fp16_cuda_sm90",
                "sageattn_qk_int8_pv_int8_cuda_sm90"]


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.environ["SAGEATTENTION_SHORT_KV_SDPA"] = "0"  # the kernel, whatever the size
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 4, 1024, 128, device="cuda", dtype=torch.float16) for _ in range(3))
    entries = ENTRIES + (SM90_ENTRIES if _device.capability(0) == (9, 0) else [])
    print(f"[{label}] rel-L1 vs float64 by sm_scale; entries: {', '.join(entries)}")
    for scale in (1e0, 1e1, 1e2, 1e3, 1e4, 1e6, 1e10, 1e20, 1e30):
        ref, _ = reference.attention_fp64(q, k, v, False, scale)
        cells = []
        for name in entries:
            out = getattr(sageattention, name)(q, k, v, sm_scale=scale).double()
            bad = "" if bool(torch.isfinite(out).all()) else " (non-finite)"
            err = float(((out - ref).abs().nan_to_num(1e9).sum() / ref.abs().sum()))
            cells.append(f"{err:8.4f}{bad}")
        print(f"[{label}] sm_scale {scale:7.0e}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
