"""The SDPA path: used when the kernels cannot take the inputs, or for arguments they don't model
(attn_mask, dropout_p). Causal keeps our bottom-right alignment when qo_len != kv_len."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sageattention._layout import from_hnd, to_hnd


def _bottom_right_mask(qo_len: int, kv_len: int, device: torch.device) -> torch.Tensor:
    i = torch.arange(qo_len, device=device)[:, None]
    j = torch.arange(kv_len, device=device)[None, :]
    return j <= i + (kv_len - qo_len)


def sdpa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tensor_layout: str,
    is_causal: bool,
    sm_scale: float,
    return_lse: bool,
    attn_mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    qh, kh, vh = to_hnd(q, tensor_layout), to_hnd(k, tensor_layout), to_hnd(v, tensor_layout)
    hq, hkv = qh.shape[1], kh.shape[1]
    nq, nk = qh.shape[2], kh.shape[2]
    mask = attn_mask
    causal = is_causal and nq > 1  # bottom-right, one query sees every key: no mask at all, SDPA's fastest call
    if causal and (nq != nk or attn_mask is not None):
        # SDPA's is_causal is top-left aligned; ours is bottom-right (FlashAttention's convention).
        cm = _bottom_right_mask(nq, nk, q.device)
        if attn_mask is None:
            mask = cm
        elif attn_mask.dtype == torch.bool:
            mask = attn_mask & cm
        else:
            mask = attn_mask.masked_fill(~cm, float("-inf"))
        causal = False
    if return_lse:
        if dropout_p > 0.0:
            raise ValueError("return_lse=True cannot be combined with dropout_p > 0")
        kx = kh.repeat_interleave(hq // hkv, dim=1) if hq != hkv else kh
        vx = vh.repeat_interleave(hq // hkv, dim=1) if hq != hkv else vh
        s = torch.matmul(qh.float(), kx.float().transpose(-1, -2)) * sm_scale
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask.float()
        elif causal:
            s = s.masked_fill(~_bottom_right_mask(nq, nk, q.device), float("-inf"))
        lse = torch.logsumexp(s, dim=-1)
        p = torch.exp(s - lse[..., None]).nan_to_num(0.0)
        out = torch.matmul(p, vx.float()).to(q.dtype)
        return from_hnd(out, tensor_layout), lse
    out = F.scaled_dot_product_attention(
        qh, kh, vh, attn_mask=mask, dropout_p=dropout_p, is_causal=causal, scale=sm_scale,
        enable_gqa=hq != hkv,
    )
    if mask is not None and mask.dtype == torch.bool:
        # SDPA returns NaN for rows with no visible key; our contract is 0 there.
        out = out.nan_to_num(0.0)
    return from_hnd(out, tensor_layout)


def empty_kv_result(
    q: torch.Tensor, tensor_layout: str, return_lse: bool
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """kv_len == 0: no key is visible, so every row is 0 with lse = -inf (never NaN)."""
    out = torch.zeros_like(q)
    if not return_lse:
        return out
    qh = to_hnd(q, tensor_layout)
    return out, torch.full(qh.shape[:3], -math.inf, dtype=torch.float32, device=q.device)
