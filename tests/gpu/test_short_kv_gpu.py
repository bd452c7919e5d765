"""`sageattn` on SDPA for calls with too little work (sageattention/_short_kv.py): the route's outputs, the calls it
leaves to the kernel, the measured regions' edges, and the call cache's part. The suite runs with the route off
(tests/conftest.py); each test here sets the knob itself."""

from __future__ import annotations

import math

import pytest
import torch

import sageattention
from sageattention import _call_cache, _short_kv, core
from sageattention._fallback import sdpa_attention
from sageattention._validate import Shapes

pytestmark = pytest.mark.gpu


def make(layout: str, b: int, h: int, n: int, d: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    shape = (b, h, n, d) if layout == "HND" else (b, n, h, d)
    return torch.randn(shape, device="cuda", dtype=dtype)


def with_knob(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(_short_kv.KNOB, value)
    _call_cache.clear()


def family() -> str:
    found, reason = core._pick_family(torch.empty(1, device="cuda"))
    if found is None:
        pytest.skip(f"no kernel family on this GPU: {reason}")
    return found


@pytest.fixture(autouse=True)
def clean_cache() -> None:
    _call_cache.clear()
    yield
    _call_cache.clear()


@pytest.mark.parametrize("layout", ["HND", "NHD"])
@pytest.mark.parametrize("d, dtype", [(40, torch.float16), (64, torch.bfloat16), (128, torch.float16)])
def test_routed_calls_are_sdpa_bit_for_bit_and_repeat_through_the_cache(layout, d, dtype, monkeypatch) -> None:
    family()
    q = make(layout, 2, 4, 300, d, dtype)
    k, v = (make(layout, 2, 4, 77, d, dtype) for _ in range(2))
    want = sdpa_attention(q, k, v, tensor_layout=layout, is_causal=False, sm_scale=1 / math.sqrt(d), return_lse=False)
    with_knob(monkeypatch, "0")
    kernel = sageattention.sageattn(q, k, v, tensor_layout=layout)
    assert not torch.equal(kernel, want)  # the kernel's 8-bit result is not SDPA's: the comparisons below can fail
    with_knob(monkeypatch, "77")
    first = sageattention.sageattn(q, k, v, tensor_layout=layout)
    assert torch.equal(first, want)
    assert len(_call_cache._runs) == 1  # the decision is remembered like a kernel call
    assert torch.equal(sageattention.sageattn(q, k, v, tensor_layout=layout), want)
    with_knob(monkeypatch, "76")  # a limit one key short of the call: the kernel again
    assert torch.equal(sageattention.sageattn(q, k, v, tensor_layout=layout), kernel)


@pytest.mark.parametrize("hkv", [4, 1])
def test_scale_causal_of_equal_lengths_and_gqa_carry_over(hkv, monkeypatch) -> None:
    family()
    q = make("NHD", 1, 4, 100, 64, torch.bfloat16)
    k, v = (make("NHD", 1, hkv, 100, 64, torch.bfloat16) for _ in range(2))
    with_knob(monkeypatch, "1000")
    got = sageattention.sageattn(q, k, v, tensor_layout="NHD", is_causal=True, sm_scale=0.3)
    want = sdpa_attention(q, k, v, tensor_layout="NHD", is_causal=True, sm_scale=0.3, return_lse=False)
    assert torch.equal(got, want)
    # and that is attention: each query head against its group's K/V head, causal, at scale 0.3
    qf, kf, vf = (x.transpose(1, 2).float() for x in (q, k, v))
    kf, vf = kf.repeat_interleave(4 // hkv, dim=1), vf.repeat_interleave(4 // hkv, dim=1)
    s = (qf @ kf.transpose(-1, -2) * 0.3).masked_fill(torch.ones(100, 100, device="cuda").triu(1).bool(), -torch.inf)
    ref = (s.softmax(-1) @ vf).transpose(1, 2)
    assert (got.float() - ref).abs().max().item() < 2e-2


@pytest.mark.parametrize("case", ["lse", "bottom-right causal", "option"])
def test_calls_the_route_leaves_to_the_kernel(case, monkeypatch) -> None:
    family()
    hkv, nq, causal, kwargs = 4, 300, False, {}
    if case == "lse":
        kwargs = {"return_lse": True}
    elif case == "bottom-right causal":
        causal = True
    else:
        kwargs = {"qk_quant_gran": "per_warp"}
    q = make("HND", 2, 4, nq, 64)
    k, v = (make("HND", 2, hkv, 77, 64) for _ in range(2))
    with_knob(monkeypatch, "0")
    want = sageattention.sageattn(q, k, v, is_causal=causal, **kwargs)
    with_knob(monkeypatch, "1000")
    got = sageattention.sageattn(q, k, v, is_causal=causal, **kwargs)
    if case == "lse":
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    else:
        assert torch.equal(got, want)


# (head dim, Q heads, K/V heads, queries, keys, causal) on both sides of each sm90 region's bounds
# (sageattention/_short_kv.py): up to 1 024 keys at every head dim; causal up to 2 048 keys (3 072 at D64);
# non-causal up to 2 048 keys and 400 M query-key pairs; up to 1 024 queries per K/V head (GQA included).
REGION_EDGES = [(256, 2, 2, 2048, 1024, False), (256, 2, 2, 2048, 1025, False),
                (128, 2, 2, 2048, 2048, True), (128, 2, 2, 2049, 2049, True), (256, 2, 2, 2048, 2048, True),
                (64, 2, 2, 3072, 3072, True), (64, 2, 2, 3073, 3073, True),
                (128, 100, 100, 2000, 2000, False), (128, 100, 100, 2001, 2000, False), (64, 2, 2, 4096, 2049, False),
                (128, 2, 2, 1024, 4096, False), (128, 2, 2, 1025, 4096, False), (128, 8, 2, 256, 4096, False),
                (128, 8, 2, 257, 4096, False), (64, 2, 2, 1024, 4096, False), (256, 2, 2, 1025, 4096, False)]


def test_auto_routes_exactly_the_calls_its_regions_hold(monkeypatch) -> None:
    fam = family()
    outcomes = set()
    for d, h, hkv, nq, nkv, causal in REGION_EDGES:
        q = make("HND", 1, h, nq, d)
        k, v = (make("HND", 1, hkv, nkv, d) for _ in range(2))
        with_knob(monkeypatch, "auto")
        got = sageattention.sageattn(q, k, v, is_causal=causal)
        sdpa = sdpa_attention(q, k, v, tensor_layout="HND", is_causal=causal, sm_scale=1 / math.sqrt(d),
                              return_lse=False)
        routed = _short_kv.takes_sdpa(fam, Shapes(1, h, hkv, nq, nkv, d), causal, False, {})
        assert torch.equal(got, sdpa) == routed, (d, h, hkv, nq, nkv, causal, routed)
        outcomes.add(routed)
    if fam == "sm90":
        assert outcomes == {True, False}  # the edges fall on both sides: the comparison above can fail


@pytest.mark.parametrize("layout", ["HND", "NHD"])
def test_a_causal_decode_step_is_routed_as_the_kernel_reads_it(layout, monkeypatch) -> None:
    """One query against many keys with is_causal=True: bottom-right aligned it sees every key, as in the kernel, so
    the route runs SDPA's unmasked call (the few-queries region), not a mask tensor or SDPA's top-left causal."""
    fam = family()
    q = make(layout, 2, 8, 1, 128)
    k, v = (make(layout, 2, 2, 4096, 128) for _ in range(2))
    with_knob(monkeypatch, "0")
    kernel = sageattention.sageattn(q, k, v, tensor_layout=layout, is_causal=True)
    with_knob(monkeypatch, "auto")
    got = sageattention.sageattn(q, k, v, tensor_layout=layout, is_causal=True)
    unmasked = sdpa_attention(q, k, v, tensor_layout=layout, is_causal=False, sm_scale=1 / math.sqrt(128),
                              return_lse=False)
    if _short_kv.takes_sdpa(fam, Shapes(2, 8, 2, 1, 4096, 128), True, False, {}):
        assert torch.equal(got, unmasked)
    else:
        assert torch.equal(got, kernel)
    assert (kernel.float() - unmasked.float()).abs().max().item() < 0.05  # the kernel means the same attention


def test_a_bad_knob_value_is_an_error_naming_it(monkeypatch) -> None:
    family()
    q, k, v = (make("HND", 1, 2, 64, 64) for _ in range(3))
    with_knob(monkeypatch, "fast")
    with pytest.raises(ValueError, match=_short_kv.KNOB):
        sageattention.sageattn(q, k, v)
