"""GPU tests draw the same inputs on every run: an unseeded draw once missed an accuracy bound
(test_api_gpu.py::test_default_path_accuracy_offset_k_gqa_causal, 1 run in 40+).

need_sm90: modules of sm90-only tests use it (pytest.mark.usefixtures) to skip, with the reason, where the
sm_90a kernels cannot run."""

import pytest
import torch

from sageattention import _lib


@pytest.fixture(autouse=True)
def _seeded(seed: int) -> int:
    return seed


@pytest.fixture
def need_sm90() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("needs an sm_90 GPU")
    if not _lib.load("sm90"):
        pytest.skip(f"sm90 module unavailable: {_lib.error('sm90')}")
