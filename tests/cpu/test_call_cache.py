"""sageattention._call_cache: a repeated call goes straight to the kernel function its first call reached, and only a
call equal in everything the checks read does. The kernel is a stand-in here (CPU tensors, a GPU family forced);
tests/gpu/test_api_gpu.py::test_repeated_calls_take_the_cached_path runs the real kernels."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

from sageattention import _call_cache, core
from tests.cpu.conftest import FakeKernel, qkv


def test_second_equal_call_skips_the_checks(fake_kernel: FakeKernel, qkv_checks: list[int]) -> None:
    checks = qkv_checks
    q, k, v = qkv()
    core.sageattn(q, k, v, is_causal=True)
    core.sageattn(*qkv(), is_causal=True)  # new tensors, same signature
    assert checks[0] == 1 and len(fake_kernel.calls) == 2
    assert fake_kernel.calls[0] == fake_kernel.calls[1]
    assert fake_kernel.calls[1]["is_causal"] is True and fake_kernel.calls[1]["sm_scale"] == pytest.approx(64 ** -0.5)


def test_any_difference_in_what_the_checks_read_misses(fake_kernel: FakeKernel, qkv_checks: list[int]) -> None:
    checks = qkv_checks
    q, k, v = qkv()
    core.sageattn(q, k, v)
    variants = [
        lambda: core.sageattn(q, k, v, is_causal=True),
        lambda: core.sageattn(q, k, v, sm_scale=0.5),
        lambda: core.sageattn(q, k, v, return_lse=True),
        lambda: core.sageattn(q, k, v, smooth_k=False),
        lambda: core.sageattn(*qkv(n=32)),
        lambda: core.sageattn(q.transpose(2, 3).contiguous().transpose(2, 3), k, v),  # a last dim not contiguous
        lambda: core.sageattn(*(t.bfloat16() for t in (q, k, v))),
        lambda: core.sageattn(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), tensor_layout="NHD"),
    ]
    for i, call in enumerate(variants):
        try:
            call()
        except ValueError:  # the strided q: rejected by the checks, which therefore ran
            pass
        assert checks[0] == i + 2, f"variant {i} took the cached path"


def test_argument_types_are_part_of_the_key(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v, is_causal=True)
    with pytest.raises(TypeError, match="is_causal must be True or False, got 1"):
        core.sageattn(q, k, v, is_causal=1)  # 1 == True, but the checks refuse it
    core.sageattn(q, k, v, dropout_p=0.0)
    with pytest.raises(ValueError, match="dropout_p must be a float"):
        core.sageattn(q, k, v, dropout_p=False)


def test_invalid_options_still_fail_after_a_cached_call(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v, qk_quant_gran="per_warp")
    with pytest.raises(ValueError, match="qk_quant_gran must be one of"):
        core.sageattn(q, k, v, qk_quant_gran="per_block")
    with pytest.raises(TypeError, match="unexpected keyword"):
        core.sageattn(q, k, v, qk_quant_gran="per_warp", typo=1)


def test_explicit_entry_points_keep_their_own_entries(fake_kernel: FakeKernel, qkv_checks: list[int]) -> None:
    checks = qkv_checks
    q, k, v = qkv()
    core.sageattn_qk_int8_pv_fp16_cuda(q, k, v, pv_accum_dtype="fp16")
    core.sageattn_qk_int8_pv_fp16_cuda(q, k, v, pv_accum_dtype="fp16")
    core.sageattn(q, k, v)  # a different entry: its own checks
    assert checks[0] == 2 and [c["pv_accum_dtype"] for c in fake_kernel.calls] == ["fp16", "fp16", "fp32"]


def test_calls_autograd_records_are_guarded_even_when_cached(fake_kernel: FakeKernel) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v)
    out = core.sageattn(q.requires_grad_(), k, v)
    with pytest.raises(RuntimeError, match="no backward"):
        out.sum().backward()


def test_debug_logging_sees_every_call(fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    q, k, v = qkv()
    core.sageattn(q, k, v)
    with caplog.at_level(logging.DEBUG, logger="sageattention"):
        core.sageattn(q, k, v)
    assert "path=sageattn_qk_int8_pv_fp16_cuda" in caplog.text


def test_sdpa_fallbacks_are_never_cached() -> None:
    _call_cache.clear()
    q, k, v = qkv()  # CPU tensors: the real checks send them to SDPA (with a one-time warning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        core.sageattn(q, k, v)
        core.sageattn(q, k, v)
    assert not _call_cache._runs


def test_key_refuses_what_it_cannot_compare() -> None:
    q, k, v = qkv()
    assert _call_cache.key("f", q, k, v, "HND", False, None, False, {}) is not None
    assert _call_cache.key("f", torch.nn.Parameter(q), k, v, "HND", False, None, False, {}) is None
    assert _call_cache.key("f", q, k, v, "HND", False, None, False, {"attn_mask": q}) is None
    assert _call_cache.key("f", q, k, v, "HND", False, None, False, {}) != \
        _call_cache.key("f", q, k, v, "HND", 0, None, False, {})


def test_cache_stays_bounded(fake_kernel: FakeKernel) -> None:
    for n in range(1, _call_cache.MAX_ENTRIES + 10):
        _call_cache.remember(("k", n), fake_kernel)
    assert len(_call_cache._runs) <= _call_cache.MAX_ENTRIES
