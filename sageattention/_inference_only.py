"""The kernels have no backward. Where an eager call's inputs require grad, its outputs get a backward that
raises a clear error, instead of PyTorch's autograd fallback for C++ ops (a warning, then no gradient for
q, k, v). Inference with inputs that merely require grad (a model run without no_grad) still works: only
backward fails. The compiled path has its own op for this (sageattention/_compile.py)."""

from __future__ import annotations

from typing import Any, Callable

import torch

Result = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

NO_BACKWARD = (
    "sageattention has no backward: its 8-bit kernels are inference-only. Run the model under torch.no_grad() or "
    "torch.inference_mode(), or use torch.nn.functional.scaled_dot_product_attention where gradients are needed"
)


class _NoBackward(torch.autograd.Function):
    """Runs the kernel call with autograd off and gives its outputs a backward that raises NO_BACKWARD."""

    @staticmethod
    def forward(ctx: Any, run: Callable[[], Result], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Any:
        result = run()
        if isinstance(result, tuple):
            ctx.mark_non_differentiable(result[1])  # the LSE
        return result

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise RuntimeError(NO_BACKWARD)


def needs_guard(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether autograd records this call (cheap: read on every eager kernel call)."""
    return torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)


def run_guarded(run: Callable[[], Result], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Result:
    """run() for a call that autograd records: same outputs, and a backward through them raises NO_BACKWARD."""
    return _NoBackward.apply(run, q, k, v)
