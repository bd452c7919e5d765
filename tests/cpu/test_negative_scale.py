"""A negative sm_scale (SDPA takes any finite scale): the kernels take each row's max on the raw INT8 scores, right
only for a scale >= 0, so sageattention runs s * Q.K^T as |s| * (-Q).K^T. The kernel is a stand-in here;
tests/gpu/test_api_gpu.py::test_a_negative_sm_scale_is_honoured runs the real ones against float64."""

from __future__ import annotations

import pytest
import torch

from sageattention import core, reference
from tests.cpu.conftest import FakeKernel, qkv


def test_the_kernel_gets_the_negated_q_and_the_scale_s_magnitude(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v, sm_scale=-0.25)
    core.sageattn(q, k, v, sm_scale=-0.25)  # the cached path (_call_cache) negates too
    core.sageattn_qk_int8_pv_fp16_cuda(q, k, v, sm_scale=-0.25)
    core.sageattn_qk_int8_pv_fp16_triton(q, k, v, sm_scale=-0.25)
    assert [c["sm_scale"] for c in fake_kernel.calls] == [0.25] * 4
    for seen in fake_kernel.queries:
        assert torch.equal(seen, -q)


@pytest.mark.parametrize("sm_scale", [0.25, 0.0, -0.0, None])
def test_other_scales_reach_the_kernel_unchanged(fake_kernel: FakeKernel, sm_scale: float | None) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v, sm_scale=sm_scale)
    assert fake_kernel.queries[-1] is q
    assert fake_kernel.calls[-1]["sm_scale"] == (64 ** -0.5 if sm_scale is None else sm_scale)


def test_the_caller_s_q_is_left_as_it_was(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    before = q.clone()
    core.sageattn(q, k, v, sm_scale=-1.0)
    assert torch.equal(q, before)


@pytest.mark.parametrize("pv", ["fp16", "fp8"])
def test_negated_q_is_exact_in_the_quantized_algorithm_lse_included(pv: str) -> None:
    # The emulated algorithm (sageattention.reference) on (-q, |s|) against float64 at s < 0: the same error as at
    # a positive scale, and the LSE's smooth-K term (|s| * (-q).mean_k = s * q.mean_k) comes out right.
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 200, 64) for _ in range(3))
    k = k + 4 * torch.randn(64)  # channel offsets: the smooth-K correction is large
    out, lse = reference.sageattn_reference(-q, k, v, sm_scale=0.2, pv=pv, is_causal=True, return_lse=True)
    ref, ref_lse = reference.attention_fp64(q, k, v, True, -0.2)
    pos, _ = reference.attention_fp64(q, k, v, True, 0.2)
    assert reference.rel_l1(out, ref) < (0.05 if pv == "fp8" else 0.02)
    assert reference.rel_l1(out, pos) > 0.3  # a scale taken as positive would be far off
    assert float((lse.double() - ref_lse).abs().max()) < 0.05


def test_inputs_requiring_grad_still_refuse_backward(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    out = core.sageattn(q.requires_grad_(), k, v, sm_scale=-0.5)
    assert torch.equal(fake_kernel.queries[-1], -q.detach())
    with pytest.raises(RuntimeError, match="no backward"):
        out.float().sum().backward()
