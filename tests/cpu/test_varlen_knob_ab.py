"""bench/varlen_knob_ab.py's argument checks (the A/B itself needs a GPU)."""

from __future__ import annotations

import argparse

import pytest


@pytest.fixture(scope="module")
def varlen_knob_ab(bench_module):
    return bench_module("varlen_knob_ab")


def test_headdims_parse(varlen_knob_ab) -> None:
    assert varlen_knob_ab.parse_headdims("64,128") == (64, 128)
    assert varlen_knob_ab.parse_headdims("256") == (256,)


@pytest.mark.parametrize("text", ["96", "64,", "", "64,x", "128,32"])
def test_bad_headdims_name_the_argument(varlen_knob_ab, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--headdims: expected a comma list of 64, 128, 256"):
        varlen_knob_ab.parse_headdims(text)


@pytest.mark.parametrize("argv, message", [
    (["--variants", "a:FOO=1"], "expected SAGEATTENTION_...=VALUE"),
    (["--variants", "a:SAGEATTENTION_X=1", "--rounds", "0"], "--rounds must be at least 1"),
    ([], "the following arguments are required: --variants"),
])
def test_bad_arguments_exit_with_a_message(varlen_knob_ab, argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as err:
        varlen_knob_ab.main(argv)
    assert err.value.code == 2 and message in capsys.readouterr().err


def test_no_gpu_is_a_clear_exit(varlen_knob_ab, monkeypatch, capsys) -> None:
    monkeypatch.setattr(varlen_knob_ab.torch.cuda, "is_available", lambda: False)
    assert varlen_knob_ab.main(["--variants", "a:SAGEATTENTION_X=1"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
