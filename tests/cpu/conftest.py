"""Fixtures of the CPU tests: sageattn routed to a stand-in FP16-PV kernel on CPU tensors."""

from __future__ import annotations

import pytest
import torch

from sageattention import _call_cache, core


class FakeKernel:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.queries: list[torch.Tensor] = []  # the q each call received

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: object) -> torch.Tensor:
        self.calls.append(kw)
        self.queries.append(q)
        if kw["return_lse"]:
            return torch.zeros_like(q), torch.zeros(q.shape[:3])
        return torch.zeros_like(q)


@pytest.fixture
def fake_kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    """sageattn on CPU tensors routed to the FP16-PV family, whose kernel function is a FakeKernel."""
    fake = FakeKernel()
    _call_cache.clear()
    monkeypatch.setattr(core, "kernel_input_problem", lambda q, head_dim: None)
    monkeypatch.setattr(core, "_pick_family", lambda q, skip=None: ("mma_fp16", ""))
    monkeypatch.setattr(core, "_kernel", lambda module, name, family, fn: fake)
    monkeypatch.setattr(core, "_arch_check", lambda *a, **kw: None)
    monkeypatch.setattr(core, "_explicit_checks", lambda *a, **kw: None)
    yield fake
    _call_cache.clear()


def qkv(n: int = 16, d: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(torch.randn(1, 2, n, d, dtype=torch.float16) for _ in range(3))
