"""Which sageattn_varlen calls sm90's one-op kernel takes (the rest take the runs path), decided without a GPU."""

from __future__ import annotations

import pytest
import torch

from sageattention import _lib, core


@pytest.fixture
def sm90() -> object:
    if not _lib.load("sm90"):
        pytest.skip(f"sm90 module not built here: {_lib.error('sm90')}")
    from sageattention.kernels import sm90

    return sm90


def meta(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.empty(*shape, device="meta", dtype=dtype)


def test_the_one_op_takes_what_its_kernel_models(sm90: object) -> None:
    q, kv = meta(100, 8, 128), meta(90, 2, 128)
    applies = sm90.varlen_applies  # type: ignore[attr-defined]
    assert applies(q, kv, kv, {})
    assert applies(q, kv, kv, {"pv_accum_dtype": "fp32", "dropout_p": 0.0, "smooth_v": True})
    assert not applies(q, kv, kv, {"pv_accum_dtype": "fp32+fp32"})  # two-level: the runs path
    assert not applies(q, kv, kv, {"dropout_p": 0.1})  # SDPA per run
    assert applies(meta(100, 8, 256), meta(90, 2, 256), meta(90, 2, 256), {})
    assert not applies(meta(100, 8, 264), meta(90, 2, 264), meta(90, 2, 264), {})  # no kernel: the runs path's error
    assert not applies(q, meta(90, 3, 128), meta(90, 3, 128), {})  # heads not in whole groups: the runs path's error
    assert not applies(q, kv, meta(90, 2, 128, dtype=torch.bfloat16), {})
    assert not applies(q, kv, meta(91, 2, 128), {})  # k and v of different lengths
    assert not applies(meta(0, 8, 128), kv, kv, {}) and not applies(q, meta(0, 2, 128), meta(0, 2, 128), {})


def test_cpu_inputs_and_the_runs_switch_take_the_runs_path(monkeypatch: pytest.MonkeyPatch) -> None:
    q = torch.randn(10, 2, 64, dtype=torch.float16)
    cu = torch.tensor([0, 4, 10], dtype=torch.int32)
    assert core._packed_kernel(q, q, q, cu, cu, 6, 6, {}) is None  # CPU tensors
    monkeypatch.setenv("SAGEATTENTION_VARLEN_RUNS", "1")
    assert core._packed_kernel(q, q, q, cu, cu, 6, 6, {}) is None


def test_host_offsets_are_checked_as_on_the_runs_path() -> None:
    core._check_cu_on_host(torch.tensor([0, 4, 10]), "cu_seqlens_q", 10, 6)
    with pytest.raises(ValueError, match="non-decreasing"):
        core._check_cu_on_host(torch.tensor([0, 5, 4, 10]), "cu_seqlens_q", 10, 6)
    with pytest.raises(ValueError, match="end at 11"):
        core._check_cu_on_host(torch.tensor([0, 4, 10]), "cu_seqlens_k", 11, 6)
    with pytest.raises(ValueError, match="max_seqlen_k=5"):
        core._check_cu_on_host(torch.tensor([0, 4, 10]), "cu_seqlens_k", 10, 5)

