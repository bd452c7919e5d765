"""The rule that gives `sageattn` calls with too little work to SDPA (sageattention/_short_kv.py), without a GPU."""

from __future__ import annotations

import json

import pytest

from sageattention import _short_kv
from sageattention._validate import Shapes


def shapes(kv_len: int, head_dim: int = 64, qo_len: int = 4096, heads_q: int = 10, heads_kv: int = 10,
           batch: int = 2) -> Shapes:
    return Shapes(batch=batch, heads_q=heads_q, heads_kv=heads_kv, qo_len=qo_len, kv_len=kv_len, head_dim=head_dim)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[_short_kv.Region, ...]]:
    """A measured table of the test's own (one unconditional region per head dim), and the knob on `auto`."""
    table = {"sm90": (_short_kv.Region((64,), max_kv=256), _short_kv.Region((128,), max_kv=512))}
    monkeypatch.setattr(_short_kv, "MEASURED_REGIONS", table)
    monkeypatch.setenv(_short_kv.KNOB, "auto")
    return table


def test_auto_routes_up_to_the_measured_limit_of_the_padded_head_dim(limits: dict) -> None:
    for head_dim, limit in ((64, 256), (40, 256), (128, 512), (96, 512)):
        assert _short_kv.takes_sdpa("sm90", shapes(limit, head_dim), False, False, {})
        assert not _short_kv.takes_sdpa("sm90", shapes(limit + 1, head_dim), False, False, {})
    # A head dim or a family the table does not list keeps the kernel at every length.
    assert not _short_kv.takes_sdpa("sm90", shapes(1, 256), False, False, {})
    assert not _short_kv.takes_sdpa("mma_fp16", shapes(1, 64), False, False, {})


def test_plain_causal_is_sdpas_flag_where_no_mask_tensor_is_needed() -> None:
    assert _short_kv.plain_causal(shapes(300, qo_len=300), True) is True
    assert _short_kv.plain_causal(shapes(300, qo_len=1), True) is False  # bottom-right: one query sees every key
    assert _short_kv.plain_causal(shapes(1, qo_len=1), True) is False
    assert _short_kv.plain_causal(shapes(300, qo_len=2), True) is None  # a bottom-right mask tensor
    assert _short_kv.plain_causal(shapes(300, qo_len=400), True) is None
    assert _short_kv.plain_causal(shapes(300, qo_len=400), False) is False


def test_a_causal_decode_step_takes_the_non_causal_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    few = _short_kv.Region((128,), causal=False, max_queries_per_kv_head=1024, evidence="x")
    monkeypatch.setattr(_short_kv, "MEASURED_REGIONS", {"sm90": (few,)})
    monkeypatch.setenv(_short_kv.KNOB, "auto")
    decode = shapes(32768, 128, qo_len=1, heads_q=32, heads_kv=8)
    assert _short_kv.takes_sdpa("sm90", decode, True, False, {})
    assert _short_kv.takes_sdpa("sm90", decode, False, False, {})
    assert not _short_kv.takes_sdpa("sm90", shapes(32768, 128, qo_len=2, heads_q=32, heads_kv=8), True, False, {})


def test_each_bound_of_a_region_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    causal = _short_kv.Region((128,), causal=True, max_kv=2048)
    assert causal.holds(shapes(2048, 128, qo_len=2048), True)
    assert not causal.holds(shapes(2048, 128, qo_len=2048), False)  # causal only
    assert not causal.holds(shapes(2049, 128, qo_len=2049), True)
    assert not causal.holds(shapes(2048, 64, qo_len=2048), True)  # a head dim it was not measured at
    wide = _short_kv.Region((64, 128), causal=False, max_kv=2048, max_pairs=2 * 10 * 4096 * 2048)
    assert wide.holds(shapes(2048, 40, qo_len=4096), False)  # D40 runs padded to 64
    assert not wide.holds(shapes(2048, 40, qo_len=4097), False)
    assert not wide.holds(shapes(2048, 40, qo_len=4096, batch=3), False)
    assert not wide.holds(shapes(2048, 40, qo_len=4096, heads_q=11), False)
    assert not wide.holds(shapes(2048, 40, qo_len=4096), True)
    assert not wide.holds(shapes(2049, 40, qo_len=2048), False)
    few = _short_kv.Region((128,), causal=False, max_queries_per_kv_head=512)
    assert few.holds(shapes(32768, 128, qo_len=512, heads_q=32, heads_kv=32), False)
    assert few.holds(shapes(32768, 128, qo_len=128, heads_q=32, heads_kv=8), False)  # a group of 4 shares K/V
    assert not few.holds(shapes(32768, 128, qo_len=129, heads_q=32, heads_kv=8), False)
    assert not few.holds(shapes(32768, 128, qo_len=513, heads_q=32, heads_kv=32), False)
    # takes_sdpa routes where any region holds
    monkeypatch.setattr(_short_kv, "MEASURED_REGIONS", {"sm90": (causal, few)})
    monkeypatch.setenv(_short_kv.KNOB, "auto")
    assert _short_kv.takes_sdpa("sm90", shapes(2048, 128, qo_len=2048), True, False, {})
    assert _short_kv.takes_sdpa("sm90", shapes(9000, 128, qo_len=256), False, False, {})
    assert not _short_kv.takes_sdpa("sm90", shapes(2048, 128, qo_len=2048), False, False, {})


def test_the_shipped_regions_are_well_formed() -> None:
    for family, regions in _short_kv.MEASURED_REGIONS.items():
        assert family in ("sm90", "mma_fp16", "mma_fp8")
        for region in regions:
            assert region.head_dims and set(region.head_dims) <= {64, 128, 256}, region
            assert region.evidence, f"{region} names no measurement"
            # a region bounded in nothing would route every call of its head dims
            assert (region.max_kv, region.max_pairs, region.max_queries_per_kv_head) != (None, None, None), region


@pytest.mark.parametrize("case", ["lse", "bottom-right causal", "option", "empty q", "no batch"])
def test_calls_whose_sdpa_form_is_not_the_plain_one_keep_the_kernel(case: str, limits: dict) -> None:
    s = shapes(77)
    causal, lse, options = False, False, {}
    if case == "lse":
        lse = True
    elif case == "bottom-right causal":
        s, causal = shapes(77, qo_len=300), True
    elif case == "option":
        options = {"pv_accum_dtype": "fp32"}
    elif case == "empty q":
        s = shapes(77, qo_len=0)
    else:
        s = shapes(77, batch=0)
    assert _short_kv.takes_sdpa("sm90", shapes(77), False, False, {})  # the same call without the difference does
    assert not _short_kv.takes_sdpa("sm90", s, causal, lse, options)


def test_causal_with_equal_lengths_gqa_and_options_left_open_still_route(limits: dict) -> None:
    assert _short_kv.takes_sdpa("sm90", shapes(77, qo_len=77), True, False, {})
    assert _short_kv.takes_sdpa("sm90", shapes(77, qo_len=1), True, False, {})  # one query: no mask at all
    assert _short_kv.takes_sdpa("sm90", shapes(512, 128, qo_len=512, heads_q=32, heads_kv=8), True, False, {})
    assert _short_kv.takes_sdpa("sm90", shapes(77), False, False, {"pv_accum_dtype": None, "smooth_k": None})


@pytest.mark.parametrize("value, limit", [("0", 0), ("100", 100), (" auto ", None), ("", None), ("AUTO", None)])
def test_knob_values(value: str, limit: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_short_kv.KNOB, value)
    assert _short_kv.knob_limit() == limit


def test_knob_n_routes_any_family_and_0_none(limits: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_short_kv.KNOB, "100")
    assert _short_kv.takes_sdpa("mma_fp8", shapes(100, 256), False, False, {})
    assert not _short_kv.takes_sdpa("sm90", shapes(101, 64), False, False, {})
    monkeypatch.setenv(_short_kv.KNOB, "0")
    assert not _short_kv.takes_sdpa("sm90", shapes(1, 64), False, False, {})


@pytest.mark.parametrize("value", ["-1", "yes", "1.5", "on"])
def test_bad_knob_values_name_the_variable_and_the_choices(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_short_kv.KNOB, value)
    with pytest.raises(ValueError, match=rf"{_short_kv.KNOB} must be 'auto'.*got '{value}'"):
        _short_kv.knob_limit()


def test_describe_reports_the_setting_for_bug_reports(limits: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from sageattention import build_info

    want = {"sm90": ["D64, <= 256 keys", "D128, <= 512 keys"]}
    assert _short_kv.describe() == {_short_kv.KNOB: "auto", "sdpa_for": want}
    region = _short_kv.Region((64, 128), causal=False, max_kv=2048, max_pairs=400_000_000, max_queries_per_kv_head=512)
    assert region.describe() == ("D64/128, non-causal, <= 2048 keys, <= 400 000 000 query-key pairs, "
                                 "<= 512 queries per K/V head")
    monkeypatch.setenv(_short_kv.KNOB, "0")
    assert _short_kv.describe()["sdpa_for"] == "never"
    monkeypatch.setenv(_short_kv.KNOB, "300")
    assert build_info()["short_kv_sdpa"]["sdpa_for"] == "<= 300 keys, every family"
    monkeypatch.setenv(_short_kv.KNOB, "bad")
    assert "must be 'auto'" in _short_kv.describe()["error"]  # reported, not raised: the report must still print


def test_each_shipped_region_holds_measured_calls_sdpa_served_faster(bench_module) -> None:
    """The regions against the measurements they were drawn from (bench/results, read by bench/short_kv_evidence.py):
    every region holds measured calls, its `evidence` is their range, and none of them was faster on the kernel by
    more than the timer's noise."""
    evidence = bench_module("short_kv_evidence")
    for family, regions in _short_kv.MEASURED_REGIONS.items():
        calls = evidence.measured(family)
        assert len(calls) > 300 and len({c.source for c in calls}) == len(evidence.FILES[family])
        for region in regions:
            inside = evidence.held(region, calls)
            assert inside, f"{region.describe()}: no measured call inside"
            assert evidence.ratio_range(inside) == region.evidence, region.describe()
            assert min(c.ratio for c in inside) >= 0.97, [c.label() for c in inside if c.ratio < 0.97]
        # and the kernel keeps the calls it was measured faster at: shapes from the models table and the grid
        kept = [c for c in calls if c.ratio < 0.9]
        assert kept and not any(evidence.held(r, kept) for r in regions)  # as the route reads them (plain_causal)


def test_evidence_reads_sdpa_from_the_fallback_column_or_the_forced_route(bench_module, tmp_path, monkeypatch) -> None:
    evidence = bench_module("short_kv_evidence")
    row = dict(batch=1, heads=4, kv_heads=4, seqlen=300, kv_len=77, headdim=64, causal=False, layout="HND",
               dtype="float16")
    with_fallback = [dict(row, backend="sageattn_kernel", us=30.0), dict(row, backend="sageattn_route", us=99.0),
                     dict(row, backend="sdpa_fallback", us=20.0)]
    route_only = [dict(row, backend="sageattn_kernel", us=30.0), dict(row, backend="sageattn_route", us=15.0)]
    (tmp_path / "a.json").write_text(json.dumps(with_fallback))
    (tmp_path / "b.json").write_text(json.dumps(route_only))
    monkeypatch.setattr(evidence, "RESULTS", tmp_path)
    monkeypatch.setattr(evidence, "FILES", {"sm90": ("a.json", "b.json")})
    a, b = evidence.measured("sm90")
    assert (a.ratio, b.ratio) == (1.5, 2.0)
    assert a.shapes == Shapes(1, 4, 4, 300, 77, 64) and a.label() == "D64 B1 H4/4 300x77 HND float16"
    assert evidence.ratio_range([a, b]) == "1.50-2.00x"
