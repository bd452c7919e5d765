"""bench/short_kv_route.py's arithmetic and the environment each `sageattn` variant runs under (timing needs a GPU)."""

from __future__ import annotations

import os

import pytest

from sageattention import _call_cache, _short_kv


@pytest.fixture(scope="module")
def route_bench(bench_module):
    return bench_module("short_kv_route")


def test_tops_counts_4_b_h_nq_nkv_d_halved_for_causal(route_bench) -> None:
    flops = 4 * 2 * 10 * 4096 * 77 * 64
    assert route_bench.tops(2, 10, 4096, 77, 64, False, 10.0) == pytest.approx(flops / 10e-6 / 1e12, abs=0.01)
    assert route_bench.tops(1, 1, 1024, 1024, 128, True, 1.0) == pytest.approx(
        route_bench.tops(1, 1, 1024, 1024, 128, False, 1.0) / 2, abs=0.01)
    assert route_bench.tops(1, 32, 1, 32768, 128, True, 64.0) == route_bench.tops(1, 32, 1, 32768, 128, False, 64.0)


@pytest.mark.parametrize("nq, nkv", [(1, 9), (4, 9), (9, 9), (12, 9), (9, 4)])
def test_kept_pairs_count_the_bottom_right_mask(route_bench, nq: int, nkv: int) -> None:
    seen = sum(max(0, min(nkv, nkv - nq + i + 1)) for i in range(nq))
    want = nq * nkv / 2 if nq == nkv else seen  # equal lengths: the package's halved convention
    assert route_bench.kept_pairs(nq, nkv, True) == want
    assert route_bench.kept_pairs(nq, nkv, False) == nq * nkv


def test_knob_sets_the_variable_clears_the_cache_and_restores(route_bench, monkeypatch) -> None:
    monkeypatch.setenv(_short_kv.KNOB, "7")
    _call_cache.remember(("k",), lambda q, k, v: None)
    with route_bench.knob("0"):
        assert os.environ[_short_kv.KNOB] == "0" and _call_cache.lookup(("k",)) is None
        _call_cache.remember(("k",), lambda q, k, v: None)
    assert os.environ[_short_kv.KNOB] == "7" and _call_cache.lookup(("k",)) is None
    monkeypatch.delenv(_short_kv.KNOB)
    with route_bench.knob("auto"):
        pass
    assert _short_kv.KNOB not in os.environ


def test_every_sageattn_variant_is_a_valid_knob_value(route_bench, monkeypatch) -> None:
    for value in route_bench.SAGE.values():
        monkeypatch.setenv(_short_kv.KNOB, value)
        _short_kv.knob_limit()  # raises on a value the package would refuse
