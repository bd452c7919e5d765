"""sm_90a wgmma kernel at head dim 256 (and dims padded to it): single-level accumulation in 128-key steps, Q/K
rows as two 128-byte swizzled boxes, PV as m64n256 wgmmas. Same bounds as test_sm90: the oracle on the kernel's
own quantized operands is the tight check, float64 the end-to-end one."""

from __future__ import annotations

import math

import pytest
import torch

import sageattention
from sageattention import reference as R
from sageattention.kernels import sm90

from tests.gpu.test_sm90 import (
    FP8_COSINE, FP8_REL_L1, check_accuracy_vs_fp64, check_against_oracle, cosine, make, rel_l1, run,
)

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("need_sm90")]


def run256(q, k, v, **kw):
    return run(q, k, v, accum="fp32", **kw)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("gran", ["per_thread", "per_warp"])
@pytest.mark.parametrize("lens", [(1024, 1024), (333, 1000), (1000, 333), (77, 77), (128, 1), (256, 640)])
def test_kernel_matches_oracle(causal, gran, lens):
    qo, kv = lens
    q = make("HND", 2, 4, qo, 256, torch.float16)
    k = make("HND", 2, 2, kv, 256, torch.float16, offset=2.0)
    v = make("HND", 2, 2, kv, 256, torch.float16)
    check_against_oracle(q, k, v, causal, gran, two_level=False)


@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("d", [256, 160, 200])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("offset", [0.0, 5.0])
def test_accuracy_vs_fp64(layout, d, causal, offset):
    check_accuracy_vs_fp64(layout, d, causal, offset, "fp32")


@pytest.mark.parametrize("n", [1, 17, 127, 1000, 4097])
def test_odd_lengths_no_nan(n):
    q, k, v = (make("HND", 1, 2, n, 256, torch.bfloat16) for _ in range(3))
    for causal in (False, True):
        out = run256(q, k, v, causal=causal)
        ref, _ = R.attention_fp64(q, k, v, causal)
        assert torch.isfinite(out).all()
        assert cosine(out, ref) >= FP8_COSINE


def test_large_bf16_magnitudes_stay_finite():
    q, k, v = (100 * make("HND", 1, 2, 700, 256, torch.bfloat16).clamp(-1, 1) for _ in range(3))
    out = run256(q, k, v)
    ref, _ = R.attention_fp64(q, k, v, False)
    assert torch.isfinite(out).all()
    assert cosine(out, ref) >= 0.99


def test_causal_qo_longer_than_kv_rows_without_keys_are_zero():
    q = make("HND", 1, 2, 300, 256, torch.float16)
    k = make("HND", 1, 2, 100, 256, torch.float16)
    v = make("HND", 1, 2, 100, 256, torch.float16)
    out, lse = run256(q, k, v, causal=True, lse=True)
    ref, _ = R.attention_fp64(q, k, v, True)
    assert bool((out[:, :, :200] == 0).all()) and bool(torch.isneginf(lse[:, :, :200]).all())
    assert rel_l1(out[:, :, 200:], ref[:, :, 200:]) <= FP8_REL_L1


@pytest.mark.parametrize("ctas", ["1", "5"])
@pytest.mark.parametrize("causal", [False, True])
def test_persistent_ctas_walk_many_items_bit_for_bit(ctas, causal, monkeypatch):
    q = make("HND", 2, 4, 900, 256, torch.float16)
    k = make("HND", 2, 2, 700, 256, torch.float16, offset=1.0)
    v = make("HND", 2, 2, 700, 256, torch.float16)
    want, want_lse = run256(q, k, v, causal=causal, lse=True)
    monkeypatch.setenv("SAGEATTENTION_SM90_CTAS", ctas)
    got, got_lse = run256(q, k, v, causal=causal, lse=True)
    assert torch.equal(got, want) and torch.equal(got_lse, want_lse)


def test_two_level_is_refused_with_the_fix():
    q = make("HND", 1, 1, 64, 256, torch.float16)
    with pytest.raises(NotImplementedError, match='pv_accum_dtype="fp32"'):
        run(q, q, q, accum="fp32+fp32")
    with pytest.raises(ValueError, match="larger than 256"):
        run(make("HND", 1, 1, 64, 264, torch.float16), q, q, accum="fp32")


def test_sageattn_runs_the_sm90_kernel(caplog: pytest.LogCaptureFixture):
    import logging

    q, k, v = (make("HND", 1, 4, 700, 256, torch.float16) for _ in range(3))
    with caplog.at_level(logging.DEBUG, logger="sageattention"):
        got = sageattention.sageattn(q, k, v, is_causal=True)
    assert "sageattn_qk_int8_pv_fp8_cuda_sm90" in caplog.text, caplog.text
    explicit = sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90(q, k, v, is_causal=True, pv_accum_dtype="fp32")
    assert torch.equal(got, explicit)
    # An explicit two-level request at this head dim falls back to another family instead of failing.
    other = sageattention.sageattn(q, k, v, is_causal=True, pv_accum_dtype="fp32+fp32")
    ref, _ = R.attention_fp64(q, k, v, True)
    assert cosine(other, ref) >= FP8_COSINE


def test_sm_scale_from_the_original_head_dim():
    # d=200 is padded to 256 with zeros; the default scale must be 1/sqrt(200), not 1/sqrt(256).
    q, k, v = (make("HND", 1, 2, 500, 200, torch.float16) for _ in range(3))
    out = sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90(q, k, v, pv_accum_dtype="fp32")
    ref, _ = R.attention_fp64(q, k, v, False, sm_scale=1 / math.sqrt(200))
    assert cosine(out, ref) >= FP8_COSINE
    assert sm90.kv_block(200, "fp32") == 128
