"""Hopper (sm_90a) kernel: INT8 QK^T on wgmma s8, FP8 e4m3 PV on wgmma, TMA + mbarrier pipeline.

``qk_int8_pv_fp8_sm90`` is what ``sageattention.core`` dispatches to on sm_90. It quantizes Q/K to
INT8 (K smoothed), V to per-channel e4m3 in the kernel's key order, and launches the kernel: in one
``sageattn_sm90`` op call where the fused quantization runs, else through ``quantize``'s passes and the
``qk_int8_pv_fp8_sm90`` op.
"""

from __future__ import annotations

import functools

import torch

from sageattention import _lib, quant
from sageattention._fallback import empty_kv_result
from sageattention._layout import GroupSpec, layout_code, padded_head_dim, round_up, seq_len
from sageattention._ops import _bhnd, register_family_fakes, v_fp8_fake
from sageattention._varlen import device_offsets, packed_inputs_fit, packed_lse

CTA_Q = 128  # query rows per CTA (two consumer warpgroups of 64)
CTA_K = 128  # keys per K quantization block (K and V are padded to it; kv_block is the softmax step)
# "fp32+fp32": a fresh FP8 wgmma accumulator per KV tile, added into fp32 O (two-level, SA2's
# default); "fp32": PV accumulates in O directly, which frees the registers for longer softmax steps
# (kv_block). Both are validated against the same oracle.
PV_ACCUM_DTYPES = ("fp32+fp32", "fp32")


# The accumulation sageattn takes when the caller leaves pv_accum_dtype open (default_pv_accum): single level,
# whose longer softmax steps (kv_block) win in one process on the H200, both timers, three interleaved
# rounds (bench/results/sm90_h200_accum_ab.log): kernel-only D128 16K 864 vs 794 TOPS (+9 %), 8K
# +8 %, 4K +5 %, causal 16K +1.5 %; D64 16K 614 vs 480 (+28 %). Its accuracy is the same or better
# (rel-L1 0.0378 vs 0.0382 at D128 4K).
DEFAULT_PV_ACCUM = "fp32"
# ...except for short key sequences, where a step is mostly padding: 77 text tokens fill a third of one 256-key D64
# step, but most of a 128-key two-level one. Each kernel's cost is taken as the keys it steps over (kv_len rounded
# up to its step), the two-level kernel's weighted by its cost per key against single level's, measured at 16K
# (above: 614/480 at D64, 864/794 at D128). Kernel-only on the H200 (bench/results/short_kv_host_h200_s18.log, Nq 4096):
# 77 keys D64 28.1 vs 35.6 us, D128 39.5 vs 42.9; D64 384 keys 37.7 vs 46.3; D128 256 keys 45.4 vs 51.6.
TWO_LEVEL_KEY_COST = {64: 614 / 480, 128: 864 / 794}


@functools.lru_cache(maxsize=4096)
def default_pv_accum(kv_len: int, head_dim: int) -> str:
    """The accumulation that steps over fewer (cost-weighted) keys for this key length; single level where there
    is no two-level kernel (head dims above 128)."""
    d_pad = padded_head_dim(head_dim)
    if d_pad not in TWO_LEVEL_KEY_COST:
        return DEFAULT_PV_ACCUM
    single = round_up(kv_len, kv_block(head_dim, "fp32"))
    two_level = TWO_LEVEL_KEY_COST[d_pad] * round_up(kv_len, kv_block(head_dim, "fp32+fp32"))
    return "fp32+fp32" if two_level < single else "fp32"


@torch.compiler.assume_constant_result
def kv_block(head_dim: int, pv_accum_dtype: str, pv16: bool = False) -> int:
    """Keys per online-softmax step of the compiled kernel for this shape and accumulation (pv16: the 16-bit PV
    kernel, single level): the block a reference (`reference.attention_from_quantized(block_kv=...)`) must use to
    round P~ the way the kernel does."""
    if pv_accum_dtype not in PV_ACCUM_DTYPES:
        raise ValueError(f"pv_accum_dtype must be one of {PV_ACCUM_DTYPES}, got {pv_accum_dtype!r}")
    _lib.require("sm90", "the sm90 kernel's step size")
    d_pad = padded_head_dim(head_dim)
    _check_accum_for_dim(d_pad, pv_accum_dtype)
    if pv16:
        _check_pv16(pv_accum_dtype)
        return int(torch.ops.sageattention.sm90_kv_block(d_pad, False, True))
    return int(torch.ops.sageattention.sm90_kv_block(d_pad, pv_accum_dtype == "fp32+fp32"))


# The 16-bit PV kernel (sageattn_qk_int8_pv_fp16_cuda_sm90): PV on f16 / bf16 wgmma, accumulated in fp32 O.
PV16_ACCUM_DTYPES = ("fp32",)


def _check_pv16(pv_accum_dtype: str) -> None:
    if pv_accum_dtype not in PV16_ACCUM_DTYPES:
        raise ValueError(
            f"pv_accum_dtype for the sm90 16-bit PV kernel must be one of {PV16_ACCUM_DTYPES} (its wgmma accumulates "
            f"in fp32 O directly), got {pv_accum_dtype!r}"
        )


QK_QUANT_GRANS = ("per_thread", "per_warp")


@functools.cache
def group_specs(qk_quant_gran: str) -> tuple[GroupSpec, GroupSpec]:
    """Q and K scale groups matching the wgmma accumulator fragment (see csrc/sm90/mainloop.cuh)."""
    if qk_quant_gran == "per_thread":
        return GroupSpec(16, 8, 1), GroupSpec(CTA_K, 8, 2)
    if qk_quant_gran == "per_warp":
        return GroupSpec(16), GroupSpec(CTA_K)
    raise ValueError(f"qk_quant_gran must be one of {QK_QUANT_GRANS}, got {qk_quant_gran!r}")


def _check_accum_for_dim(d_pad: int, pv_accum_dtype: str) -> None:
    """Head dim 256 has the single-level kernel only: its O takes 128 registers per thread, and a second fp32
    accumulator of 256 columns does not fit beside it. NotImplementedError, so that sageattn falls back."""
    if d_pad == 256 and pv_accum_dtype == "fp32+fp32":
        raise NotImplementedError(
            'the sm90 kernel runs head dims above 128 with pv_accum_dtype="fp32" only; pass pv_accum_dtype="fp32" '
            '(or use sageattn_qk_int8_pv_fp16_cuda for a two-level accumulation)'
        )


def fragment_key_order(n_pad: int, device: torch.device | None = None) -> torch.Tensor:
    """Index p such that v_std[..., i] == v_sm90[..., p[i]] (quant_v_fp8_sm90's key permutation)."""
    i = torch.arange(n_pad, device=device)
    r = i % 32
    half, b, t, e = r // 16, (r // 8) % 2, (r // 2) % 4, r % 2
    return i - r + half * 16 + t * 4 + b * 2 + e


@torch.compiler.assume_constant_result
def fused_quantization_fits(kv_len: int, head_dim_padded: int, device_index: int) -> bool:
    """Whether this GPU runs quant_qkv_sm90's cluster for heads of kv_len keys (one per K/V head)."""
    return _fused_fits(round_up(kv_len, CTA_K), head_dim_padded, device_index)


@functools.lru_cache(maxsize=None)
def _fused_fits(kv_len_padded: int, head_dim_padded: int, device_index: int) -> bool:
    # The answer depends only on the padded length, the head dim and the GPU (and on SAGEATTENTION_QKV_MIN_CHUNKS,
    # an A/B knob that is not part of the key: every setting fits on the H100/H200); asked once each, since every
    # sageattn call on sm_90 asks (an op call and a locked lookup in the extension otherwise).
    return bool(torch.ops.sageattention.quant_qkv_sm90_fits(kv_len_padded, head_dim_padded, device_index))


def _fused_applies(q: torch.Tensor, kv_len: int, head_dim_padded: int, device_index: int) -> bool:
    """Whether quant_qkv_sm90 (and so sageattn_sm90) takes these inputs: fp16/bf16 and a fitting key length."""
    return q.dtype in (torch.float16, torch.bfloat16) and fused_quantization_fits(kv_len, head_dim_padded, device_index)


def quantize(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str, qk_quant_gran: str,
    smooth_k: bool, smooth_v: bool, fused: bool = True,
) -> dict[str, torch.Tensor | None]:
    """All operands of the kernel, in the form the sm90 kernel reads them.

    fused: one `quant_qkv_sm90` launch that reads Q, K and V once from memory, when the GPU runs its
    thread-block clusters (fused_quantization_fits); otherwise, or with fused=False, the separate
    passes (Q; K statistics, K; V statistics, V), which give the same values and serve as the
    comparison in tests and benchmarks.
    """
    d_pad = padded_head_dim(q.shape[-1])
    q_spec, k_spec = group_specs(qk_quant_gran)
    _lib.require("sm90", "the sm90 kernel's quantization")
    kv_len = seq_len(k, tensor_layout)
    if fused and _fused_applies(q, kv_len, d_pad, k.device.index or 0):
        q8, qs, k8, ks, k_mean, v8, vs, v_mean = torch.ops.sageattention.quant_qkv_sm90(
            q, k, v, layout_code(tensor_layout), qk_quant_gran == "per_thread", smooth_k, smooth_v, d_pad)
        return {"q_int8": q8, "q_scale": qs, "k_int8": k8, "k_scale": ks, "k_mean": k_mean if smooth_k else None,
                "v_fp8": v8, "v_scale": vs, "v_mean": v_mean if smooth_v else None}
    q8, qs = quant.quant_int8(q, tensor_layout, q_spec, d_pad, CTA_Q)
    k8, ks, k_mean = quant.smooth_quant_k(k, tensor_layout, k_spec, d_pad, CTA_K, smooth_k)
    mean, amax = quant.channel_stats(v, tensor_layout, centered=smooth_v)
    v_mean = mean if smooth_v else None
    v8, vs = torch.ops.sageattention.quant_v_fp8_sm90(v, layout_code(tensor_layout), CTA_K, d_pad, amax, v_mean)
    return {"q_int8": q8, "q_scale": qs, "k_int8": k8, "k_scale": ks, "k_mean": k_mean,
            "v_fp8": v8, "v_scale": vs, "v_mean": v_mean}


def _result(out: torch.Tensor, lse: torch.Tensor, k_mean: torch.Tensor | None, q: torch.Tensor, tensor_layout: str,
            sm_scale: float, smooth_k: bool, return_lse: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """A kernel call's result: out, or (out, lse) with the smooth-K correction the kernels leave out of their LSE."""
    if not return_lse:
        return out
    if smooth_k:
        lse = lse + quant.lse_correction(q, k_mean, tensor_layout, sm_scale)
    return out, lse


def qk_int8_pv_fp8_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tensor_layout: str,
    is_causal: bool,
    qk_quant_gran: str,
    sm_scale: float,
    pv_accum_dtype: str,
    smooth_k: bool,
    smooth_v: bool,
    return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    if pv_accum_dtype not in PV_ACCUM_DTYPES:
        raise ValueError(
            f"pv_accum_dtype for the sm90 kernel must be one of {PV_ACCUM_DTYPES} (FP8 wgmma accumulates in "
            f"fp32, added per KV tile into fp32), got {pv_accum_dtype!r}"
        )
    group_specs(qk_quant_gran)  # validates the name
    d_pad = padded_head_dim(q.shape[-1])
    _check_accum_for_dim(d_pad, pv_accum_dtype)
    _lib.require("sm90", "sageattn_qk_int8_pv_fp8_cuda_sm90")
    code = layout_code(tensor_layout)
    kv_len, qo_len = seq_len(k, tensor_layout), seq_len(q, tensor_layout)
    if kv_len == 0 or qo_len == 0:  # no key (or no row): every row is empty (O = 0, lse = -inf)
        return empty_kv_result(q, tensor_layout, return_lse)
    per_thread, two_level = qk_quant_gran == "per_thread", pv_accum_dtype == "fp32+fp32"
    if _fused_applies(q, kv_len, d_pad, k.device.index or 0):
        # One op call: its host time (argument parsing, boxing, allocations) was most of a small call's time
        # when the eight quantized operands went through Python to a second op.
        out, lse, k_mean = torch.ops.sageattention.sageattn_sm90(
            q, k, v, code, is_causal, per_thread, smooth_k, smooth_v, float(sm_scale), return_lse, two_level)
    else:
        ops = quantize(q, k, v, tensor_layout, qk_quant_gran, smooth_k, smooth_v, fused=False)
        out, lse = torch.ops.sageattention.qk_int8_pv_fp8_sm90(
            q, ops["q_int8"], ops["q_scale"], ops["k_int8"], ops["k_scale"], ops["v_fp8"], ops["v_scale"],
            ops["v_mean"], code, kv_len, is_causal, per_thread, float(sm_scale), return_lse, two_level,
        )
        k_mean = ops["k_mean"]
    return _result(out, lse, k_mean, q, tensor_layout, sm_scale, smooth_k, return_lse)


def _v16_view(v: torch.Tensor, tensor_layout: str) -> torch.Tensor:
    """v as the 16-bit PV kernel's TMA reads it in place (16-byte aligned data, strides in multiples of 8 elements;
    dims of one excepted, csrc/sm90/host_ops.h v16_map_ok), else a contiguous copy with the head dim padded to a
    multiple of 8 (the kernel reads the extra channels as the zeros they are)."""
    code = layout_code(tensor_layout)
    b, h, _n, d = _bhnd(v, code)
    sb, (sh, sn) = v.stride(0), (v.stride(1), v.stride(2)) if code == 0 else (v.stride(2), v.stride(1))
    if sn % 8 == 0 and (h == 1 or sh % 8 == 0) and (b == 1 or sb % 8 == 0) and v.data_ptr() % 16 == 0:
        return v
    return torch.nn.functional.pad(v, (0, -d % 8)).contiguous()


def qk_int8_pv16_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tensor_layout: str,
    is_causal: bool,
    qk_quant_gran: str,
    sm_scale: float,
    pv_accum_dtype: str,
    smooth_k: bool,
    smooth_v: bool,
    return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """INT8 QK^T as qk_int8_pv_fp8_sm90, PV in q's dtype (f16 / bf16 wgmma) on V read in place: one
    ``sageattn_sm90_pv16`` op (Q/K quantization, then the kernel)."""
    group_specs(qk_quant_gran)  # validates the name
    d_pad = padded_head_dim(q.shape[-1])
    _check_pv16(pv_accum_dtype)
    if smooth_v:
        raise ValueError(
            "smooth_v=True has no use with 16-bit PV: it narrows V's range for e4m3, and this kernel reads V unchanged; "
            "pass smooth_v=False"
        )
    _lib.require("sm90", "sageattn_qk_int8_pv_fp16_cuda_sm90")
    kv_len = seq_len(k, tensor_layout)
    if not _has_pv16_op() or not _fused_applies(q, kv_len, d_pad, k.device.index or 0):
        raise NotImplementedError(
            "the sm90 16-bit PV kernel needs the fused Q/K quantization (and a build that has it) for this key length; "
            "use sageattn_qk_int8_pv_fp16_cuda"
        )
    out, lse, k_mean = torch.ops.sageattention.sageattn_sm90_pv16(
        q, k, _v16_view(v, tensor_layout), layout_code(tensor_layout), is_causal, qk_quant_gran == "per_thread",
        smooth_k, float(sm_scale), return_lse)
    return _result(out, lse, k_mean, q, tensor_layout, sm_scale, smooth_k, return_lse)


# The INT8-PV kernel (sageattn_qk_int8_pv_int8_cuda_sm90): u8 P~ x s8 V on wgmma, accumulated in s32 O.
PV_INT8_ACCUM_DTYPES = ("int32",)
MAX_PV_INT8_KEYS = 65536  # csrc/sm90/tile.cuh kMaxS8PvKeys: |O| <= 255 * 127 * keys < 2^31


def qk_int8_pv_int8_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    tensor_layout: str,
    is_causal: bool,
    qk_quant_gran: str,
    sm_scale: float,
    pv_accum_dtype: str,
    smooth_k: bool,
    smooth_v: bool,
    return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """INT8 QK^T as qk_int8_pv_fp8_sm90, PV in 8-bit integers: P~ in u8 against a reference max rounded up to a power
    of two, V in s8 per channel, O in the wgmma's s32 accumulator. One ``sageattn_sm90_pv_int8`` op."""
    if pv_accum_dtype not in PV_INT8_ACCUM_DTYPES:
        raise ValueError(
            f"pv_accum_dtype for the sm90 INT8-PV kernel must be one of {PV_INT8_ACCUM_DTYPES} (its wgmma sums u8 x s8 "
            f"products in s32), got {pv_accum_dtype!r}"
        )
    group_specs(qk_quant_gran)  # validates the name
    d_pad = padded_head_dim(q.shape[-1])
    _lib.require("sm90", "sageattn_qk_int8_pv_int8_cuda_sm90")
    kv_len = seq_len(k, tensor_layout)
    if kv_len > MAX_PV_INT8_KEYS:
        raise NotImplementedError(
            f"the sm90 INT8-PV kernel takes at most {MAX_PV_INT8_KEYS} keys (its s32 accumulator could overflow "
            f"beyond), got {kv_len}; use sageattn_qk_int8_pv_fp16_cuda_sm90 or sageattn_qk_int8_pv_fp8_cuda_sm90"
        )
    if not _has_pv_int8_op() or not _fused_applies(q, kv_len, d_pad, k.device.index or 0):
        raise NotImplementedError(
            "the sm90 INT8-PV kernel needs the fused quantization (and a build that has it) for this key length; use "
            "sageattn_qk_int8_pv_fp8_cuda_sm90"
        )
    out, lse, k_mean = torch.ops.sageattention.sageattn_sm90_pv_int8(
        q, k, v, layout_code(tensor_layout), is_causal, qk_quant_gran == "per_thread", smooth_k, smooth_v,
        float(sm_scale), return_lse)
    return _result(out, lse, k_mean, q, tensor_layout, sm_scale, smooth_k, return_lse)


@functools.cache
def _has_pv_int8_op() -> bool:
    """Whether the loaded sm90 module has the INT8-PV op (built from this tree, not an older one)."""
    return _lib.load("sm90") and hasattr(torch.ops.sageattention, "sageattn_sm90_pv_int8")


@functools.cache
def _has_pv16_op() -> bool:
    # the module loaded first (its ops register on load); False for a module built before the op
    return _lib.load("sm90") and hasattr(torch.ops.sageattention, "sageattn_sm90_pv16")


@functools.cache
def _has_varlen_op() -> bool:
    return hasattr(torch.ops.sageattention, "sageattn_sm90_varlen")  # False for a module built before the op


def varlen_applies(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, options: dict[str, object]) -> bool:
    """Whether sageattn_varlen's packed call can run as one sageattn_sm90_varlen op: head dims up to 256 shared by
    q, k and v, whole K/V head groups, and options the single-level kernel models (pv_accum_dtype open or "fp32",
    no dropout)."""
    return _has_varlen_op() and v.dtype == q.dtype and packed_inputs_fit(q, k, v, options, (None, "fp32"), 256)


def varlen_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
    *,
    is_causal: bool,
    qk_quant_gran: str,
    sm_scale: float,
    smooth_k: bool,
    smooth_v: bool,
    return_lse: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Packed sequences [total, H, D] in one op: cu_seqlens stay on the GPU (no host read, no sync); K is smoothed
    per sequence, V's statistics span the pack. Returns out [total_q, Hq, D] and, with return_lse, lse [Hq, total_q]."""
    group_specs(qk_quant_gran)  # validates the name
    padded_head_dim(q.shape[-1])
    _lib.require("sm90", "sageattn_varlen's sm90 kernel")
    cq, ck = device_offsets(cu_seqlens_q, q.device), device_offsets(cu_seqlens_k, q.device)
    out, lse, k_mean = torch.ops.sageattention.sageattn_sm90_varlen(
        q, k, v, cq, ck, is_causal, qk_quant_gran == "per_thread", smooth_k, smooth_v, float(sm_scale), return_lse)
    return (out, packed_lse(q, lse, k_mean, cq, smooth_k, sm_scale)) if return_lse else out


@register_family_fakes("sm90")
def _sm90_fakes() -> None:
    @torch.library.register_fake("sageattention::quant_v_fp8_sm90")
    def _(
        v: torch.Tensor, tensor_layout: int, pad_multiple: int, head_dim_padded: int, absmax: torch.Tensor,
        mean: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return v_fp8_fake(v, tensor_layout, pad_multiple, head_dim_padded)

    @torch.library.register_fake("sageattention::quant_qkv_sm90")
    def _(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: int, qk_per_thread: bool, smooth_k: bool,
        smooth_v: bool, head_dim_padded: int,
    ) -> tuple[torch.Tensor, ...]:
        (b, hq, nq, d), (_, hk, nk, _) = _bhnd(q, tensor_layout), _bhnd(k, tensor_layout)
        nq_pad, nk_pad = round_up(nq, CTA_Q), round_up(nk, CTA_K)
        q_spec, k_spec = group_specs("per_thread" if qk_per_thread else "per_warp")
        f32 = torch.float32
        return (
            q.new_empty((b, hq, nq_pad, head_dim_padded), dtype=torch.int8),
            q.new_empty((b, hq, nq_pad // q_spec.block * q_spec.groups), dtype=f32),
            q.new_empty((b, hk, nk_pad, head_dim_padded), dtype=torch.int8),
            q.new_empty((b, hk, nk_pad // k_spec.block * k_spec.groups), dtype=f32),
            q.new_empty((b if smooth_k else 0, hk, d), dtype=f32),
            q.new_empty((b, hk, head_dim_padded, nk_pad), dtype=torch.float8_e4m3fn),
            q.new_empty((b, hk, head_dim_padded), dtype=f32),
            q.new_empty((b if smooth_v else 0, hk, d), dtype=f32),
        )

    @torch.library.register_fake("sageattention::qk_int8_pv_fp8_sm90")
    def _(
        q: torch.Tensor, q_int8: torch.Tensor, q_scale: torch.Tensor, k_int8: torch.Tensor, k_scale: torch.Tensor,
        v_fp8: torch.Tensor, v_scale: torch.Tensor, v_mean: torch.Tensor | None, tensor_layout: int, kv_len: int,
        is_causal: bool, qk_per_thread: bool, sm_scale: float, return_lse: bool, two_level: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, h, n, _d = _bhnd(q, tensor_layout)
        lse = q.new_empty((b, h, n) if return_lse else (0, h, n), dtype=torch.float32)
        return torch.empty_like(q, memory_format=torch.contiguous_format), lse

    def fused_outputs(q: torch.Tensor, k: torch.Tensor, tensor_layout: int, smooth_k: bool,
                      return_lse: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """out, lse and k_mean of the one-op calls (sageattn_sm90, _pv16 and _pv_int8 alike)."""
        (b, h, n, d), (_, hk, _, _) = _bhnd(q, tensor_layout), _bhnd(k, tensor_layout)
        lse = q.new_empty((b, h, n) if return_lse else (0, h, n), dtype=torch.float32)
        k_mean = q.new_empty((b if smooth_k else 0, hk, d), dtype=torch.float32)
        return torch.empty_like(q, memory_format=torch.contiguous_format), lse, k_mean

    @torch.library.register_fake("sageattention::sageattn_sm90")
    def _(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: int, is_causal: bool, qk_per_thread: bool,
        smooth_k: bool, smooth_v: bool, sm_scale: float, return_lse: bool, two_level: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return fused_outputs(q, k, tensor_layout, smooth_k, return_lse)

    if _has_pv16_op():
        @torch.library.register_fake("sageattention::sageattn_sm90_pv16")
        def _(
            q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: int, is_causal: bool,
            qk_per_thread: bool, smooth_k: bool, sm_scale: float, return_lse: bool,
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return fused_outputs(q, k, tensor_layout, smooth_k, return_lse)

    if _has_pv_int8_op():
        @torch.library.register_fake("sageattention::sageattn_sm90_pv_int8")
        def _(
            q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: int, is_causal: bool,
            qk_per_thread: bool, smooth_k: bool, smooth_v: bool, sm_scale: float, return_lse: bool,
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return fused_outputs(q, k, tensor_layout, smooth_k, return_lse)

    if not _has_varlen_op():  # a module built before the op (A/B runs swap modules under this Python)
        return

    @torch.library.register_fake("sageattention::sageattn_sm90_varlen")
    def _(
        q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
        is_causal: bool, qk_per_thread: bool, smooth_k: bool, smooth_v: bool, sm_scale: float, return_lse: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        total_q, h, d = q.shape
        lse = q.new_empty((h, total_q if return_lse else 0), dtype=torch.float32)
        k_mean = q.new_empty((cu_seqlens_q.shape[0] - 1 if smooth_k else 0, k.shape[1], d), dtype=torch.float32)
        return torch.empty_like(q, memory_format=torch.contiguous_format), lse, k_mean
