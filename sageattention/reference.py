"""Exact-semantics PyTorch implementation of the quantized SageAttention algorithm (CPU or GPU).

It is the oracle the CUDA kernels are tested against, so every rounding step is spelled out in the
order the kernels perform it:

1. smooth K: k - mean_tokens(k) per (batch, kv-head, channel), in fp32.
2. Q/K -> INT8, symmetric: amax per scale group (see ``GroupSpec``), q = rint(x * (127 / amax)),
   clamped to +-127; scale = amax / 127 (fp32).
3. S = q_int8 . k_int8 exactly (int32 sums; fp32 holds them exactly: |S| <= 127^2 * 256 < 2^24),
   then s = S * q_scale * k_scale * (sm_scale * log2 e) (base-2 logits).
4. Online softmax over KV tiles of ``block_kv`` keys: m_new = max(m, rowmax(s_tile)),
   acc *= exp2(m - m_new), l *= exp2(m - m_new).
   - PV fp16: p = exp2(s - m_new) (fp32), l += rowsum(p), acc += fp16(p) @ v_fp16 (fp32 accumulate).
   - PV fp8: p = exp2(s - m_new + log2 448) in (0, 448], l += rowsum(p) (fp32, before rounding),
     acc += e4m3(p) @ v_e4m3 as a fresh fp32 accumulator per tile (two-level accumulation);
     V is per-channel e4m3 with scale = amax / v_scale_max applied in the epilogue.
5. O = acc / l (* v_scale) (+ mean_v when smooth_v). Rows with no visible key give O = 0, lse = -inf.
6. lse (natural log) = (m + log2 l - [log2 448 for fp8]) * ln 2 + sm_scale * q . mean_k.

Masking: keys >= kv_len are out of range. Causal uses the bottom-right alignment: query i sees
key j iff j <= i + (kv_len - qo_len); for qo_len == kv_len that is SDPA's ``is_causal``.
"""

from __future__ import annotations

import math

import torch

from sageattention._layout import FP8_E4M3_MAX, FP8_OFFSET, LOG2E, U8_OFFSET, GroupSpec, round_up, to_hnd

LN2 = math.log(2.0)


def channel_stats(x_hnd: torch.Tensor, centered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror of ``sageattention::channel_stats``: mean over tokens and max |x - mean| (or max |x|)."""
    xf = x_hnd.float()
    n = xf.shape[2]
    if n == 0:
        z = xf.new_zeros(xf.shape[0], xf.shape[1], xf.shape[3])
        return z, z.clone()
    mean = xf.mean(dim=2)
    ref = xf - mean[:, :, None, :] if centered else xf
    return mean, ref.abs().amax(dim=2)


def quant_int8(
    x_hnd: torch.Tensor,
    spec: GroupSpec,
    head_dim_padded: int,
    pad_multiple: int,
    mean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror of ``sageattention::quant_int8`` (HND input view) -> (int8 [B,H,Np,Dp], scale)."""
    b, h, n, d = x_hnd.shape
    # whole scale groups and whole KV steps: a step of 192 keys over groups of 128 pads to 384 (the larger of the two
    # left a partial group, whose tokens indexed past the scales)
    n_pad = round_up(n, math.lcm(spec.block, pad_multiple))
    xf = x_hnd.float()
    if mean is not None:
        xf = xf - mean[:, :, None, :].float()
    xp = xf.new_zeros(b, h, n_pad, head_dim_padded)
    xp[:, :, :n, :d] = xf
    gid = spec.group_of_token(n_pad, device=xf.device)
    n_groups = (n_pad // spec.block) * spec.groups
    row_amax = xp.abs().amax(dim=-1)  # [B, H, Np]
    amax = row_amax.new_zeros(b, h, n_groups).scatter_reduce(2, gid.expand(b, h, n_pad), row_amax, "amax")
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    q = torch.round(xp * inv.gather(2, gid.expand(b, h, n_pad))[..., None]).clamp_(-127, 127).to(torch.int8)
    return q, amax / 127.0


def quant_v_fp8(
    v_hnd: torch.Tensor,
    pad_multiple: int,
    head_dim_padded: int,
    scale_max: float,
    absmax: torch.Tensor,
    mean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror of ``sageattention::quant_v_fp8`` -> (e4m3 [B,H,Dp,Np] transposed, scale [B,H,Dp])."""
    b, h, n, d = v_hnd.shape
    n_pad = round_up(n, pad_multiple)
    vf = v_hnd.float()
    if mean is not None:
        vf = vf - mean[:, :, None, :]
    mult = torch.where(absmax > 0, scale_max / absmax, torch.zeros_like(absmax))
    q = (vf * mult[:, :, None, :]).clamp(-FP8_E4M3_MAX, FP8_E4M3_MAX)
    out = vf.new_zeros(b, h, head_dim_padded, n_pad)
    out[:, :, :d, :n] = q.transpose(2, 3)
    scale = absmax.new_zeros(b, h, head_dim_padded)
    scale[:, :, :d] = absmax / scale_max
    return out.to(torch.float8_e4m3fn), scale


def quant_v_s8(v_hnd: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror of the fused quantization's s8 V pass (the sm90 INT8-PV kernel): per (batch, head, channel) scale
    absmax / 127, values rounded to nearest even from v * (127 / absmax), all in fp32 -> (values [B,H,N,D] as floats,
    scale [B,H,D])."""
    vf = v_hnd.float()
    amax = vf.abs().amax(2)
    mult = torch.where(amax > 0, torch.tensor(127.0, device=vf.device) / amax, torch.zeros_like(amax))
    return torch.round(vf * mult[:, :, None, :]), amax / 127


def _expand_heads(x: torch.Tensor, hq: int) -> torch.Tensor:
    return x if x.shape[1] == hq else x.repeat_interleave(hq // x.shape[1], dim=1)


def attention_from_quantized(
    q_int8: torch.Tensor,
    q_scale: torch.Tensor,
    q_spec: GroupSpec,
    k_int8: torch.Tensor,
    k_scale: torch.Tensor,
    k_spec: GroupSpec,
    v: torch.Tensor,
    v_scale: torch.Tensor | None,
    *,
    qo_len: int,
    kv_len: int,
    head_dim: int,
    sm_scale: float,
    is_causal: bool = False,
    block_kv: int = 64,
    v_mean: torch.Tensor | None = None,
    lse_correction: torch.Tensor | None = None,
    p16_dtype: torch.dtype = torch.float16,
    p16_offset: float = 0.0,
    u8_p: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Steps 3-6 on already-quantized operands (HND, padded as the quant ops emit them).

    v: fp16/bf16 [B, Hkv, N, D] for the FP16-PV path (v_scale None), or e4m3 [B, Hkv, Dp, Np] for the
    FP8-PV path with its per-channel v_scale. Returns (out fp32 [B, Hq, qo_len, head_dim],
    lse fp32 [B, Hq, qo_len] natural log). 16-bit PV rounds P~ = exp2(s - m + p16_offset) to p16_dtype (the sm90
    16-bit PV kernel: q's dtype, with the e4m3 kernel's offset FP8_OFFSET).
    u8_p: INT8 PV (the sm90 INT8-PV kernel): v holds s8 values [B, Hkv, N, head_dim] (any float dtype) with
    per-channel v_scale [B, Hkv, head_dim]; each step's reference max is the running max rounded up to an integer,
    P~ = exp2(s - m + U8_OFFSET) is rounded to an integer (through float16, as the kernel packs it), O and 127 l (l: the
    sum of the rounded P~, the kernel's row-sum wgmma) are summed exactly and shifted right (rounding down) by the rise
    of the reference max (the kernel's rescale of its s32 accumulators).
    """
    if u8_p:
        return _attention_u8_p(q_int8, q_scale, q_spec, k_int8, k_scale, k_spec, v, v_scale, qo_len=qo_len,
                               kv_len=kv_len, head_dim=head_dim, sm_scale=sm_scale, is_causal=is_causal,
                               block_kv=block_kv, v_mean=v_mean, lse_correction=lse_correction)
    hq = q_int8.shape[1]
    fp8 = v_scale is not None
    dev = q_int8.device
    nq_pad, nk_pad = q_int8.shape[2], k_int8.shape[2]
    qs = q_scale.gather(2, q_spec.group_of_token(nq_pad, dev).expand(q_scale.shape[0], hq, nq_pad))
    k_scale_e = _expand_heads(k_scale, hq)
    ks = k_scale_e.gather(2, k_spec.group_of_token(nk_pad, dev).expand(k_scale.shape[0], hq, nk_pad))
    qf = q_int8[:, :, :qo_len].float()
    kf = _expand_heads(k_int8, hq)[:, :, :kv_len].float()
    s = torch.matmul(qf, kf.transpose(-1, -2))  # exact integer sums
    s = s * qs[:, :, :qo_len, None] * ks[:, :, None, :kv_len] * (sm_scale * LOG2E)
    if is_causal:
        i = torch.arange(qo_len, device=dev)[:, None]
        j = torch.arange(kv_len, device=dev)[None, :]
        s = s.masked_fill(j > i + (kv_len - qo_len), float("-inf"))
    if fp8:
        vv = _expand_heads(v, hq)[:, :, :head_dim, :kv_len].float().transpose(-1, -2)  # [B,H,N,D]
    else:
        vv = _expand_heads(v, hq)[:, :, :kv_len, :head_dim]
    b = q_int8.shape[0]
    m = torch.full((b, hq, qo_len), float("-inf"), device=dev)
    l = torch.zeros((b, hq, qo_len), device=dev)
    acc = torch.zeros((b, hq, qo_len, head_dim), device=dev)
    for t0 in range(0, kv_len, block_kv):
        st = s[..., t0 : t0 + block_kv]
        m_new = torch.maximum(m, st.amax(dim=-1))
        m_use = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        alpha = torch.exp2(m - m_use)
        if fp8:
            p = torch.exp2(st - m_use[..., None] + FP8_OFFSET)
            pv = torch.matmul(p.to(torch.float8_e4m3fn).float(), vv[:, :, t0 : t0 + block_kv])
        else:
            p = torch.exp2(st - m_use[..., None] + p16_offset)
            pv = torch.matmul(p.to(p16_dtype).float(), vv[:, :, t0 : t0 + block_kv].float())
        l = l * alpha + p.sum(dim=-1)
        acc = acc * alpha[..., None] + pv
        m = m_new
    visible = l > 0
    out = torch.where(visible[..., None], acc / torch.where(visible, l, 1.0)[..., None], 0.0)
    if fp8:
        out = out * _expand_heads(v_scale, hq)[:, :, None, :head_dim]
    if v_mean is not None:
        out = torch.where(visible[..., None], out + _expand_heads(v_mean, hq)[:, :, None, :head_dim], 0.0)
    log2_l = torch.log2(torch.where(visible, l, 1.0)) - (FP8_OFFSET if fp8 else p16_offset)
    lse = torch.where(visible, (m + log2_l) * LN2, float("-inf"))
    if lse_correction is not None:
        lse = lse + lse_correction
    return out, lse


def _scores_log2(q_int8, q_scale, q_spec, k_int8, k_scale, k_spec, qo_len, kv_len, sm_scale, is_causal):
    """The scaled scores s (log2 units, fp32, masked -inf) of quantized Q/K, as attention_from_quantized forms them."""
    hq, dev = q_int8.shape[1], q_int8.device
    nq_pad, nk_pad = q_int8.shape[2], k_int8.shape[2]
    qs = q_scale.gather(2, q_spec.group_of_token(nq_pad, dev).expand(q_scale.shape[0], hq, nq_pad))
    k_scale_e = _expand_heads(k_scale, hq)
    ks = k_scale_e.gather(2, k_spec.group_of_token(nk_pad, dev).expand(k_scale.shape[0], hq, nk_pad))
    s = torch.matmul(q_int8[:, :, :qo_len].float(), _expand_heads(k_int8, hq)[:, :, :kv_len].float().transpose(-1, -2))
    s = s * qs[:, :, :qo_len, None] * ks[:, :, None, :kv_len] * (sm_scale * LOG2E)
    if is_causal:
        i = torch.arange(qo_len, device=dev)[:, None]
        j = torch.arange(kv_len, device=dev)[None, :]
        s = s.masked_fill(j > i + (kv_len - qo_len), float("-inf"))
    return s


def _attention_u8_p(q_int8, q_scale, q_spec, k_int8, k_scale, k_spec, v, v_scale, *, qo_len, kv_len, head_dim,
                    sm_scale, is_causal, block_kv, v_mean, lse_correction):
    """attention_from_quantized's INT8-PV form (u8_p)."""
    hq = q_int8.shape[1]
    s = _scores_log2(q_int8, q_scale, q_spec, k_int8, k_scale, k_spec, qo_len, kv_len, sm_scale, is_causal)
    vv = _expand_heads(v, hq)[:, :, :kv_len, :head_dim].double()
    b, dev = q_int8.shape[0], q_int8.device
    m = torch.full((b, hq, qo_len), float("-inf"), device=dev)
    l = torch.zeros((b, hq, qo_len), device=dev)
    acc = torch.zeros((b, hq, qo_len, head_dim), device=dev, dtype=torch.float64)  # exact integers
    l127 = torch.zeros((b, hq, qo_len), device=dev, dtype=torch.float64)  # 127 l, exact integers

    def shift_right(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:  # x >> k: the kernel's arithmetic shift
        return torch.floor(x * torch.exp2(-k))

    for t0 in range(0, kv_len, block_kv):
        st = s[..., t0 : t0 + block_kv]
        m_ref = torch.ceil(torch.maximum(m, st.amax(dim=-1)))
        m_use = torch.where(torch.isinf(m_ref), torch.zeros_like(m_ref), m_ref)
        shift = torch.where(torch.isinf(m), torch.zeros_like(m), (m_ref - m).clamp(max=31)).double()
        p = torch.round(torch.exp2(st - m_use[..., None] + U8_OFFSET).half().float()).double()
        acc = shift_right(acc, shift[..., None]) + torch.matmul(p, vv[:, :, t0 : t0 + block_kv])
        l127 = shift_right(l127, shift) + 127 * p.sum(dim=-1)
        m = m_ref
    l = (l127 / 127).float()
    visible = l > 0
    out = torch.where(visible[..., None], acc.float() / torch.where(visible, l, 1.0)[..., None], 0.0)
    out = out * _expand_heads(v_scale, hq)[:, :, None, :head_dim]
    if v_mean is not None:
        out = torch.where(visible[..., None], out + _expand_heads(v_mean, hq)[:, :, None, :head_dim], 0.0)
    lse = torch.where(visible, (m + torch.log2(torch.where(visible, l, 1.0)) - U8_OFFSET) * LN2, float("-inf"))
    if lse_correction is not None:
        lse = lse + lse_correction
    return out, lse


def sageattn_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    sm_scale: float | None = None,
    smooth_k: bool = True,
    smooth_v: bool = False,
    pv: str = "fp16",
    q_spec: GroupSpec = GroupSpec(32),
    k_spec: GroupSpec = GroupSpec(64),
    block_kv: int = 64,
    v_scale_max: float = FP8_E4M3_MAX,
    return_lse: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The whole quantized algorithm on float inputs; output in q's dtype and layout."""
    if pv not in ("fp16", "fp8"):
        raise ValueError(f"pv must be 'fp16' or 'fp8', got {pv!r}")
    qh, kh, vh = to_hnd(q, tensor_layout), to_hnd(k, tensor_layout), to_hnd(v, tensor_layout)
    d = qh.shape[-1]
    dp = round_up(d, 32) if d % 32 else d  # INT8 MMA k-step is 32; zero channels change nothing
    scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(d)
    k_mean = channel_stats(kh, centered=False)[0] if smooth_k else None
    q8, qsc = quant_int8(qh, q_spec, dp, q_spec.block)
    k8, ksc = quant_int8(kh, k_spec, dp, block_kv, mean=k_mean)
    correction = None
    if k_mean is not None:
        km = _expand_heads(k_mean, qh.shape[1])
        correction = scale * torch.einsum("bhnd,bhd->bhn", qh.float(), km)
    v_mean = None
    if pv == "fp8":
        mean, amax = channel_stats(vh, centered=smooth_v)
        v_mean = mean if smooth_v else None
        vq, vsc = quant_v_fp8(vh, round_up(max(block_kv, 64), 64), round_up(d, 16), v_scale_max, amax, v_mean)
    else:
        vsc = None
        if smooth_v:
            v_mean = channel_stats(vh, centered=False)[0]
            vq = (vh.float() - v_mean[:, :, None, :]).to(torch.float16)
        else:
            vq = vh.to(torch.float16)
    out, lse = attention_from_quantized(
        q8, qsc, q_spec, k8, ksc, k_spec, vq, vsc,
        qo_len=qh.shape[2], kv_len=kh.shape[2], head_dim=d, sm_scale=scale, is_causal=is_causal,
        block_kv=block_kv, v_mean=v_mean, lse_correction=correction,
    )
    o = out.to(q.dtype)
    o = o if tensor_layout == "HND" else o.transpose(1, 2)
    return (o, lse) if return_lse else o


def rel_l1(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Relative L1 error of out against ref, in float64: sum |out - ref| / sum |ref| (the issues' accuracy measure)."""
    return float((out.double() - ref.double()).abs().sum() / ref.double().abs().sum().clamp_min(1e-30))


def cosine(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Cosine similarity of out and ref, flattened, in float64."""
    a, b = out.double().flatten(), ref.double().flatten()
    return float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-30))


def attention_fp64(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False, sm_scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention in float64 on HND tensors (GQA expanded), bottom-right causal."""
    hq = q.shape[1]
    qd, kd, vd = q.double(), _expand_heads(k, hq).double(), _expand_heads(v, hq).double()
    scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    s = torch.matmul(qd, kd.transpose(-1, -2)) * scale
    if is_causal:
        nq, nk = q.shape[2], k.shape[2]
        i = torch.arange(nq, device=q.device)[:, None]
        j = torch.arange(nk, device=q.device)[None, :]
        s = s.masked_fill(j > i + (nk - nq), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.exp(s - lse[..., None]).nan_to_num(0.0)
    return torch.matmul(p, vd), lse
