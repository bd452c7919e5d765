"""Input views shared by the fused-op tests (test_sm90_fused_op.py, test_mma_fused_op.py): the same tensor
content laid out as the layouts and strides callers hand to sageattn."""

from __future__ import annotations

import torch

VIEWS = ("HND", "NHD", "NHD-strided", "NHD-unaligned", "NHD-transposed")


def make_view(view: str, b: int, h: int, n: int, d: int, dtype: torch.dtype, offset: float = 0.0) -> torch.Tensor:
    """view: "HND" / "NHD" (contiguous); "NHD-strided" (a slice of rows of d + 8: not contiguous, 16-byte aligned
    rows); "NHD-unaligned" (rows of d + 3: not 16-byte aligned, the kernels' scalar loads); "NHD-transposed" (an
    NHD view of HND storage). offset: a per-channel offset of that scale, so that smoothing matters."""
    x = torch.randn(b, h, n, d, device="cuda")
    if offset:
        x = x + offset * torch.randn(d, device="cuda")
    x = x.to(dtype)
    if view == "HND":
        return x
    if view == "NHD-transposed":
        return x.transpose(1, 2)
    extra = {"NHD": 0, "NHD-strided": 8, "NHD-unaligned": 3}[view]
    out = torch.empty(b, n, h, d + extra, device="cuda", dtype=dtype)[..., :d]
    return out.copy_(x.transpose(1, 2))


def layout_of(view: str) -> str:
    """The tensor_layout argument of a view."""
    return view[:3]
