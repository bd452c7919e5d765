"""Python entry points of the fused quantization kernels (``sageattention::`` core ops).

Kernels call these with their own tile geometry: the INT8 outputs are HND [B, H, N_pad, D_pad]
(zero-filled tails), V is e4m3 [B, H, D_pad, N_pad]; see the op schemas in csrc/core/registry.cpp.
"""

from __future__ import annotations

import torch

from sageattention import _lib
from sageattention._layout import FP8_E4M3_MAX, GroupSpec, layout_code, to_hnd


def _ops() -> object:
    _lib.require("core", "sageattention's quantization kernels")
    return torch.ops.sageattention


def channel_stats(x: torch.Tensor, tensor_layout: str, centered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, absmax) over tokens per (batch, head, channel), fp32 [B, H, D]."""
    return _ops().channel_stats(x, layout_code(tensor_layout), centered)


def quant_int8(
    x: torch.Tensor,
    tensor_layout: str,
    spec: GroupSpec,
    head_dim_padded: int,
    pad_multiple: int,
    mean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """INT8 [B, H, N_pad, D_pad] and fp32 scales [B, H, blocks * groups]; `mean` is subtracted first."""
    return _ops().quant_int8(
        x, layout_code(tensor_layout), spec.block, spec.period, spec.stride, head_dim_padded, pad_multiple, mean
    )


def smooth_quant_k(
    k: torch.Tensor, tensor_layout: str, spec: GroupSpec, head_dim_padded: int, pad_multiple: int, smooth_k: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """K -> INT8 with the token mean removed (smooth K). Returns (k_int8, k_scale, k_mean or None).

    The caller's K is never modified: the mean is subtracted inside the quantization kernel.
    """
    mean = channel_stats(k, tensor_layout, centered=False)[0] if smooth_k else None
    k8, ks = quant_int8(k, tensor_layout, spec, head_dim_padded, pad_multiple, mean)
    return k8, ks, mean


def quant_v_fp8(
    v: torch.Tensor,
    tensor_layout: str,
    pad_multiple: int,
    head_dim_padded: int,
    smooth_v: bool = False,
    scale_max: float = FP8_E4M3_MAX,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """V -> per-channel e4m3, transposed [B, H, D_pad, N_pad]. Returns (v_fp8, v_scale, v_mean or None)."""
    mean, amax = channel_stats(v, tensor_layout, centered=smooth_v)
    vq, vs = _ops().quant_v_fp8(
        v, layout_code(tensor_layout), pad_multiple, head_dim_padded, scale_max, amax, mean if smooth_v else None
    )
    return vq, vs, (mean if smooth_v else None)


def lse_correction(q: torch.Tensor, k_mean: torch.Tensor, tensor_layout: str, sm_scale: float) -> torch.Tensor:
    """sm_scale * q . mean_k per (batch, q-head, token): what smooth K removed from every logit row. Softmax
    ignores that row shift; the LSE must add it back. k_mean [B, Hkv, d] as smooth_quant_k returns it."""
    qh = to_hnd(q, tensor_layout)
    km = k_mean if k_mean.shape[1] == qh.shape[1] else k_mean.repeat_interleave(qh.shape[1] // k_mean.shape[1], 1)
    return torch.einsum("bhnd,bhd->bhn", qh.float(), km) * sm_scale
