"""Shared fixtures and the `gpu` marker policy: GPU tests skip, with the reason shown, without CUDA."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")
    for item in items:
        # The marker, not `"gpu" in item.keywords`: every test under tests/gpu has that keyword (its package's
        # name), so the keyword also skipped the unmarked tests there that run anywhere (report formatting).
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def seed() -> int:
    torch.manual_seed(1234)
    return 1234


def rel_l1(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref.double()).abs().sum() / ref.double().abs().sum())


def cosine(out: torch.Tensor, ref: torch.Tensor) -> float:
    a, b = out.double().flatten(), ref.double().flatten()
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


@pytest.fixture
def qkv_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts sageattention.core's input checks (check_qkv): [n], updated as calls run. A call served by the call
    cache (sageattention/_call_cache.py) does not count."""
    from sageattention import core

    seen = [0]
    real = core.check_qkv

    def spy(*a: object, **kw: object) -> object:
        seen[0] += 1
        return real(*a, **kw)

    monkeypatch.setattr(core, "check_qkv", spy)
    return seen
