"""Which accumulation sageattn gives the FP16-PV kernel when the call leaves pv_accum_dtype open: "fp16+fp32" on GeForce
boards of sm_86/sm_89 (fp32-accumulating FP16 MMA at half rate), "fp32" everywhere else. The rule is read from the
device's capability and name; the call's path is checked with a stand-in kernel (tests/cpu/conftest.py), the
kernels themselves in tests/gpu/test_api_gpu.py::test_sageattn_takes_fp16_fp32_where_fp32_accumulation_is_half_rate."""

from __future__ import annotations

import logging

import pytest
import torch

from sageattention import _device, core
from tests.cpu.conftest import FakeKernel, qkv


@pytest.mark.parametrize("cap, name, half_rate", [
    ((8, 6), "NVIDIA GeForce RTX 3090", True),
    ((8, 6), "NVIDIA GeForce RTX 3060 Laptop GPU", True),
    ((8, 9), "NVIDIA GeForce RTX 4090", True),
    ((8, 6), "NVIDIA RTX A6000", False),  # professional GA102: both accumulators at one rate
    ((8, 6), "NVIDIA A40", False),
    ((8, 9), "NVIDIA L40S", False),
    ((8, 0), "NVIDIA A100-SXM4-80GB", False),
    ((9, 0), "NVIDIA H100 80GB HBM3", False),
    ((12, 0), "NVIDIA GeForce RTX 5090", False),  # not in the table until its rates are known
])
def test_half_rate_rule(cap: tuple[int, int], name: str, half_rate: bool) -> None:
    assert _device.f32_accum_half_rate(cap, name) is half_rate


def test_fp16_pv_accum_reads_the_devices_capability_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    boards = {0: ((8, 6), "NVIDIA GeForce RTX 3080"), 1: ((8, 6), "NVIDIA RTX A5000")}
    monkeypatch.setattr(_device, "capability", lambda index: boards[index][0])
    monkeypatch.setattr(_device, "name", lambda index: boards[index][1])
    assert _device.fp16_pv_accum(0) == "fp16+fp32"
    assert _device.fp16_pv_accum(1) == "fp32"
    assert _device.fp16_pv_accum_of(torch.zeros(1)) == "fp32"  # no GPU: the explicit function's default


def test_sageattn_passes_the_devices_choice_and_keeps_the_callers(
    fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_device, "fp16_pv_accum_of", lambda t: "fp16+fp32")
    q, k, v = qkv()
    with caplog.at_level(logging.DEBUG, logger="sageattention"):
        core.sageattn(q, k, v)
    assert "path=sageattn_qk_int8_pv_fp16_cuda pv_accum_dtype=fp16+fp32" in caplog.text
    core.sageattn(q, k, v, pv_accum_dtype="fp32")
    core.sageattn(q, k, v, pv_accum_dtype="fp16")
    core.sageattn(q, k, v, pv_accum_dtype="fp32+fp32")  # an FP8-PV option: fp32 accumulation on this kernel
    assert [c["pv_accum_dtype"] for c in fake_kernel.calls] == ["fp16+fp32", "fp32", "fp16", "fp32"]
    core.sageattn(*qkv())  # the cached path of the first call keeps its accumulation
    assert fake_kernel.calls[-1]["pv_accum_dtype"] == "fp16+fp32"


def test_explicit_fp16_pv_function_keeps_its_fp32_default(
    fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Upstream's signature says pv_accum_dtype="fp32"; only sageattn, which owns the choice, applies the rule.
    monkeypatch.setattr(_device, "fp16_pv_accum_of", lambda t: "fp16+fp32")
    core.sageattn_qk_int8_pv_fp16_cuda(*qkv())
    assert fake_kernel.calls[-1]["pv_accum_dtype"] == "fp32"
