"""bench/mma_race_sweep.py's arguments and calls (the sweep itself needs a GPU)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def race(bench_module):
    return bench_module("mma_race_sweep")


def test_defaults_cover_both_head_dims_causal_and_several_tiles(race) -> None:
    args = race.parse([])
    assert args.headdims == (64, 128) and not args.fp8 and args.accum == "fp32"
    cases = list(race.cases(args.headdims))
    assert {c[0] for c in cases} == {64, 128} and {c[1] for c in cases} == {False, True}
    assert any(nk == 1 for _, _, _, nk in cases) and any(nk > 2 * 64 for _, _, _, nk in cases)
    fp8 = race.parse(["--fp8", "--headdims", "64"])
    assert fp8.headdims == (64,) and fp8.accum == "fp32+fp32"
    assert race.parse(["--accum", "fp16+fp32"]).accum == "fp16+fp32"


def test_an_accumulation_of_the_other_family_exits_with_the_choices(race, capsys) -> None:
    with pytest.raises(SystemExit):
        race.parse(["--accum", "fp32+fp32"])
    assert "--accum: expected one of fp32, fp16+fp32, fp16 for the FP16-PV kernel, got 'fp32+fp32'" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("bad", ["32", "64,", "sixty-four", ""])
def test_bad_head_dims_exit_with_the_reason(race, bad, capsys) -> None:
    with pytest.raises(SystemExit):
        race.parse(["--headdims", bad])
    assert "--headdims: expected a comma list of 64, 128, 256" in capsys.readouterr().err
