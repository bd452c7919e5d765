"""Fused quantization kernels vs the reference (sageattention/reference.py), on the GPU.

INT8 values must match exactly or differ by one at rounding ties (the kernel's fp32 mean can differ
from torch's in the last ulp); scales to 1e-6 relative; FP8 values equal or one e4m3 step apart.
"""

from __future__ import annotations

import pytest
import torch

from sageattention import quant
from sageattention import reference as R
from sageattention._layout import GroupSpec, to_hnd

pytestmark = pytest.mark.gpu
DEV = "cuda"

SPECS = {
    "per_block_q": GroupSpec(128),
    "per_warp_q": GroupSpec(32),
    "per_thread_q": GroupSpec(32, 8, 1),
    "per_thread_q_wgmma": GroupSpec(16, 8, 1),
    "per_thread_k": GroupSpec(64, 8, 2),
    "per_block_k": GroupSpec(64),
    # The kernels' own specs: Q per-warp of the sm90 kernel, K per-thread of sm90 and of the FP8 mma.
    "per_warp_q_wgmma": GroupSpec(16),
    "per_thread_k_wgmma": GroupSpec(128, 8, 2),
    "per_thread_k_fp8_mma": GroupSpec(128, 16, 4),
}


def make(layout: str, b: int, h: int, n: int, d: int, dtype: torch.dtype, offset: float = 0.0, strided: bool = False) -> torch.Tensor:
    if layout == "HND":
        x = torch.randn(b, h, n, d + (8 if strided else 0), device=DEV, dtype=dtype)
    else:
        x = torch.randn(b, n, h, d + (8 if strided else 0), device=DEV, dtype=dtype)
    x = x[..., :d]  # non-contiguous rows when strided, last dim still contiguous
    if offset:
        x = x + offset * torch.randn(d, device=DEV, dtype=dtype)
    return x


def assert_int8_close(a: torch.Tensor, b: torch.Tensor) -> None:
    diff = (a.int() - b.int()).abs()
    assert diff.max() <= 1, f"INT8 differs by {diff.max()}"
    assert (diff > 0).float().mean() < 1e-3, "too many off-by-one values for rounding ties"


@pytest.mark.parametrize("spec_name", list(SPECS))
@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_quant_int8_matches_reference(spec_name: str, layout: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    spec = SPECS[spec_name]
    for n, d, strided in ((1000, 128, False), (17, 64, True), (1, 40, False), (4097, 256, True)):
        x = make(layout, 2, 3, n, d, dtype, offset=5.0, strided=strided)
        dp = max(64, (d + 31) // 32 * 32)
        mean, _ = quant.channel_stats(x, layout, centered=False)
        for m in (None, mean):
            q, s = quant.quant_int8(x, layout, spec, dp, 128, m)
            qr, sr = R.quant_int8(to_hnd(x, layout), spec, dp, 128, m)
            assert q.shape == qr.shape and s.shape == sr.shape
            torch.testing.assert_close(s, sr, rtol=1e-6, atol=0)
            assert_int8_close(q, qr)


@pytest.mark.parametrize("layout", ["HND", "NHD"])
# Both folds of a slice's lanes: warp shuffles (64, 256) and through shared memory (96).
@pytest.mark.parametrize("d", [64, 96, 256])
def test_channel_stats_matches_reference(layout: str, d: int) -> None:
    torch.manual_seed(1)
    x = make(layout, 2, 4, 3001, d, torch.float16, offset=20.0, strided=True)
    for centered in (False, True):
        mean, amax = quant.channel_stats(x, layout, centered)
        mr, ar = R.channel_stats(to_hnd(x, layout), centered)
        torch.testing.assert_close(mean, mr, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(amax, ar, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("smooth_v", [False, True])
@pytest.mark.parametrize("n,d", [(1, 64), (127, 128), (1000, 256), (300, 40)])
def test_quant_v_fp8_matches_reference(layout: str, smooth_v: bool, n: int, d: int) -> None:
    torch.manual_seed(2)
    v = make(layout, 2, 3, n, d, torch.bfloat16, offset=3.0, strided=True)
    dp = (d + 15) // 16 * 16
    vq, vs, vm = quant.quant_v_fp8(v, layout, 128, dp, smooth_v=smooth_v)
    mean, amax = R.channel_stats(to_hnd(v, layout), centered=smooth_v)
    rq, rs = R.quant_v_fp8(to_hnd(v, layout), 128, dp, 448.0, amax, mean if smooth_v else None)
    assert vq.dtype == torch.float8_e4m3fn and vq.shape == rq.shape
    torch.testing.assert_close(vs, rs, rtol=1e-5, atol=0)
    a, b = vq.float(), rq.float()
    # At most one e4m3 step apart (3 mantissa bits: relative step 1/8, plus the subnormal floor).
    assert ((a - b).abs() <= b.abs() / 8 + 2**-9).all()
    assert (a[:, :, d:] == 0).all() and (a[..., n:] == 0).all()
    assert (vm is not None) == smooth_v


# At head_dim_padded 64 with 16-bit inputs a V CTA takes two 64-token tiles when the one-tile grid has at least 4 CTAs
# per SM (common/quant_v_tile.cuh, quant_v_tiles_per_cta). 4100 tokens padded to 64 are 65 tiles, the last partial:
# B2 H16 gives 2 080 one-tile CTAs, paired on any GPU of up to 520 SMs, with an odd last CTA of one tile; B1 H1 gives
# 65, one tile per CTA on any GPU of 17 SMs or more. Both must quantize as the reference does.
@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("heads", [(2, 16), (1, 1)], ids=["paired-grid", "one-tile-grid"])
def test_quant_v_fp8_at_d64_matches_reference_in_either_grid(layout: str, dtype: torch.dtype,
                                                             heads: tuple[int, int]) -> None:
    torch.manual_seed(3)
    b, h = heads
    v = make(layout, b, h, 4100, 64, dtype, offset=3.0, strided=True)
    for smooth_v in (False, True):
        vq, vs, _ = quant.quant_v_fp8(v, layout, 64, 64, smooth_v=smooth_v)
        mean, amax = R.channel_stats(to_hnd(v, layout), centered=smooth_v)
        rq, rs = R.quant_v_fp8(to_hnd(v, layout), 64, 64, 448.0, amax, mean if smooth_v else None)
        assert vq.shape == rq.shape == (b, h, 64, 4160)
        torch.testing.assert_close(vs, rs, rtol=1e-5, atol=0)
        a, r = vq.float(), rq.float()
        assert ((a - r).abs() <= r.abs() / 8 + 2**-9).all()
        assert (a[..., 4100:] == 0).all()


def test_k_is_not_modified_and_scales_are_fp32() -> None:
    k = torch.randn(1, 2, 200, 128, device=DEV, dtype=torch.float16) + 3
    before = k.clone()
    k8, ks, km = quant.smooth_quant_k(k, "HND", GroupSpec(64, 8, 2), 128, 64, smooth_k=True)
    assert torch.equal(k, before)
    assert ks.dtype == torch.float32 and km is not None and km.dtype == torch.float32
    assert k8.shape == (1, 2, 256, 128) and (k8[:, :, 200:] == 0).all()


def test_ops_pass_opcheck() -> None:
    x = torch.randn(2, 3, 70, 64, device=DEV, dtype=torch.float16)
    mean, amax = quant.channel_stats(x, "HND", False)
    ops = torch.ops.sageattention
    torch.library.opcheck(ops.channel_stats.default, (x, 0, True))
    torch.library.opcheck(ops.quant_int8.default, (x, 0, 32, 8, 1, 64, 128, mean))
    torch.library.opcheck(ops.quant_int8.default, (x, 0, 64, 1, 1, 64, 64, None))
    torch.library.opcheck(ops.quant_v_fp8.default, (x, 0, 128, 64, 448.0, amax, None))


def test_bad_arguments_raise_not_crash() -> None:
    x = torch.randn(1, 2, 10, 64, device=DEV, dtype=torch.float16)
    ops = torch.ops.sageattention
    with pytest.raises(RuntimeError, match="head_dim_padded"):
        ops.quant_int8(x, 0, 32, 1, 1, 32, 32, None)
    with pytest.raises(RuntimeError, match="group_period"):
        ops.quant_int8(x, 0, 32, 8, 3, 64, 32, None)
    with pytest.raises(RuntimeError, match="tensor_layout"):
        ops.quant_int8(x, 2, 32, 1, 1, 64, 32, None)
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.quant_int8(x.cpu(), 0, 32, 1, 1, 64, 32, None)
