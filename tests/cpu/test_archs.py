"""TORCH_CUDA_ARCH_LIST parsing, nvcc gates and per-family arch selection (ci/archs.py)."""

from __future__ import annotations

import pytest

from ci import archs, flavors


def sms(text: str) -> list[str]:
    return [a.sm for a in archs.parse_arch_list(text)]


@pytest.mark.parametrize(
    "text",
    ["8.0;8.6;9.0", "8.0,8.6,9.0", "8.0 8.6 9.0", " 8.0 ;8.6,  9.0 ", "sm_80 sm86 90", "80;8.6;9.0a", "compute_80 8.6 sm_90a"],
)
def test_separators_and_forms_give_the_same_archs(text: str) -> None:
    # Upstream's parser built only the first arch of a space-separated list; every form must list all three.
    assert sms(text) == ["sm_80", "sm_86", "sm_90a"]


def test_nine_becomes_sm90a_and_ptx_is_kept() -> None:
    parsed = archs.parse_arch_list("9.0 8.6+PTX")
    assert [a.sm for a in parsed] == ["sm_86", "sm_90a"]
    assert parsed[0].ptx and not parsed[1].ptx


def test_duplicates_merge() -> None:
    assert sms("8.0;8.0+PTX;sm_80") == ["sm_80"]
    assert archs.parse_arch_list("8.0;8.0+PTX")[0].ptx


@pytest.mark.parametrize("bad", ["7.5", "7.0;8.0", "sm_75", "6.1"])
def test_below_sm80_is_refused_with_the_reason_and_the_supported_list(bad: str) -> None:
    with pytest.raises(archs.ArchListError) as e:
        archs.parse_arch_list(bad)
    msg = str(e.value)
    assert "below sm_80" in msg and "m16n8k32" in msg
    assert "8.0" in msg and "9.0" in msg and "12.0" in msg


@pytest.mark.parametrize("bad", ["", "  ", "banana", "9", "8.5", "11.0"])
def test_garbage_is_refused(bad: str) -> None:
    with pytest.raises(archs.ArchListError):
        archs.parse_arch_list(bad)


def test_gencode_per_family() -> None:
    plan = archs.make_plan("8.0;8.6;8.9;9.0;12.0+PTX", "13.0")
    assert plan.gencode_flags("sm90") == ["-gencode=arch=compute_90a,code=sm_90a"]
    fp8 = plan.gencode_flags("mma_fp8")
    assert "-gencode=arch=compute_89,code=sm_89" in fp8 and not any("sm_80" in f or "sm_86" in f for f in fp8)
    core = plan.gencode_flags("core")
    assert "-gencode=arch=compute_80,code=sm_80" in core
    assert "-gencode=arch=compute_120,code=compute_120" in core  # +PTX
    assert plan.family_archs("sm90") == [archs.Arch(9, 0)]


def test_sm90_family_is_empty_without_nine() -> None:
    plan = archs.make_plan("8.0;8.6", "12.6")
    assert plan.gencode_flags("sm90") == [] and plan.gencode_flags("mma_fp8") == []


@pytest.mark.parametrize(
    ("arch", "nvcc", "needle"),
    [("9.0", "12.2", "12.3"), ("8.9", "12.3", "12.4"), ("10.0", "12.6", "12.8"), ("12.0", "12.6", "12.8"), ("12.1", "12.8", "12.9")],
)
def test_nvcc_gates_name_the_fix(arch: str, nvcc: str, needle: str) -> None:
    with pytest.raises(archs.ArchListError) as e:
        archs.make_plan(arch, nvcc)
    msg = str(e.value)
    assert f">= {needle}" in msg and "TORCH_CUDA_ARCH_LIST" in msg and f"is {nvcc}" in msg


def test_fp8_f16_accum_needs_128() -> None:
    assert not archs.make_plan("8.9", "12.6").fp8_f16_accum
    assert archs.make_plan("8.9", "12.8").fp8_f16_accum
    assert archs.make_plan("8.9", "12.8").macros() == {"SAGE_FP8_F16_ACCUM": "1"}


def test_every_flavor_default_list_builds_with_its_own_nvcc() -> None:
    for f in flavors.FLAVORS.values():
        plan = archs.make_plan(f.arch_list_str, f.cuda)
        assert [a.dotted for a in plan.archs] == list(f.arch_list)
