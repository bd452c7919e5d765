"""bench/pv_int8_lse_model.py: the INT8-PV kernel's reference model has the error profile that the GPU tests'
tolerances assume (tests/gpu/test_sm90_pv_int8.py): an LSE close to float64's in bulk that rounding lifts only a
little, and rising scores past the 8-bit bound of flat rows but inside the sharper rows' one."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def m(bench_module):
    return bench_module("pv_int8_lse_model")


@pytest.mark.parametrize("causal", [False, True])
def test_lse_bulk_is_close_to_float64_and_only_rounding_lifts_it(m, causal) -> None:
    e = m.lse_error(seed=0, d=64, causal=causal, n=1024, heads=2)
    assert float(e.abs().mean()) < 0.002  # check_lse_near_fp64's bounds, with margin at this size
    assert float((e.abs() > 0.02).double().mean()) < 0.002
    assert float(e.max()) < 0.05
    assert float(e.min()) < 0  # dropped weights: some rows fall below float64's


def test_rising_scores_pass_the_flat_rows_bound_but_not_the_sharp_rows_one(m) -> None:
    u8_rel, u8_cos, e4_rel, _ = m.rising_errors(seed=0, d=64, qo=256, kv=3000)
    assert 0.03 < u8_rel < 0.045  # REL_L1 < model < SHARP_REL_L1
    assert u8_cos >= 0.9995
    assert e4_rel < u8_rel  # e4m3's exponent keeps the small weights that u8 rounds to 0
