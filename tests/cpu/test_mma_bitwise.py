"""bench/mma_bitwise.py's arguments and the calls it compares (the comparison itself needs a GPU)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def mma_bitwise(bench_module):
    return bench_module("mma_bitwise")


def test_assignments_parse_into_variables(mma_bitwise) -> None:
    got = mma_bitwise.parse(["SAGEATTENTION_MMA_KV_GROUP=2", "SAGEATTENTION_MMA_D64_CTAS=3"])
    assert got == ((64, 128), False, {"SAGEATTENTION_MMA_KV_GROUP": "2", "SAGEATTENTION_MMA_D64_CTAS": "3"})
    assert mma_bitwise.parse(["--head-dims", "64", "SAGEATTENTION_X=1"]) == ((64,), False, {"SAGEATTENTION_X": "1"})
    assert {c[0] for c in mma_bitwise.cases((64,))} == {64}


def test_fp8_flag_compares_the_fp8_pv_kernel_over_its_accumulations(mma_bitwise) -> None:
    assert mma_bitwise.parse(["--fp8", "--head-dims", "128", "SAGEATTENTION_X=2"]) == (
        (128,), True, {"SAGEATTENTION_X": "2"})
    cases = list(mma_bitwise.cases(fp8=True))
    accums = {c[1] for c in cases}
    assert {"fp32", "fp32+fp32"} <= accums <= {"fp32", "fp32+fp32", "fp32+fp16"}
    # the first accumulation gets the whole product at D=64, as the FP16 run's "fp32" does
    assert sum(1 for c in cases if c[0] == 64 and c[1] == "fp32") == 2 * 2 * 2 * len(mma_bitwise.LENGTHS) * 2


@pytest.mark.parametrize("args, message", [
    (["FOO=1"], "expected SAGEATTENTION_...=VALUE"),
    (["SAGEATTENTION_X"], "expected SAGEATTENTION_...=VALUE"),
    ([], "Bit-for-bit comparison"),  # no variable: the usage
    (["--head-dims", "32", "SAGEATTENTION_X=1"], "--head-dims: expected a comma list of 64 and 128"),
    (["--head-dims"], "--head-dims: expected a comma list of 64 and 128"),
])
def test_bad_arguments_exit_with_the_reason(mma_bitwise, args, message) -> None:
    with pytest.raises(SystemExit, match=message.replace(".", r"\.")):
        mma_bitwise.parse(args)


def test_calls_cover_what_a_kernel_choice_can_change(mma_bitwise) -> None:
    cases = list(mma_bitwise.cases())
    assert len(cases) == len(set(cases))
    d, accum, causal, dtype, gran, qo, kv, growth = (set(c[i] for c in cases) for i in range(8))
    assert d == {64, 128} and accum == {"fp32", "fp16+fp32", "fp16"} and causal == {False, True}
    assert dtype == {torch.float16, torch.bfloat16} and gran == {"per_thread", "per_warp"} and growth == {0.0, 1.0}
    assert {1, 17, 127, 4097} <= qo and any(q != k for _, _, _, _, _, q, k, _ in cases)
    # the D=64 fp32-O kernel (the A/B builds' subject) gets the whole product
    assert sum(1 for c in cases if c[0] == 64 and c[1] == "fp32") == 2 * 2 * 2 * len(mma_bitwise.LENGTHS) * 2
