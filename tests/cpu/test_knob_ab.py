"""bench/knob_ab.py's variant specs and the environment each variant's calls see (the timing itself needs a GPU)."""

from __future__ import annotations

import argparse
import os

import pytest


@pytest.fixture(scope="module")
def knob_ab(bench_module):
    return bench_module("knob_ab")


def test_variants_parse_into_names_and_variables(knob_ab) -> None:
    got = knob_ab.parse_variants("a:SAGEATTENTION_X=1,SAGEATTENTION_Y=2;b:SAGEATTENTION_X=0;c:")
    assert got == {"a": {"SAGEATTENTION_X": "1", "SAGEATTENTION_Y": "2"}, "b": {"SAGEATTENTION_X": "0"}, "c": {}}
    assert knob_ab.parse_variants(knob_ab.DEFAULT_VARIANTS) == {
        "pdl": {"SAGEATTENTION_SM90_PDL": "1"}, "no_pdl": {"SAGEATTENTION_SM90_PDL": "0"}}


def test_shapes_take_an_optional_batch_and_heads(knob_ab) -> None:
    assert knob_ab.parse_ab_shapes("128:4096,64:8192:c,128:4608:1x24,64:100:c:2x8") == (
        (128, 4096, False, 4, 32), (64, 8192, True, 4, 32), (128, 4608, False, 1, 24), (64, 100, True, 2, 8))
    for bad in ("128", "128:4096:x", "128:4096:1x", "128:4096:c:1x24:5"):
        with pytest.raises(argparse.ArgumentTypeError, match="--shapes"):
            knob_ab.parse_ab_shapes(bad)


@pytest.mark.parametrize("spec, message", [
    ("a:FOO=1", "expected SAGEATTENTION_...=VALUE"),
    ("a:SAGEATTENTION_X", "expected SAGEATTENTION_...=VALUE"),
    ("a:SAGEATTENTION_X=1;a:SAGEATTENTION_X=0", "each variant needs a new name"),
    (":SAGEATTENTION_X=1", "each variant needs a new name"),
    ("kernel_only:SAGEATTENTION_X=1", "not kernel_only"),
    (";", "no variant given"),
])
def test_bad_variant_specs_name_the_problem(knob_ab, spec: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        knob_ab.parse_variants(spec)


def test_each_call_sees_its_variables_and_not_the_others(knob_ab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEATTENTION_B", "stale")
    seen: list[tuple[str | None, str | None]] = []
    probe = lambda: seen.append((os.environ.get("SAGEATTENTION_A"), os.environ.get("SAGEATTENTION_B")))  # noqa: E731
    every = {"SAGEATTENTION_A", "SAGEATTENTION_B"}
    first = knob_ab.with_env({"SAGEATTENTION_A": "1"}, every - {"SAGEATTENTION_A"}, probe)
    second = knob_ab.with_env({"SAGEATTENTION_B": "0"}, every - {"SAGEATTENTION_B"}, probe)
    first()
    second()
    first()
    assert seen == [("1", None), (None, "0"), ("1", None)]


def test_the_tool_needs_a_gpu_and_says_so(knob_ab, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(knob_ab.torch.cuda, "is_available", lambda: False)
    assert knob_ab.main([]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        knob_ab.main(["--rounds", "0"])


def test_backend_must_have_a_kernel_only_partner(knob_ab, capsys) -> None:
    for bad in ("sdpa_cudnn", "sage_fp16_cuda_kernel", "nope"):
        with pytest.raises(SystemExit):
            knob_ab.main(["--backend", bad])
        err = capsys.readouterr().err
        assert "--backend: expected sageattn or one of" in err and "'sage_fp16_cuda'" in err, err
