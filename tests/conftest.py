"""Shared fixtures and the `gpu` marker policy: GPU tests skip, with the reason shown, without CUDA."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
from collections.abc import Callable
from types import ModuleType

import pytest
import torch

from sageattention import reference

# The accuracy measures, one copy (sageattention.reference); the tests import them from here.
rel_l1, cosine = reference.rel_l1, reference.cosine

ROOT = pathlib.Path(__file__).resolve().parents[1]

# sageattn gives calls with too little work to SDPA (sageattention/_short_kv.py). Many tests check the kernels through
# sageattn at such shapes, so the suite runs with that route off; tests/gpu/test_short_kv_gpu.py turns it on.
os.environ.setdefault("SAGEATTENTION_SHORT_KV_SDPA", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)")
    for item in items:
        # The marker, not `"gpu" in item.keywords`: every test under tests/gpu has that keyword (its package's
        # name), so the keyword also skipped the unmarked tests there that run anywhere (report formatting).
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def bench_module() -> Callable[[str], ModuleType]:
    """A loader of bench/NAME.py as a module (bench/ is scripts, not a package); it skips the test where bench/ is
    not part of the tree (the test image holds tests/ only)."""

    def load(name: str) -> ModuleType:
        path = ROOT / "bench" / f"{name}.py"
        if not path.is_file():
            pytest.skip("bench/ is not part of this tree (the test image holds tests/ only)")
        sys.path.insert(0, str(ROOT))  # the scripts import bench.* and sageattention from the tree's root
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # as an import would: dataclasses look their module up there
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(ROOT))
        return module

    return load


@pytest.fixture
def seed() -> int:
    torch.manual_seed(1234)
    return 1234


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
