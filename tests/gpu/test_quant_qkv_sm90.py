"""quant_qkv_sm90 (csrc/sm90/quant_qkv*.{cu,cuh}): Q, K and V quantized in one launch, one
thread-block cluster per K/V head.

The separate passes (core's quant_int8 and channel_stats, sm90's quant_v_fp8_sm90) are the oracle:
Q and V (without smooth_v) must match bit for bit; K's mean is summed in another order, so K may
move by one INT8 step where a value sits on a rounding boundary.
"""

from __future__ import annotations

import pytest
import torch

from sageattention.kernels import sm90

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("need_sm90")]
DEV = "cuda"


def make(layout: str, b: int, h: int, n: int, d: int, dtype: torch.dtype, offset: float = 0.0,
         extra: int = 0) -> torch.Tensor:
    """extra > 0: a view into rows of d + extra elements (8: still 16-byte aligned; 3: not)."""
    shape = (b, h, n, d + extra) if layout == "HND" else (b, n, h, d + extra)
    x = torch.randn(*shape, device=DEV, dtype=torch.float32)[..., :d]
    if offset:
        x = x + offset * torch.randn(d, device=DEV)
    return x.to(dtype)


def fused(q, k, v, layout, gran, smooth_k, smooth_v, **kw):
    d_pad = sm90.padded_head_dim(q.shape[-1])
    names = ("q_int8", "q_scale", "k_int8", "k_scale", "k_mean", "v_fp8", "v_scale", "v_mean")
    got = torch.ops.sageattention.quant_qkv_sm90(q, k, v, 0 if layout == "HND" else 1, gran == "per_thread",
                                                smooth_k, smooth_v, d_pad, **kw)
    return dict(zip(names, got))


def assert_same_as_separate_passes(got: dict, ref: dict, smooth_k: bool, smooth_v: bool) -> None:
    assert torch.equal(got["q_int8"], ref["q_int8"])
    assert torch.equal(got["q_scale"], ref["q_scale"])
    if smooth_k:
        torch.testing.assert_close(got["k_mean"], ref["k_mean"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got["k_scale"], ref["k_scale"], rtol=1e-4, atol=0)
        diff = (got["k_int8"].int() - ref["k_int8"].int()).abs()
        assert int(diff.max()) <= 1
        assert float((diff > 0).float().mean()) < 1e-3
    else:
        assert got["k_mean"].numel() == 0
        assert torch.equal(got["k_int8"], ref["k_int8"]) and torch.equal(got["k_scale"], ref["k_scale"])
    gv, rv = got["v_fp8"].view(torch.uint8), ref["v_fp8"].view(torch.uint8)
    if smooth_v:
        torch.testing.assert_close(got["v_mean"], ref["v_mean"], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got["v_scale"], ref["v_scale"], rtol=1e-5, atol=0)
        # one e4m3 step at most (the scale moved by an ulp)
        diff = (got["v_fp8"].float() - ref["v_fp8"].float()).abs()
        assert bool((diff <= ref["v_fp8"].float().abs().clamp_min(2**-6) / 8 * 1.01).all())
    else:
        assert got["v_mean"].numel() == 0
        assert torch.equal(got["v_scale"], ref["v_scale"])
        assert torch.equal(gv, rv)


@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("d", [32, 64, 96, 128, 200, 256])
@pytest.mark.parametrize("lens", [(1, 1), (17, 127), (1000, 4097), (4096, 300)])
@pytest.mark.parametrize("gran", ["per_thread", "per_warp"])
def test_matches_separate_passes(layout, d, lens, gran):
    nq, nk = lens
    q = make(layout, 2, 4, nq, d, torch.float16, extra=8)
    k = make(layout, 2, 2, nk, d, torch.float16, offset=3.0, extra=8)
    v = make(layout, 2, 2, nk, d, torch.float16, extra=8)
    got = fused(q, k, v, layout, gran, True, False)
    ref = sm90.quantize(q, k, v, layout, gran, smooth_k=True, smooth_v=False, fused=False)
    assert_same_as_separate_passes(got, ref, True, False)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("smooth_k", [False, True])
@pytest.mark.parametrize("smooth_v", [False, True])
def test_smoothing_flags_and_dtypes(dtype, smooth_k, smooth_v):
    q = make("HND", 1, 3, 333, 128, dtype, extra=3)  # unaligned rows: the scalar-load kernels
    k = make("HND", 1, 3, 1500, 128, dtype, offset=5.0, extra=3)
    v = make("HND", 1, 3, 1500, 128, dtype, offset=2.0, extra=3)
    got = fused(q, k, v, "HND", "per_thread", smooth_k, smooth_v)
    ref = sm90.quantize(q, k, v, "HND", "per_thread", smooth_k=smooth_k, smooth_v=smooth_v, fused=False)
    assert_same_as_separate_passes(got, ref, smooth_k, smooth_v)


# Keys per head -> chunks G -> cluster, at the default of at least four chunks per CTA: 1 CTA of 1; 4 CTAs of 4;
# 5 of 4 (the last holds 1); 8 of 4; 10 of 4 (the quantization pass reloads two of each CTA's chunks); 16 of 4
# (D128) / 16 of 8 (D64, 16K). With SAGEATTENTION_QKV_MIN_CHUNKS=1 (the rule before): 1; 16 of 1; 9 of 2 (the last
# holds 1); 16 of 2; 14 of 3; 16 of 4 / 16 of 8.
@pytest.mark.parametrize("min_chunks", [None, "1"])
@pytest.mark.parametrize("d, nk", [(128, 100), (128, 2000), (128, 2100), (128, 4096), (128, 5000), (128, 8192),
                                   (64, 16384), (256, 2100), (256, 16384)])
def test_cluster_shapes(d, nk, min_chunks, monkeypatch):
    if min_chunks is not None:  # the extension reads it on every call
        monkeypatch.setenv("SAGEATTENTION_QKV_MIN_CHUNKS", min_chunks)
    q = make("NHD", 1, 2, 300, d, torch.float16)
    k = make("NHD", 1, 2, nk, d, torch.float16, offset=2.0)
    v = make("NHD", 1, 2, nk, d, torch.float16)
    assert sm90.fused_quantization_fits(nk, d, torch.cuda.current_device())
    got = fused(q, k, v, "NHD", "per_thread", True, True)
    ref = sm90.quantize(q, k, v, "NHD", "per_thread", smooth_k=True, smooth_v=True, fused=False)
    assert_same_as_separate_passes(got, ref, True, True)
    again = fused(q, k, v, "NHD", "per_thread", True, True)
    for name, t in got.items():  # the cluster fold runs in rank order: repeat calls agree bit for bit
        assert torch.equal(t.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else t,
                           again[name].view(torch.uint8) if t.dtype == torch.float8_e4m3fn else again[name]), name


def test_long_heads_stay_on_the_fused_path():
    """40 000 keys = 313 chunks per head: 16 CTAs of 20 chunks, streamed through two buffers each."""
    assert sm90.fused_quantization_fits(40000, 128, torch.cuda.current_device())
    q = make("HND", 1, 1, 128, 128, torch.float16)
    k = make("HND", 1, 1, 40000, 128, torch.float16, offset=1.0)
    v = make("HND", 1, 1, 40000, 128, torch.float16)
    got = fused(q, k, v, "HND", "per_thread", True, False)
    ref = sm90.quantize(q, k, v, "HND", "per_thread", smooth_k=True, smooth_v=False, fused=False)
    assert_same_as_separate_passes(got, ref, True, False)


def test_bad_arguments_name_the_problem():
    q = make("HND", 1, 2, 64, 64, torch.float16)
    with pytest.raises(RuntimeError, match="same dtype"):
        torch.ops.sageattention.quant_qkv_sm90(q, q.bfloat16(), q, 0, True, True, False, 64)
    with pytest.raises(RuntimeError, match="float16 or bfloat16"):
        torch.ops.sageattention.quant_qkv_sm90(q.float(), q.float(), q.float(), 0, True, True, False, 64)
    with pytest.raises(RuntimeError, match="head_dim_padded must be 64, 128 or 256"):
        torch.ops.sageattention.quant_qkv_sm90(q, q, q, 0, True, True, False, 96)
    with pytest.raises(RuntimeError, match="same heads and length"):
        torch.ops.sageattention.quant_qkv_sm90(q, q, q[:, :, :32], 0, True, True, False, 64)
    with pytest.raises(RuntimeError, match="head_dim_padded must be 64, 128 or 256"):
        torch.ops.sageattention.quant_qkv_sm90_fits(4096, 80, 0)
    assert torch.ops.sageattention.quant_qkv_sm90_fits(4096, 256, 0)


def test_chunks_per_cta_knob_rejects_bad_values(monkeypatch):
    q = make("HND", 1, 2, 64, 64, torch.float16)
    for bad in ("0", "65", "four", "4x"):
        monkeypatch.setenv("SAGEATTENTION_QKV_MIN_CHUNKS", bad)
        with pytest.raises(RuntimeError, match="SAGEATTENTION_QKV_MIN_CHUNKS must be an integer in 1..64"):
            torch.ops.sageattention.quant_qkv_sm90(q, q, q, 0, True, True, False, 64)


def test_fake_kernel_matches_the_op():
    """The fake (torch.compile traces through it) gives the real op's shapes and dtypes."""
    q = make("NHD", 2, 4, 300, 96, torch.bfloat16)
    k = make("NHD", 2, 2, 200, 96, torch.bfloat16)
    for per_thread, smooth_k, smooth_v in ((True, True, False), (False, False, True)):
        args = (q, k, k, 1, per_thread, smooth_k, smooth_v, 128)
        # test_schema compares outputs through ops with no Float8 kernels: fake tensors only.
        torch.library.opcheck(torch.ops.sageattention.quant_qkv_sm90.default, args, test_utils=("test_faketensor",))
