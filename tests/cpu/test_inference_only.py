"""Eager kernel calls whose inputs require grad: forward runs, backward is a clear error (no silent None grads).

The kernels are CUDA-only, so a CPU stand-in kernel goes through the same `_run_kernel` path that every
explicit entry point and sageattn's kernel path take; tests/gpu/test_api_gpu.py runs the real kernels."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sageattention import core
from sageattention._inference_only import NO_BACKWARD
from sageattention._validate import check_qkv


def stand_in(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: Any) -> Any:
    stand_in.calls += 1
    out = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
    if kw["return_lse"]:
        return out, torch.logsumexp(q @ k.transpose(-1, -2), dim=-1)
    return out


stand_in.calls = 0


def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, return_lse: bool = False) -> Any:
    return core._run_kernel(stand_in, q, k, v, check_qkv(q, k, v, "HND"), tensor_layout="HND", sm_scale=1.0,
                            return_lse=return_lse)


def inputs(grad: tuple[bool, bool, bool]) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return tuple(torch.randn(1, 2, 8, 16).requires_grad_(g) for g in grad)


@pytest.mark.parametrize("grad", [(True, True, True), (True, False, False), (False, False, True)])
def test_backward_raises_the_inference_only_error(grad: tuple[bool, bool, bool]) -> None:
    q, k, v = inputs(grad)
    calls = stand_in.calls
    out = run(q, k, v)
    assert stand_in.calls == calls + 1  # the kernel ran once, inside the guard
    assert out.requires_grad
    with torch.no_grad():
        assert torch.equal(out, run(q, k, v))  # same values as an unguarded call
    with pytest.raises(RuntimeError, match="inference-only"):
        out.sum().backward()
    assert all(t.grad is None for t in (q, k, v))


def test_lse_output_is_not_differentiable_and_out_refuses_backward() -> None:
    q, k, v = inputs((True, True, True))
    out, lse = run(q, k, v, return_lse=True)
    assert out.requires_grad and not lse.requires_grad
    with pytest.raises(RuntimeError, match="no backward"):
        (out * 2).mean().backward()


def test_no_guard_without_grad() -> None:
    q, k, v = inputs((False, False, False))
    assert not run(q, k, v).requires_grad
    q, k, v = inputs((True, True, True))
    with torch.no_grad():
        assert not run(q, k, v).requires_grad
    with torch.inference_mode():
        assert not run(q, k, v).requires_grad


def test_message_names_the_fixes() -> None:
    for fix in ("torch.no_grad()", "torch.inference_mode()", "scaled_dot_product_attention"):
        assert fix in NO_BACKWARD
