"""INT8 QK^T + FP16 / FP8 PV attention on warp-level tensor-core MMAs (mma.sync, sm_80+ / sm_89+).

Each call quantizes with the fused core kernels, using the scale groups that match the attention
kernel's tile (csrc/common/mma/tile.cuh), then launches the attention op. Where the inputs allow (fp16 /
bf16; for FP16 PV a V the kernel reads as it is: _fused_applies), all of it is one op call,
``sageattn_mma_f16`` / ``sageattn_mma_f8``, whose intermediates live in one scratch buffer: the same
kernels and bits as ``quantize`` + ``attend`` (kept for benchmarks and tests: three to six op calls).

- Q: INT8 per warp (one scale per WARP_Q rows) or per thread (8 groups per WARP_Q rows: a lane owns
  rows g, g+8, ... of its warp, so it needs one Q scale).
- K: smooth K (mean over tokens removed, never in place), INT8 per 64-key tile (per warp) or 4 groups
  per tile (per thread: the keys of a lane's S-fragment columns).
- V: FP16 read directly (bf16 is converted, smooth V subtracts the mean first); or FP8 e4m3 per
  channel, transposed (quant_v_fp8).

Causal masking is bottom-right aligned: query i sees key j iff j <= i + (kv_len - qo_len), which is
SDPA's ``is_causal`` when the lengths are equal and FlashAttention's convention otherwise. Rows
that see no key give 0 and lse = -inf.
"""

from __future__ import annotations

import dataclasses
import functools

import torch
import torch.nn.functional as F

from sageattention import _device, _lib, quant
from sageattention._layout import (
    FP8_E4M3_MAX,
    GroupSpec,
    from_hnd,
    layout_code,
    padded_head_dim,
    round_up,
    rows_16b_aligned,
    to_hnd,
)
from sageattention._ops import _bhnd, register_family_fakes
from sageattention._varlen import device_offsets, packed_inputs_fit, packed_lse

# Padded head dim -> (WARP_Q, CTA_Q); mirrors MmaTile<D> in csrc/common/mma/tile.cuh (the C++ op
# checks the scale-tensor sizes, so a mismatch is an error, never wrong output).
TILES = {64: (32, 128), 128: (32, 128), 256: (16, 64)}
CTA_K = 64
# FP16 per-tile accumulator: V in [-2.25, 2.25] keeps 448 * 2.25 * 64 keys < 65504 (fp16 max).
FP8_F16_ACCUM_V_MAX = 2.25

FP16_PV_ACCUM = {"fp32": 0, "fp16+fp32": 1, "fp16": 2}
FP8_PV_ACCUM = {"fp32": 0, "fp32+fp32": 1, "fp32+fp16": 2}
QK_QUANT_GRAN = ("per_warp", "per_thread")
# CUDA grids take at most 65 535 blocks in y and z, where these kernels and their quantization put heads and batch
# entries (csrc/common/mma/attn_host.h refuses more). A larger batch runs as chunks: every statistic and scale is per
# batch entry, so each entry gets the attention it would get in one call.
MAX_GRID_BATCH = 65535


@functools.cache
def attn_smem_bytes(head_dim_padded: int, fp8_pv: bool) -> int | None:
    """Shared memory per thread block that the family's attention kernel takes at this padded head dim (the op reads
    it off the compiled tiles); None for a module built before the op existed."""
    name = "mma_f8_attn_smem" if fp8_pv else "mma_f16_attn_smem"
    op = getattr(torch.ops.sageattention, name, None)
    return None if op is None else int(op(head_dim_padded))


@functools.cache
def _smem_per_block(device_index: int) -> int:
    return int(torch.cuda.get_device_properties(device_index).shared_memory_per_block_optin)


def smem_problem(q: torch.Tensor, head_dim: int, fp8_pv: bool) -> str | None:
    """Why the family's attention kernel cannot run this head dim on q's GPU (None if it can): it needs more shared
    memory than the GPU lets one block take. sm_86, sm_89 and sm_12x allow 99 KB; today's largest kernels, at head dims
    129-256 (32-key K/V tiles), take 67 KB (FP16 PV) and 58 KB (FP8 PV), so every supported GPU runs them, and this is
    the guard for a tile that would not fit. Asked on every call, so the answer is kept per device, head dim and PV
    type."""
    if q.device.type != "cuda":  # nothing to ask (the kernels refuse such inputs; tests route them to fakes)
        return None
    return _smem_problem(_device.index_of(q), head_dim, fp8_pv)


@functools.cache
def _smem_problem(device_index: int, head_dim: int, fp8_pv: bool) -> str | None:
    need = attn_smem_bytes(padded_head_dim(head_dim), fp8_pv)
    have = _smem_per_block(device_index)
    if need is None or need <= have:
        return None
    cap = _device.capability(device_index)
    return (f"head_dim {head_dim} with {'FP8' if fp8_pv else 'FP16'} PV: the mma.sync kernel needs {need} bytes of "
            f"shared memory per thread block, and this GPU (sm_{cap[0]}{cap[1]}) allows {have}")


@functools.cache  # the build's config is fixed for the process; every FP8 call asks (its default accumulation)
def fp8_f16_accum_available() -> bool:
    """True when the build has the f16-accumulating FP8 MMA (nvcc >= 12.8: SAGE_FP8_F16_ACCUM=1)."""
    return bool(_lib._build_config().get("fp8_f16_accum", False))


def _fp8_f16_unavailable() -> Exception:
    return _lib.KernelUnavailableError(
        "pv_accum_dtype='fp32+fp16' needs the f16-accumulating FP8 MMA, which this build of sageattention lacks "
        "(it was compiled with nvcc < 12.8); use 'fp32+fp32', or a build made with CUDA >= 12.8"
    )


def softmax_step(head_dim_padded: int) -> int:
    """Keys the kernels soft-max at a time (WarpTile::kSubK in csrc/common/mma/attn_mainloop.cuh), both PV types: 64 up
    to head dim 128, 32 at 256. The reference (attention_from_quantized's block_kv) must take the same steps to round
    FP8 P~ against the same running maxima."""
    return 64 if head_dim_padded <= 128 else 32


def q_spec(head_dim_padded: int, qk_quant_gran: str) -> GroupSpec:
    warp_q = TILES[head_dim_padded][0]
    return GroupSpec(warp_q, 8, 1) if qk_quant_gran == "per_thread" else GroupSpec(warp_q)


def k_spec(qk_quant_gran: str, fp8_pv: bool) -> GroupSpec:
    """Per thread: the 4 lanes of a row own S columns 2t, 2t+1 of every 8 keys (FP16 PV), or keys
    4t..4t+3 of every 16 (FP8 PV, whose kernel permutes keys to fit the e4m3 A fragment)."""
    if qk_quant_gran != "per_thread":
        return GroupSpec(CTA_K)
    return GroupSpec(CTA_K, 16, 4) if fp8_pv else GroupSpec(CTA_K, 8, 2)


@dataclasses.dataclass
class Prepared:
    """Quantized operands of one call: everything the attention op needs, for kernel-only timing."""

    fp8_pv: bool
    q_int8: torch.Tensor
    q_scale: torch.Tensor
    k_int8: torch.Tensor
    k_scale: torch.Tensor
    k_mean: torch.Tensor | None
    v: torch.Tensor  # fp16 in tensor_layout (FP16 PV), or e4m3 [B, Hkv, D_pad, N_pad]
    v_scale: torch.Tensor | None
    v_mean: torch.Tensor | None
    tensor_layout: str
    qo_len: int
    kv_len: int
    head_dim: int
    out_dtype: torch.dtype
    q_per_thread: bool
    k_per_thread: bool


def _fp16_v(v: torch.Tensor, tensor_layout: str, smooth_v: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """V as the FP16-PV kernel reads it: fp16, head dim a multiple of 8, 16-byte aligned rows."""
    v_mean = None
    if smooth_v:
        v_mean = quant.channel_stats(v, tensor_layout, centered=False)[0]
        vh = (to_hnd(v, tensor_layout).float() - v_mean[:, :, None, :]).to(torch.float16)
        v = from_hnd(vh, tensor_layout)
    elif v.dtype != torch.float16:
        v = v.to(torch.float16)
    if not rows_16b_aligned(v):
        d = v.shape[-1]
        vh = F.pad(to_hnd(v, tensor_layout), (0, round_up(d, 8) - d)).contiguous()
        v = from_hnd(vh, tensor_layout)
    return v, v_mean


def quantize(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tensor_layout: str,
    qk_quant_gran: str,
    fp8_pv: bool,
    smooth_k: bool,
    smooth_v: bool,
    pv_accum_dtype: str = "fp32",
) -> Prepared:
    layout_code(tensor_layout)
    if qk_quant_gran not in QK_QUANT_GRAN:
        raise ValueError(f"qk_quant_gran must be one of {QK_QUANT_GRAN}, got {qk_quant_gran!r}")
    qh, kh = to_hnd(q, tensor_layout), to_hnd(k, tensor_layout)
    head_dim = qh.shape[-1]
    d_pad = padded_head_dim(head_dim)
    cta_q = TILES[d_pad][1]
    qs_spec, ks_spec = q_spec(d_pad, qk_quant_gran), k_spec(qk_quant_gran, fp8_pv)
    q8, qs = quant.quant_int8(q, tensor_layout, qs_spec, d_pad, cta_q)
    k8, ks, k_mean = quant.smooth_quant_k(k, tensor_layout, ks_spec, d_pad, CTA_K, smooth_k)
    if fp8_pv:
        v_max = FP8_F16_ACCUM_V_MAX if pv_accum_dtype == "fp32+fp16" else FP8_E4M3_MAX
        vq, v_scale, v_mean = quant.quant_v_fp8(v, tensor_layout, CTA_K, d_pad, smooth_v, v_max)
    else:
        vq, v_mean = _fp16_v(v, tensor_layout, smooth_v)
        v_scale = None
    return Prepared(
        fp8_pv=fp8_pv, q_int8=q8, q_scale=qs, k_int8=k8, k_scale=ks, k_mean=k_mean, v=vq, v_scale=v_scale,
        v_mean=v_mean, tensor_layout=tensor_layout, qo_len=qh.shape[2], kv_len=kh.shape[2], head_dim=head_dim,
        out_dtype=q.dtype, q_per_thread=qk_quant_gran == "per_thread", k_per_thread=qk_quant_gran == "per_thread",
    )


def attend(
    p: Prepared, *, is_causal: bool, sm_scale: float, pv_accum_dtype: str, return_lse: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention op on quantized operands -> (out, lse without the smooth-K correction)."""
    _lib.require("mma_fp8" if p.fp8_pv else "mma_fp16", "the mma.sync attention kernel")
    ops = torch.ops.sageattention
    common = {
        "tensor_layout": layout_code(p.tensor_layout), "qo_len": p.qo_len, "kv_len": p.kv_len,
        "head_dim": p.head_dim, "out_dtype": 1 if p.out_dtype == torch.bfloat16 else 0,
        "is_causal": bool(is_causal), "q_per_thread": p.q_per_thread, "k_per_thread": p.k_per_thread,
        "sm_scale": float(sm_scale), "return_lse": bool(return_lse),
    }
    if p.fp8_pv:
        if pv_accum_dtype not in FP8_PV_ACCUM:
            raise ValueError(f"pv_accum_dtype must be one of {tuple(FP8_PV_ACCUM)}, got {pv_accum_dtype!r}")
        if pv_accum_dtype == "fp32+fp16" and not fp8_f16_accum_available():
            raise _fp8_f16_unavailable()
        return ops.qk_int8_sv_f8_attn(
            p.q_int8, p.k_int8, p.v, p.q_scale, p.k_scale, p.v_scale, p.v_mean,
            pv_accum=FP8_PV_ACCUM[pv_accum_dtype], **common,
        )
    if pv_accum_dtype not in FP16_PV_ACCUM:
        raise ValueError(f"pv_accum_dtype must be one of {tuple(FP16_PV_ACCUM)}, got {pv_accum_dtype!r}")
    return ops.qk_int8_sv_f16_attn(
        p.q_int8, p.k_int8, p.v, p.q_scale, p.k_scale, p.v_mean, pv_accum=FP16_PV_ACCUM[pv_accum_dtype], **common
    )


_HALF = (torch.float16, torch.bfloat16)


def _fused_applies(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, fp8_pv: bool, smooth_v: bool) -> bool:
    """Whether the fused op takes this call: fp16 / bf16 Q and K, head dims up to 256, and V as the op needs it:
    fp16 / bf16 for FP8 PV; for FP16 PV, fp16 that the kernel reads as it is and no smooth V (else _fp16_v
    converts V in PyTorch first, which only the separate path does)."""
    if q.dtype not in _HALF or k.dtype not in _HALF or q.shape[-1] > 256:
        return False
    if fp8_pv:
        return v.dtype in _HALF
    return v.dtype == torch.float16 and not smooth_v and rows_16b_aligned(v)


@functools.cache
def _fused_op(fp8_pv: bool) -> torch._ops.OpOverload:
    """The fused op's overload, looked up once (its module is loaded: _run requires the family first)."""
    ops = torch.ops.sageattention
    return ops.sageattn_mma_f8.default if fp8_pv else ops.sageattn_mma_f16.default


def _run(q, k, v, fp8_pv: bool, what: str, *, tensor_layout, is_causal, qk_quant_gran, sm_scale, pv_accum_dtype,
         smooth_k, smooth_v, return_lse):
    _lib.require("mma_fp8" if fp8_pv else "mma_fp16", what)
    problem = smem_problem(q, q.shape[-1], fp8_pv)
    if problem is not None:  # before any work: the launch would fail after the quantization
        other = "" if fp8_pv else " or FP8 PV (sageattn_qk_int8_pv_fp8_cuda, sm_89 and newer)"
        raise _lib.KernelUnavailableError(f"{what}: {problem}. Call sageattn() (it runs SDPA for such calls){other}")
    accums = FP8_PV_ACCUM if fp8_pv else FP16_PV_ACCUM
    if pv_accum_dtype not in accums:
        raise ValueError(f"{what}: pv_accum_dtype must be one of {tuple(accums)}, got {pv_accum_dtype!r}")
    if fp8_pv and pv_accum_dtype == "fp32+fp16" and not fp8_f16_accum_available():
        raise _fp8_f16_unavailable()  # before any work
    if qk_quant_gran not in QK_QUANT_GRAN:
        raise ValueError(f"{what}: qk_quant_gran must be one of {QK_QUANT_GRAN}, got {qk_quant_gran!r}")
    if q.shape[0] > MAX_GRID_BATCH:
        options = {"tensor_layout": tensor_layout, "is_causal": is_causal, "qk_quant_gran": qk_quant_gran,
                   "sm_scale": sm_scale, "pv_accum_dtype": pv_accum_dtype, "smooth_k": smooth_k, "smooth_v": smooth_v,
                   "return_lse": return_lse}
        parts = [_run(q[i:i + MAX_GRID_BATCH], k[i:i + MAX_GRID_BATCH], v[i:i + MAX_GRID_BATCH], fp8_pv, what,
                      **options) for i in range(0, q.shape[0], MAX_GRID_BATCH)]
        if not return_lse:
            return torch.cat(parts)
        return torch.cat([out for out, _ in parts]), torch.cat([lse for _, lse in parts])
    if _fused_applies(q, k, v, fp8_pv, smooth_v):
        # One op call instead of quantize's two to five and attend's: their argument parsing and allocations
        # are most of a small call's host time. Same kernels on the same operands, so the same bits.
        code, per_thread = layout_code(tensor_layout), qk_quant_gran == "per_thread"
        if fp8_pv:
            v_max = FP8_F16_ACCUM_V_MAX if pv_accum_dtype == "fp32+fp16" else FP8_E4M3_MAX
            out, lse, k_mean = _fused_op(True)(
                q, k, v, code, bool(is_causal), per_thread, bool(smooth_k), bool(smooth_v), float(sm_scale),
                FP8_PV_ACCUM[pv_accum_dtype], v_max, bool(return_lse))
        else:
            out, lse, k_mean = _fused_op(False)(
                q, k, v, code, bool(is_causal), per_thread, bool(smooth_k), float(sm_scale),
                FP16_PV_ACCUM[pv_accum_dtype], bool(return_lse))
    else:
        p = quantize(q, k, v, tensor_layout=tensor_layout, qk_quant_gran=qk_quant_gran, fp8_pv=fp8_pv,
                     smooth_k=smooth_k, smooth_v=smooth_v, pv_accum_dtype=pv_accum_dtype)
        out, lse = attend(p, is_causal=is_causal, sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype,
                          return_lse=return_lse)
        k_mean = p.k_mean
    if not return_lse:
        return out
    if smooth_k:
        lse = lse + quant.lse_correction(q, k_mean, tensor_layout, sm_scale)
    return out, lse


@functools.cache
def _has_varlen_op(fp8_pv: bool) -> bool:
    return hasattr(torch.ops.sageattention, "sageattn_mma_f8_varlen" if fp8_pv else "sageattn_mma_f16_varlen")


def varlen_accum(fp8_pv: bool) -> str:
    """The one accumulation the varlen ops run: the family's default ("fp32+fp16" where the build has it)."""
    if not fp8_pv:
        return "fp32"
    return "fp32+fp16" if fp8_f16_accum_available() else "fp32+fp32"


def varlen_applies(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, options: dict[str, object], fp8_pv: bool) -> bool:
    """Whether sageattn_varlen's packed call can run as one sageattn_mma_f16_varlen / _f8_varlen op: fp16 / bf16,
    head dims up to 256 shared by q, k and v, whole K/V head groups, the family's default accumulation, no
    dropout; FP16 PV also needs a V the kernel reads as it is (fp16, 16-byte rows) and no smooth V."""
    if not _has_varlen_op(fp8_pv) or q.dtype not in _HALF:  # no op: a module built before it existed
        return False
    if smem_problem(q, q.shape[-1], fp8_pv) is not None:  # the runs path, whose sageattn calls fall back
        return False
    if not packed_inputs_fit(q, k, v, options, (None, varlen_accum(fp8_pv)), 256):
        return False
    if fp8_pv:
        return v.dtype in _HALF
    return v.dtype == torch.float16 and not options.get("smooth_v")


def varlen_mma(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
    *,
    fp8_pv: bool,
    is_causal: bool,
    qk_quant_gran: str,
    sm_scale: float,
    smooth_k: bool,
    smooth_v: bool,
    return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Packed sequences [total, H, D] in one op: cu_seqlens stay on the GPU (no host read, no sync); K is smoothed
    per sequence, V's statistics (FP8 PV) span the pack. Returns out [total_q, Hq, D] and, with return_lse, lse
    [Hq, total_q]."""
    if qk_quant_gran not in QK_QUANT_GRAN:
        raise ValueError(f"qk_quant_gran must be one of {QK_QUANT_GRAN}, got {qk_quant_gran!r}")
    _lib.require("mma_fp8" if fp8_pv else "mma_fp16", "sageattn_varlen's mma.sync kernel")
    cq, ck = device_offsets(cu_seqlens_q, q.device), device_offsets(cu_seqlens_k, q.device)
    per_thread = qk_quant_gran == "per_thread"
    ops = torch.ops.sageattention
    if fp8_pv:
        v_max = FP8_F16_ACCUM_V_MAX if varlen_accum(True) == "fp32+fp16" else FP8_E4M3_MAX
        out, lse, k_mean = ops.sageattn_mma_f8_varlen(q, k, v, cq, ck, bool(is_causal), per_thread, bool(smooth_k),
                                                      bool(smooth_v), float(sm_scale), v_max, bool(return_lse))
    else:
        out, lse, k_mean = ops.sageattn_mma_f16_varlen(q, k, v, cq, ck, bool(is_causal), per_thread, bool(smooth_k),
                                                       float(sm_scale), bool(return_lse))
    out = out[0]  # the ops' batch of one
    return (out, packed_lse(q, lse[0], k_mean, cq, smooth_k, sm_scale)) if return_lse else out


def qk_int8_pv_fp16(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, tensor_layout: str, is_causal: bool, qk_quant_gran: str,
    sm_scale: float, pv_accum_dtype: str, smooth_k: bool, smooth_v: bool, return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """INT8 Q.K^T (mma m16n8k32) + FP16 P.V (mma m16n8k16). pv_accum_dtype: fp32 | fp16+fp32 | fp16.

    f16 accumulators double the PV MMA rate on GPUs whose fp32-accumulating MMA runs at half rate (GeForce sm_86 and
    sm_89); P enters them as p / 64. "fp16+fp32" adds a fresh f16 accumulator into fp32 O every 64 keys (32 at head
    dim 256) and so holds any f16 V. "fp16" keeps O itself in f16: it overflows once kv_len * max|V| nears
    64 * 65504 under near-uniform attention.
    """
    return _run(q, k, v, False, "sageattn_qk_int8_pv_fp16_cuda", tensor_layout=tensor_layout, is_causal=is_causal,
                qk_quant_gran=qk_quant_gran, sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k,
                smooth_v=smooth_v, return_lse=return_lse)


def qk_int8_pv_fp8(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, tensor_layout: str, is_causal: bool, qk_quant_gran: str,
    sm_scale: float, pv_accum_dtype: str, smooth_k: bool, smooth_v: bool, return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """INT8 Q.K^T + FP8 e4m3 P.V (mma m16n8k32), P~ with the static offset log2(448), per-channel V
    scale in the epilogue. pv_accum_dtype: fp32 | fp32+fp32 (two-level) | fp32+fp16 (nvcc >= 12.8)."""
    return _run(q, k, v, True, "sageattn_qk_int8_pv_fp8_cuda", tensor_layout=tensor_layout, is_causal=is_causal,
                qk_quant_gran=qk_quant_gran, sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k,
                smooth_v=smooth_v, return_lse=return_lse)


def _attn_fake(q, k, v, tensor_layout, qo_len, kv_len, head_dim, out_dtype, return_lse):
    b, hq = q.shape[0], q.shape[1]
    dt = torch.bfloat16 if out_dtype == 1 else torch.float16
    shape = (b, hq, qo_len, head_dim) if tensor_layout == 0 else (b, qo_len, hq, head_dim)
    lse = q.new_empty((b, hq, qo_len) if return_lse else (0,), dtype=torch.float32)
    return q.new_empty(shape, dtype=dt), lse


def _fused_fake(q, k, tensor_layout, smooth_k, return_lse):
    """out in q's shape and dtype (contiguous), lse [B, Hq, Nq] or [0], k_mean [B or 0, Hkv, D]."""
    (b, hq, nq, d), (_, hk, _, _) = _bhnd(q, tensor_layout), _bhnd(k, tensor_layout)
    lse = q.new_empty((b, hq, nq) if return_lse else (0,), dtype=torch.float32)
    k_mean = q.new_empty((b if smooth_k else 0, hk, d), dtype=torch.float32)
    out_dtype = torch.bfloat16 if q.dtype == torch.bfloat16 else torch.float16
    return q.new_empty(q.shape, dtype=out_dtype), lse, k_mean


def _varlen_fake(q, k, cu_seqlens_q, smooth_k, return_lse):
    """out [1, total_q, Hq, D] in q's dtype, lse [1, Hq, total_q] or [0], k_mean [S or 0, Hkv, D] (per sequence)."""
    total_q, hq, d = q.shape
    out_dtype = torch.bfloat16 if q.dtype == torch.bfloat16 else torch.float16
    lse = q.new_empty((1, hq, total_q) if return_lse else (0,), dtype=torch.float32)
    return (q.new_empty((1, total_q, hq, d), dtype=out_dtype), lse,
            q.new_empty((cu_seqlens_q.shape[0] - 1 if smooth_k else 0, k.shape[1], d), dtype=torch.float32))


@register_family_fakes("mma_fp16")
def _fp16_fakes() -> None:
    @torch.library.register_fake("sageattention::qk_int8_sv_f16_attn")
    def _(q, k, v, q_scale, k_scale, v_mean, tensor_layout, qo_len, kv_len, head_dim, out_dtype, is_causal,
          q_per_thread, k_per_thread, sm_scale, pv_accum, return_lse):
        return _attn_fake(q, k, v, tensor_layout, qo_len, kv_len, head_dim, out_dtype, return_lse)

    @torch.library.register_fake("sageattention::sageattn_mma_f16")
    def _(q, k, v, tensor_layout, is_causal, qk_per_thread, smooth_k, sm_scale, pv_accum, return_lse):
        return _fused_fake(q, k, tensor_layout, smooth_k, return_lse)

    if _has_varlen_op(False):  # absent from a module built before it (A/B runs swap modules)
        @torch.library.register_fake("sageattention::sageattn_mma_f16_varlen")
        def _(q, k, v, cu_seqlens_q, cu_seqlens_k, is_causal, qk_per_thread, smooth_k, sm_scale, return_lse):
            return _varlen_fake(q, k, cu_seqlens_q, smooth_k, return_lse)


@register_family_fakes("mma_fp8")
def _fp8_fakes() -> None:
    @torch.library.register_fake("sageattention::qk_int8_sv_f8_attn")
    def _(q, k, v, q_scale, k_scale, v_scale, v_mean, tensor_layout, qo_len, kv_len, head_dim, out_dtype, is_causal,
          q_per_thread, k_per_thread, sm_scale, pv_accum, return_lse):
        return _attn_fake(q, k, v, tensor_layout, qo_len, kv_len, head_dim, out_dtype, return_lse)

    @torch.library.register_fake("sageattention::sageattn_mma_f8")
    def _(q, k, v, tensor_layout, is_causal, qk_per_thread, smooth_k, smooth_v, sm_scale, pv_accum, v_scale_max,
          return_lse):
        return _fused_fake(q, k, tensor_layout, smooth_k, return_lse)

    if _has_varlen_op(True):  # absent from a module built before it (A/B runs swap modules)
        @torch.library.register_fake("sageattention::sageattn_mma_f8_varlen")
        def _(q, k, v, cu_seqlens_q, cu_seqlens_k, is_causal, qk_per_thread, smooth_k, smooth_v, sm_scale,
              v_scale_max, return_lse):
            return _varlen_fake(q, k, cu_seqlens_q, smooth_k, return_lse)
