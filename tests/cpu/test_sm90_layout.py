"""CPU checks of the sm90 kernel's host-side conventions (no GPU needed)."""

from __future__ import annotations

import pytest
import torch

from sageattention.kernels import sm90


def test_fragment_key_order_is_a_permutation_within_32():
    order = sm90.fragment_key_order(256)
    assert sorted(order.tolist()) == list(range(256))
    assert bool(((order // 32) == (torch.arange(256) // 32)).all())


def test_fragment_key_order_matches_the_wgmma_a_fragment():
    # A thread (g, t) of the S accumulator holds keys 8b + 2t + e (b: n8 block, e: element) of each
    # 16; the 8-bit A fragment wants k = 4t + i. Token 16h + 8b + 2t + e must sit at 16h + 4t + 2b + e.
    order = sm90.fragment_key_order(32)
    for h in range(2):
        for b in range(2):
            for t in range(4):
                for e in range(2):
                    assert int(order[16 * h + 8 * b + 2 * t + e]) == 16 * h + 4 * t + 2 * b + e


def test_group_specs_follow_the_accumulator_fragment():
    q, k = sm90.group_specs("per_thread")
    assert (q.block, q.period, q.stride) == (16, 8, 1)
    assert (k.block, k.period, k.stride) == (128, 8, 2)
    q, k = sm90.group_specs("per_warp")
    assert (q.block, k.block, q.groups, k.groups) == (16, 128, 1, 1)
    with pytest.raises(ValueError, match="per_thread"):
        sm90.group_specs("per_block")


def test_head_dims():
    assert [sm90.padded_head_dim(d) for d in (32, 64, 80, 128, 160, 256)] == [64, 64, 128, 128, 256, 256]
    with pytest.raises(ValueError, match="256"):
        sm90.padded_head_dim(320)


def test_head_dim_256_has_no_two_level_kernel():
    # NotImplementedError, not ValueError: sageattn takes it as "this kernel declines" and falls back.
    with pytest.raises(NotImplementedError, match='pv_accum_dtype="fp32"'):
        sm90._check_accum_for_dim(256, "fp32+fp32")
    sm90._check_accum_for_dim(256, "fp32")
    sm90._check_accum_for_dim(128, "fp32+fp32")


def test_fakes_give_the_kernel_shapes():
    from sageattention import _lib

    if not _lib.load("sm90"):
        pytest.skip(f"sm90 module not built: {_lib.error('sm90')}")
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(2, 300, 4, 96, dtype=torch.bfloat16)  # NHD, head dim padded to 128
        q8, qs = torch.empty(2, 4, 384, 128, dtype=torch.int8), torch.empty(2, 4, 384 // 16 * 8)
        k8, ks = torch.empty(2, 2, 256, 128, dtype=torch.int8), torch.empty(2, 2, 256 // 128 * 4)
        v8, vs = torch.empty(2, 2, 128, 256, dtype=torch.float8_e4m3fn), torch.empty(2, 2, 128)
        out, lse = torch.ops.sageattention.qk_int8_pv_fp8_sm90(q, q8, qs, k8, ks, v8, vs, None, 1, 200, True, True,
                                                               0.1, True)
        assert out.shape == q.shape and out.dtype == q.dtype
        assert lse.shape == (2, 4, 300) and lse.dtype == torch.float32
        _, empty = torch.ops.sageattention.qk_int8_pv_fp8_sm90(q, q8, qs, k8, ks, v8, vs, None, 1, 200, False, False,
                                                               0.1, False, False)
        assert empty.shape[0] == 0
        vq, vsc = torch.ops.sageattention.quant_v_fp8_sm90(torch.empty(2, 200, 2, 96, dtype=torch.float16), 1, 128,
                                                           128, torch.empty(2, 2, 96), None)
        assert vq.shape == (2, 2, 128, 256) and vq.dtype == torch.float8_e4m3fn and vsc.shape == (2, 2, 128)
        q16 = torch.empty(2, 300, 4, 96, dtype=torch.float16)
        kv16 = torch.empty(2, 200, 2, 96, dtype=torch.float16)
        got = torch.ops.sageattention.quant_qkv_sm90(q16, kv16, kv16, 1, True, True, False, 128)
        shapes = [tuple(t.shape) for t in got]
        assert shapes == [(2, 4, 384, 128), (2, 4, 384 // 16 * 8), (2, 2, 256, 128), (2, 2, 256 // 128 * 4),
                          (2, 2, 96), (2, 2, 128, 256), (2, 2, 128), (0, 2, 96)]
        assert [t.dtype for t in got] == [torch.int8, torch.float32, torch.int8, torch.float32, torch.float32,
                                          torch.float8_e4m3fn, torch.float32, torch.float32]
        per_warp = torch.ops.sageattention.quant_qkv_sm90(q16, kv16, kv16, 1, False, False, True, 128)
        assert per_warp[1].shape == (2, 4, 384 // 16) and per_warp[3].shape == (2, 2, 2)
        assert per_warp[4].shape == (0, 2, 96) and per_warp[7].shape == (2, 2, 96)
        out, lse, k_mean = torch.ops.sageattention.sageattn_sm90(q16, kv16, kv16, 1, True, True, True, False, 0.1,
                                                                 True, False)
        assert out.shape == q16.shape and out.dtype == q16.dtype and out.is_contiguous()
        assert lse.shape == (2, 4, 300) and lse.dtype == torch.float32
        assert k_mean.shape == (2, 2, 96) and k_mean.dtype == torch.float32
        _, no_lse, no_mean = torch.ops.sageattention.sageattn_sm90(q16, kv16, kv16, 1, False, False, False, True, 0.1,
                                                                   False, True)
        assert no_lse.shape == (0, 4, 300) and no_mean.shape == (0, 2, 96)


@pytest.mark.parametrize("d, kv, expected", [
    (64, 77, "fp32+fp32"), (64, 128, "fp32+fp32"), (64, 200, "fp32"), (64, 256, "fp32"), (64, 384, "fp32+fp32"),
    (64, 4096, "fp32"), (128, 77, "fp32+fp32"), (128, 192, "fp32"), (128, 256, "fp32+fp32"), (128, 384, "fp32"),
    (128, 1024, "fp32+fp32"), (128, 8192, "fp32"), (96, 77, "fp32+fp32"), (256, 77, "fp32"),
])
def test_default_accumulation_steps_over_fewer_weighted_keys(monkeypatch, d, kv, expected):
    """sm90.default_pv_accum with the kernels' steps (single level 256 keys at D64, 192 at D128; two levels 128):
    the two-level kernel where its padded keys, weighted by its cost per key, are fewer; head dims above 128 have
    only single level. The GPU test test_short_key_sequences_take_the_shorter_step asks the built module."""
    steps = {(64, "fp32"): 256, (128, "fp32"): 192, (64, "fp32+fp32"): 128, (128, "fp32+fp32"): 128}
    monkeypatch.setattr(sm90, "kv_block", lambda head_dim, accum: steps[(sm90.padded_head_dim(head_dim), accum)])
    sm90.default_pv_accum.cache_clear()
    try:
        assert sm90.default_pv_accum(kv, d) == expected
    finally:
        sm90.default_pv_accum.cache_clear()


def test_v16_view_reads_aligned_views_in_place_and_copies_the_rest():
    # The 16-bit PV kernel's TMA map reads V in place when its rows are 16-byte aligned (strides of multiples of 8
    # elements, dims of one excepted); otherwise a contiguous copy, the head dim padded to a multiple of 8 with zeros.
    base = torch.randn(2, 300, 4, 136, dtype=torch.float16)  # NHD storage with 8 spare channels
    strided = base[..., :128]
    assert sm90._v16_view(strided, "NHD") is strided
    # one head: its stride (3 elements here) is never used, so it does not force a copy
    one_head = torch.randn(2 * 50 * 72, dtype=torch.float16).as_strided((2, 50, 1, 64), (50 * 72, 72, 3, 1))
    assert sm90._v16_view(one_head, "NHD") is one_head
    two_heads = torch.randn(2 * 50 * 72 * 2, dtype=torch.float16).as_strided((2, 50, 2, 64), (100 * 72, 144, 3, 1))
    assert sm90._v16_view(two_heads, "NHD") is not two_heads
    odd = torch.randn(2, 4, 300, 33, dtype=torch.float16)  # HND, rows of 66 bytes
    got = sm90._v16_view(odd, "HND")
    assert got.shape == (2, 4, 300, 40) and got.is_contiguous()
    assert torch.equal(got[..., :33], odd) and bool((got[..., 33:] == 0).all())
    misaligned = torch.randn(2, 300, 4, 129, dtype=torch.float16)[..., 1:]  # 2-byte offset, rows of 258 bytes
    got = sm90._v16_view(misaligned, "NHD")
    assert got.is_contiguous() and got.data_ptr() % 16 == 0 and torch.equal(got, misaligned)
