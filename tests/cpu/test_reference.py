"""The reference implementation on CPU: accuracy vs float64, and why smoothing K matters."""

from __future__ import annotations

import math

import pytest
import torch

from sageattention import reference as R
from sageattention._layout import GroupSpec
from tests.conftest import cosine, rel_l1

B, H, N, D = 1, 4, 1024, 64


def qkv(offset: float = 0.0, n: int = N, d: int = D, hkv: int = H) -> tuple[torch.Tensor, ...]:
    q = torch.randn(B, H, n, d)
    k = torch.randn(B, hkv, n, d)
    if offset:
        # Per-channel offsets shared by every token: the outlier pattern smoothing removes.
        k = k + offset * torch.randn(B, hkv, 1, d)
    v = torch.randn(B, hkv, n, d)
    return q, k, v


@pytest.mark.parametrize("pv", ["fp16", "fp8"])
def test_randn_accuracy(seed: int, pv: str) -> None:
    q, k, v = qkv()
    ref, _ = R.attention_fp64(q, k, v)
    out = R.sageattn_reference(q, k, v, pv=pv)
    bound = 0.02 if pv == "fp16" else 0.045  # N=1024 on CPU; the GPU tests hold the N=4096 bounds
    assert rel_l1(out, ref) < bound
    assert cosine(out, ref) > (0.9998 if pv == "fp16" else 0.999)


@pytest.mark.parametrize("pv", ["fp16", "fp8"])
def test_smoothing_k_matters_with_channel_offsets(seed: int, pv: str) -> None:
    q, k, v = qkv(offset=30.0)
    ref, _ = R.attention_fp64(q, k, v)
    smooth = rel_l1(R.sageattn_reference(q, k, v, pv=pv, smooth_k=True), ref)
    raw = rel_l1(R.sageattn_reference(q, k, v, pv=pv, smooth_k=False), ref)
    # Smoothed error stays at the randn level; unsmoothed INT8 K loses the per-token signal.
    assert smooth < (0.02 if pv == "fp16" else 0.045)
    assert raw > 4 * smooth


def test_lse_matches_float64_including_smooth_k_correction(seed: int) -> None:
    q, k, v = qkv(offset=10.0)
    _, lse_ref = R.attention_fp64(q, k, v)
    for pv in ("fp16", "fp8"):
        _, lse = R.sageattn_reference(q, k, v, pv=pv, return_lse=True)
        assert (lse.double() - lse_ref).abs().max() < 0.05


@pytest.mark.parametrize(("nq", "nk"), [(100, 300), (300, 100), (257, 257)])
def test_causal_bottom_right_and_masked_rows(seed: int, nq: int, nk: int) -> None:
    q = torch.randn(B, H, nq, D)
    k, v = torch.randn(B, H, nk, D), torch.randn(B, H, nk, D)
    ref, lse_ref = R.attention_fp64(q, k, v, is_causal=True)
    out, lse = R.sageattn_reference(q, k, v, is_causal=True, return_lse=True)
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()
    visible = torch.isfinite(lse_ref)
    if nq > nk:  # the first nq - nk queries see no key: output 0, lse -inf
        assert not visible[..., : nq - nk].any()
        assert (out[:, :, : nq - nk] == 0).all() and torch.isinf(lse[..., : nq - nk]).all()
    assert rel_l1(out[:, :, visible[0, 0]], ref[:, :, visible[0, 0]].float()) < 0.03


def test_gqa_nhd_and_odd_head_dim(seed: int) -> None:
    q = torch.randn(2, 77, 8, 40)
    k, v = torch.randn(2, 77, 2, 40), torch.randn(2, 77, 2, 40)
    out = R.sageattn_reference(q, k, v, tensor_layout="NHD")
    ref, _ = R.attention_fp64(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    assert out.shape == q.shape
    assert rel_l1(out.transpose(1, 2), ref) < 0.03


def test_smooth_v_is_exact_in_the_mean(seed: int) -> None:
    q, k, v = qkv(n=256)
    v = v + 50.0  # a large shared V offset: smooth_v quantizes only the residual
    ref, _ = R.attention_fp64(q, k, v)
    plain = rel_l1(R.sageattn_reference(q, k, v, pv="fp8"), ref)
    smooth = rel_l1(R.sageattn_reference(q, k, v, pv="fp8", smooth_v=True), ref)
    assert smooth < plain


def test_quant_int8_groups_follow_the_spec(seed: int) -> None:
    x = torch.randn(1, 1, 64, 32)
    x[0, 0, 9] *= 100  # token 9: block 0, row 9 -> group (9 % 8) // 1 = 1 for the Q per-thread spec
    spec = GroupSpec(32, 8, 1)
    q, scale = R.quant_int8(x, spec, 64, 32)
    assert q.shape == (1, 1, 64, 64) and q.dtype == torch.int8
    assert scale.shape == (1, 1, 2 * 8)
    assert (q[..., 32:] == 0).all()  # head-dim padding is zero
    big = scale[0, 0, 1]
    assert big == scale[0, 0, :8].max() and (scale[0, 0, [0, 2, 3, 4, 5, 6, 7]] < big / 10).all()
    # Dequantized values are within half a step of the input.
    deq = q[..., :32].float() * scale[0, 0, spec.group_of_token(64)][None, None, :, None]
    assert ((deq - x).abs() <= scale[0, 0, spec.group_of_token(64)][None, None, :, None] / 2 + 1e-6).all()
    assert q.abs().max() == 127


def test_quant_int8_k_spec_and_padding() -> None:
    spec = GroupSpec(64, 8, 2)
    gid = spec.group_of_token(128)
    assert gid[:8].tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and gid[64:72].tolist() == [4, 4, 5, 5, 6, 6, 7, 7]
    x = torch.randn(1, 2, 70, 64)
    q, scale = R.quant_int8(x, spec, 64, 128)
    assert q.shape == (1, 2, 128, 64) and (q[:, :, 70:] == 0).all()
    assert scale.shape == (1, 2, 2 * 4)


def test_quant_v_fp8_round_trip(seed: int) -> None:
    v = torch.randn(1, 2, 100, 48) * 3
    mean, amax = R.channel_stats(v, centered=False)
    q, scale = R.quant_v_fp8(v, 128, 64, 448.0, amax)
    assert q.shape == (1, 2, 64, 128) and q.dtype == torch.float8_e4m3fn
    deq = q.float()[:, :, :48, :100].transpose(2, 3) * scale[:, :, None, :48]
    assert ((deq - v).abs() <= v.abs() / 16 + scale[:, :, None, :48] * 2**-9).all()
    assert (q.float()[:, :, 48:] == 0).all() and (q.float()[..., 100:] == 0).all()
    assert math.isclose(float(q.float().abs().max()), 448.0)


def test_16bit_pv_offset_changes_only_the_rounding_of_p(seed: int) -> None:
    """attention_from_quantized's 16-bit path with P~ offset by log2 448 (the sm90 16-bit PV kernel's) and rounded to
    bf16 or f16: the same output and LSE as without the offset, to the P rounding's precision."""
    from sageattention._layout import FP8_OFFSET

    q, k, v = (torch.randn(1, 2, 200, 64) for _ in range(3))
    spec = GroupSpec(64)
    q8, qs = R.quant_int8(q, spec, 64, 64)
    k8, ks = R.quant_int8(k, spec, 64, 64)
    kw = dict(qo_len=200, kv_len=200, head_dim=64, sm_scale=0.125, block_kv=64)
    base, base_lse = R.attention_from_quantized(q8, qs, spec, k8, ks, spec, v.half(), None, **kw)
    for dtype, tol in ((torch.float16, 2e-3), (torch.bfloat16, 1e-2)):
        out, lse = R.attention_from_quantized(q8, qs, spec, k8, ks, spec, v.to(dtype), None, **kw,
                                              p16_dtype=dtype, p16_offset=FP8_OFFSET)
        assert torch.allclose(lse, base_lse, atol=1e-5)
        assert float((out - base).abs().sum() / base.abs().sum()) < tol


def test_u8_p_reference_weighs_v_rows_by_rounded_p_and_beats_e4m3(seed: int) -> None:
    """attention_from_quantized's INT8-PV path (the sm90 INT8-PV kernel's arithmetic). V rows that are all equal come
    out as that row but for the shifts' rounding down, at most a unit of O per rise of the reference max (O and l weigh
    the same rounded P~; here channel c holds the integer c of an s8 range of 127). Against float64 it is closer than
    the e4m3 path on the same quantized Q/K, on randn scores and on sharp ones that rise along the keys (a shift of the
    integer O and l on many steps), and within the issues' 8-bit bound on randn, LSE included. Sharp rows lose their
    smallest P~ (below half a u8 step) from l as from O, so their LSE falls short of float64's by up to ~0.1."""
    n, d = 512, 64
    q, k, v = (torch.randn(1, 2, n, d) for _ in range(3))
    spec = GroupSpec(64)
    q8, qs = R.quant_int8(q, spec, 64, 64)
    kw = dict(qo_len=n, kv_len=n, head_dim=d, sm_scale=d**-0.5, block_kv=128)
    const = torch.ones(1, 2, n, d) * torch.arange(d)
    _, amax = R.channel_stats(v, centered=False)
    v8, v8_scale = R.quant_v_fp8(v, 128, 64, 448.0, amax)
    v8 = v8[:, :, :d]
    s8_scale = v.abs().amax(2) / 127
    for ramp in (1.0, 3.0 * torch.linspace(0.05, 1, n)[:, None]):
        k8, ks = R.quant_int8(k * ramp, spec, 64, 64)
        out, _ = R.attention_from_quantized(q8, qs, spec, k8, ks, spec, const, torch.ones(1, 2, d), **kw, u8_p=True)
        assert float((out - const).abs().max()) < 0.01
        out, lse = R.attention_from_quantized(q8, qs, spec, k8, ks, spec, torch.round(v / s8_scale[:, :, None]),
                                              s8_scale, **kw, u8_p=True)
        e4m3, _ = R.attention_from_quantized(q8, qs, spec, k8, ks, spec, v8, v8_scale[:, :, :d], **kw)
        ref, ref_lse = R.attention_fp64(q, k * ramp, v, False)
        err = float((out.double() - ref).abs().sum() / ref.abs().sum())
        assert err < float((e4m3.double() - ref).abs().sum() / ref.abs().sum())
        if isinstance(ramp, float):
            assert err < 0.03 and float((lse.double() - ref_lse).abs().max()) < 0.05


def test_quant_int8_pads_to_whole_groups_when_the_step_is_not_a_multiple_of_the_group() -> None:
    """The sm90 kernel steps 192 keys at D=128 over K groups of 128 tokens: the reference must take that block_kv."""
    k_spec = GroupSpec(block=128, period=8, stride=2)
    x = torch.randn(1, 1, 2048, 128)
    q8, scale = R.quant_int8(x, k_spec, 128, 192)
    assert q8.shape[2] == 2304 and q8.shape[2] % 128 == 0 and q8.shape[2] % 192 == 0
    want, _ = R.quant_int8(x, k_spec, 128, 128)
    assert torch.equal(q8[:, :, :2048], want[:, :, :2048])  # the real tokens quantize as before
    assert not q8[:, :, 2048:].any()
