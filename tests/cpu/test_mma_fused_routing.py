"""CPU checks of kernels/mma.py's choice between the fused ops (sageattn_mma_f16 / sageattn_mma_f8) and the
separate ones, of the arguments it hands the fused op, and of the fused ops' fakes (no GPU needed)."""

from __future__ import annotations

import pytest
import torch

from sageattention import _lib, quant
from sageattention.kernels import mma


def nhd(b: int, n: int, h: int, d: int, dtype: torch.dtype = torch.float16, row: int | None = None) -> torch.Tensor:
    """An NHD tensor whose rows are `row` elements apart (d when None: contiguous)."""
    row = row or d
    return torch.zeros(b, n, h, row, dtype=dtype)[..., :d]


@pytest.mark.parametrize("fp8", [False, True])
def test_fused_applies_to_half_inputs(fp8):
    q = k = v = nhd(1, 10, 2, 64)
    assert mma._fused_applies(q, k, v, fp8, smooth_v=False)
    b16 = nhd(1, 10, 2, 64, torch.bfloat16)
    assert mma._fused_applies(b16, b16, b16, fp8, smooth_v=False) == fp8  # FP16 PV converts a bf16 V first
    f32 = nhd(1, 10, 2, 64, torch.float32)
    assert not mma._fused_applies(f32, f32, f32, fp8, smooth_v=False)
    wide = nhd(1, 10, 2, 264)
    assert not mma._fused_applies(wide, wide, wide, fp8, smooth_v=False)  # quantize's error names the limit


def test_fp16_pv_is_fused_only_for_a_v_the_kernel_reads_as_it_is():
    q = nhd(1, 10, 2, 64)
    assert mma._fused_applies(q, q, nhd(1, 10, 2, 64, row=72), False, smooth_v=False)  # aligned rows of 72
    assert not mma._fused_applies(q, q, nhd(1, 10, 2, 64, row=67), False, smooth_v=False)  # unaligned rows
    assert not mma._fused_applies(q, q, q, False, smooth_v=True)  # smooth V subtracts the mean in PyTorch
    odd = nhd(1, 10, 2, 17)
    assert not mma._fused_applies(odd, odd, odd, False, smooth_v=False)  # V padded to 24 columns first
    assert mma._fused_applies(odd, odd, odd, True, smooth_v=True)  # FP8 PV: quant_v_fp8 takes any V


class FakeFusedOp:
    """Stands in for the fused op: records its arguments, returns recognizable outputs."""

    def __init__(self) -> None:
        self.args: tuple | None = None

    def __call__(self, *args):
        self.args = args
        q, k = args[0], args[1]
        b, n, h, d = q.shape
        return torch.ones_like(q), torch.full((b, h, n), 2.0), torch.full((b, k.shape[2], d), 0.25)


@pytest.mark.parametrize("fp8", [False, True])
@pytest.mark.parametrize("return_lse", [False, True])
def test_run_hands_the_fused_op_the_options(monkeypatch, fp8, return_lse):
    op = FakeFusedOp()
    monkeypatch.setattr(_lib, "require", lambda family, what: None)
    monkeypatch.setattr(mma, "_fused_op", lambda fp8_pv: op)
    monkeypatch.setattr(mma, "quantize", lambda *a, **kw: pytest.fail("the separate path ran"))
    q = torch.randn(2, 5, 4, 64).half()
    k = v = torch.randn(2, 7, 2, 64).half()
    fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
    got = fn(q, k, v, tensor_layout="NHD", is_causal=True, qk_quant_gran="per_warp", sm_scale=0.5,
             pv_accum_dtype="fp32+fp32" if fp8 else "fp16", smooth_k=True, smooth_v=fp8, return_lse=return_lse)
    if fp8:
        assert op.args[3:] == (1, True, False, True, True, 0.5, 1, mma.FP8_E4M3_MAX, return_lse)
    else:
        assert op.args[3:] == (1, True, False, True, 0.5, 2, return_lse)
    assert op.args[0] is q and op.args[1] is k and op.args[2] is v
    if not return_lse:
        assert torch.equal(got, torch.ones_like(q))
        return
    out, lse = got
    # The smooth-K correction, as on the separate path: sm_scale * q . k_mean added to the kernel's lse.
    want = 2.0 + quant.lse_correction(q, torch.full((2, 2, 64), 0.25), "NHD", 0.5)
    assert torch.equal(out, torch.ones_like(q)) and torch.equal(lse, want)


def test_run_keeps_the_lse_without_smooth_k(monkeypatch):
    op = FakeFusedOp()
    monkeypatch.setattr(_lib, "require", lambda family, what: None)
    monkeypatch.setattr(mma, "_fused_op", lambda fp8_pv: op)
    q = k = v = torch.randn(1, 3, 2, 32).half()
    _, lse = mma.qk_int8_pv_fp16(q, k, v, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_thread",
                                 sm_scale=0.1, pv_accum_dtype="fp32", smooth_k=False, smooth_v=False,
                                 return_lse=True)
    assert op.args[3:] == (1, False, True, False, 0.1, 0, True)
    assert torch.equal(lse, torch.full((1, 2, 3), 2.0))


def test_run_checks_the_granularity_before_any_work(monkeypatch):
    monkeypatch.setattr(_lib, "require", lambda family, what: None)
    monkeypatch.setattr(mma, "_fused_op", lambda fp8_pv: pytest.fail("the fused op ran"))
    q = torch.randn(1, 3, 2, 32).half()
    with pytest.raises(ValueError, match="qk_quant_gran must be one of"):
        mma.qk_int8_pv_fp16(q, q, q, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_block", sm_scale=0.1,
                            pv_accum_dtype="fp32", smooth_k=True, smooth_v=False, return_lse=False)


@pytest.mark.parametrize("family", ["mma_fp16", "mma_fp8"])
def test_fakes_give_the_fused_op_shapes(family):
    if not _lib.load(family):
        pytest.skip(f"{family} module not built: {_lib.error(family)}")
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(2, 300, 4, 96, dtype=torch.bfloat16)  # NHD
        kv = torch.empty(2, 200, 2, 96, dtype=torch.bfloat16)
        for layout, smooth_k, return_lse in ((1, True, True), (1, False, False)):
            if family == "mma_fp8":
                out, lse, k_mean = torch.ops.sageattention.sageattn_mma_f8(
                    q, kv, kv, layout, True, True, smooth_k, True, 0.1, 1, 448.0, return_lse)
            else:
                out, lse, k_mean = torch.ops.sageattention.sageattn_mma_f16(
                    q, kv, kv.half(), layout, True, True, smooth_k, 0.1, 0, return_lse)
            assert out.shape == q.shape and out.dtype == q.dtype and out.is_contiguous()
            assert lse.shape == ((2, 4, 300) if return_lse else (0,)) and lse.dtype == torch.float32
            assert k_mean.shape == ((2 if smooth_k else 0), 2, 96) and k_mean.dtype == torch.float32
        hnd = torch.empty(1, 3, 50, 64, dtype=torch.float16)
        out, lse, _ = torch.ops.sageattention.sageattn_mma_f16(hnd, hnd, hnd, 0, False, False, False, 0.1, 0, True)
        assert out.shape == hnd.shape and out.dtype == torch.float16 and lse.shape == (1, 3, 50)


def test_run_splits_a_batch_larger_than_a_grid_dimension(monkeypatch):
    # Heads and batch entries sit in the grids' y and z (at most 65 535 each): a larger batch runs in chunks, whose
    # outputs and lse are joined in order. Shrunk here to chunks of 2.
    calls = []

    def op(*args):
        calls.append(args[0].shape[0])
        q = args[0]
        b, n, h, d = q.shape
        first = float(len(calls))
        return torch.full_like(q, first), torch.full((b, h, n), first), torch.zeros(b, args[1].shape[2], d)

    monkeypatch.setattr(_lib, "require", lambda family, what: None)
    monkeypatch.setattr(mma, "_fused_op", lambda fp8_pv: op)
    monkeypatch.setattr(mma, "MAX_GRID_BATCH", 2)
    q = torch.randn(5, 3, 2, 64).half()
    k = v = torch.randn(5, 4, 2, 64).half()
    out, lse = mma.qk_int8_pv_fp16(q, k, v, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_thread",
                                   sm_scale=0.125, pv_accum_dtype="fp32", smooth_k=False, smooth_v=False,
                                   return_lse=True)
    assert calls == [2, 2, 1]
    assert out.shape == q.shape and lse.shape == (5, 2, 3)
    assert out[:, 0, 0, 0].tolist() == [1, 1, 2, 2, 3] and lse[:, 0, 0].tolist() == [1, 1, 2, 2, 3]
    with pytest.raises(ValueError, match="pv_accum_dtype"):  # options are checked once, before any chunk
        mma.qk_int8_pv_fp16(q, k, v, tensor_layout="NHD", is_causal=False, qk_quant_gran="per_thread",
                            sm_scale=0.125, pv_accum_dtype="fp32+fp32", smooth_k=False, smooth_v=False,
                            return_lse=False)
    assert calls == [2, 2, 1]
