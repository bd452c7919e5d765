"""The rule that gives `sageattn` calls with few keys to SDPA (sageattention/_short_kv.py), without a GPU."""

from __future__ import annotations

import pytest

from sageattention import _short_kv
from sageattention._validate import Shapes


def shapes(kv_len: int, head_dim: int = 64, qo_len: int = 4096, heads_q: int = 10, heads_kv: int = 10,
           batch: int = 2) -> Shapes:
    return Shapes(batch=batch, heads_q=heads_q, heads_kv=heads_kv, qo_len=qo_len, kv_len=kv_len, head_dim=head_dim)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[int, int]]:
    """A measured table of the test's own, and the knob on `auto`."""
    table = {"sm90": {64: 256, 128: 512}}
    monkeypatch.setattr(_short_kv, "MEASURED_LIMITS", table)
    monkeypatch.setenv(_short_kv.KNOB, "auto")
    return table


def test_auto_routes_up_to_the_measured_limit_of_the_padded_head_dim(limits: dict[str, dict[int, int]]) -> None:
    for head_dim, limit in ((64, 256), (40, 256), (128, 512), (96, 512)):
        assert _short_kv.takes_sdpa("sm90", shapes(limit, head_dim), False, False, {})
        assert not _short_kv.takes_sdpa("sm90", shapes(limit + 1, head_dim), False, False, {})
    # A head dim or a family the table does not list keeps the kernel at every length.
    assert not _short_kv.takes_sdpa("sm90", shapes(1, 256), False, False, {})
    assert not _short_kv.takes_sdpa("mma_fp16", shapes(1, 64), False, False, {})


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

    assert _short_kv.describe() == {_short_kv.KNOB: "auto",
                                    "sdpa_for": {"sm90": {"D64": "<= 256 keys", "D128": "<= 512 keys"}}}
    monkeypatch.setenv(_short_kv.KNOB, "0")
    assert _short_kv.describe()["sdpa_for"] == "never"
    monkeypatch.setenv(_short_kv.KNOB, "300")
    assert build_info()["short_kv_sdpa"]["sdpa_for"] == "<= 300 keys, every family"
    monkeypatch.setenv(_short_kv.KNOB, "bad")
    assert "must be 'auto'" in _short_kv.describe()["error"]  # reported, not raised: the report must still print
