"""Inputs and checks the sm90 kernels' test modules with other PV types share (test_sm90_pv16.py for 16-bit PV,
test_sm90_pv_int8.py for INT8 PV): each passes its entry point as `run(q, k, v, layout=..., causal=..., lse=...)`."""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from sageattention import reference as R
from sageattention._layout import to_hnd
from tests.conftest import cosine, rel_l1
from tests.gpu.kernel_names import profiled_names

DEV = "cuda"
Run = Callable[..., object]


def make(layout: str, b: int, h: int, n: int, d: int, dtype: torch.dtype, offset: float = 0.0, strided: bool = False,
         scale: float = 1.0) -> torch.Tensor:
    pad = 8 if strided else 0
    shape = (b, h, n, d + pad) if layout == "HND" else (b, n, h, d + pad)
    x = (scale * torch.randn(*shape, device=DEV, dtype=torch.float32)).to(dtype)[..., :d]
    if offset:
        x = x + offset * torch.randn(d, device=DEV, dtype=dtype)
    return x


def attention_kernel_names(fn: Callable[[], object]) -> list[str]:
    return [name for name in profiled_names(fn) if "attn_fwd_kernel" in name]


def check_gqa_matches_repeated_kv_heads(run: Run, hq: int, hkv: int) -> None:
    q = make("HND", 2, hq, 513, 128, torch.bfloat16)
    k = make("HND", 2, hkv, 1000, 128, torch.bfloat16, offset=1.0)
    v = make("HND", 2, hkv, 1000, 128, torch.bfloat16)
    got = run(q, k, v, causal=True, lse=True)
    rep = hq // hkv
    want = run(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), causal=True, lse=True)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def check_causal_rows_without_keys_are_zero(run: Run, rel_l1_bound: float) -> None:
    """qo_len > kv_len, bottom-right aligned: the first rows see no key (out 0, lse -inf), the rest are accurate."""
    q = make("HND", 1, 2, 300, 128, torch.float16)
    k = make("HND", 1, 2, 100, 128, torch.float16)
    v = make("HND", 1, 2, 100, 128, torch.float16)
    out, lse = run(q, k, v, causal=True, lse=True)
    ref, _ = R.attention_fp64(q, k, v, True)
    assert torch.isfinite(out).all()
    assert bool((out[:, :, :200] == 0).all()) and bool(torch.isneginf(lse[:, :, :200]).all())
    assert rel_l1(out[:, :, 200:], ref[:, :, 200:]) <= rel_l1_bound


def check_multicast_pairs_match_one_cta(call: Callable[[], tuple[torch.Tensor, torch.Tensor]], ctas: str | None,
                                        monkeypatch: pytest.MonkeyPatch) -> tuple[torch.Tensor, torch.Tensor]:
    """`call` (a D128 non-causal call with an even number of q tiles per head, returning out and lse) as 2-CTA clusters
    against the one-CTA kernel: another kernel ran, with the same bits; ctas: a persistent grid of that many CTAs
    (SAGEATTENTION_SM90_CTAS) for the clusters. Returns the clusters' out and lse."""
    monkeypatch.setenv("SAGEATTENTION_SM90_MULTICAST", "0")
    want, want_lse = call()
    single = attention_kernel_names(call)
    monkeypatch.delenv("SAGEATTENTION_SM90_MULTICAST")
    if ctas:
        monkeypatch.setenv("SAGEATTENTION_SM90_CTAS", ctas)
    got, got_lse = call()
    paired = attention_kernel_names(call)
    assert len(single) == len(paired) == 1 and single != paired, (single, paired)  # the cluster kernel ran
    assert torch.equal(got, want) and torch.equal(got_lse, want_lse)
    return got, got_lse


def check_multicast_pairs_match_the_one_cta_kernel(run: Run, qo: int, kv: int, ctas: str | None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """check_multicast_pairs_match_one_cta on `run` with 8 q heads over 2 K/V heads, fp16, strided NHD q."""
    q = make("NHD", 2, 8, qo, 128, torch.float16, strided=True)
    k = make("NHD", 2, 2, kv, 128, torch.float16, offset=2.0)
    v = make("NHD", 2, 2, kv, 128, torch.float16)
    check_multicast_pairs_match_one_cta(lambda: run(q, k, v, layout="NHD", lse=True), ctas, monkeypatch)


def check_accuracy_vs_fp64(run: Run, layout: str, d: int, causal: bool, offset: float, rel_l1_bound: float,
                           cosine_bound: float, lse_bound: float | None = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """B2 H4 N2048 against float64 (K offset per channel by `offset`): out within the bounds, every row's LSE within
    lse_bound (None: the caller checks it). Returns the LSE and float64's."""
    q = make(layout, 2, 4, 2048, d, torch.float16)
    k = make(layout, 2, 4, 2048, d, torch.float16, offset=offset)
    v = make(layout, 2, 4, 2048, d, torch.float16)
    out, lse = run(q, k, v, layout, causal, lse=True)
    ref, ref_lse = R.attention_fp64(to_hnd(q, layout), to_hnd(k, layout), to_hnd(v, layout), causal)
    o = to_hnd(out, layout)
    assert rel_l1(o, ref) <= rel_l1_bound
    assert cosine(o, ref) >= cosine_bound
    if lse_bound is not None:
        assert float((lse.double() - ref_lse).abs().max()) < lse_bound
    return lse, ref_lse


def check_accuracy_at_the_issue_shape_n4096(run: Run, rel_l1_bound: float, cosine_bound: float, d: int = 128) -> None:
    """rel. L1 / cosine vs float64 at N = 4096 (B1 H8: the float64 reference's memory), randn and offset K."""
    for offset in (0.0, 5.0):
        q, v = (make("HND", 1, 8, 4096, d, torch.float16) for _ in range(2))
        k = make("HND", 1, 8, 4096, d, torch.float16, offset=offset)
        ref, _ = R.attention_fp64(q, k, v, False)
        out = run(q, k, v)
        assert rel_l1(out, ref) <= rel_l1_bound and cosine(out, ref) >= cosine_bound, offset


def check_bf16_magnitudes_up_to_100_stay_finite(run: Run, d: int, max_abs: float) -> None:
    """bf16 inputs in [-100, 100]: finite out and LSE, causal or not; out a convex combination of V rows, so at most
    max_abs (100 plus the PV format's and bf16's rounding)."""
    torch.manual_seed(5)
    q, k, v = ((torch.rand(2, 4, 1000, d, device=DEV) * 200 - 100).to(torch.bfloat16) for _ in range(3))
    for causal in (False, True):
        out, lse = run(q, k, v, causal=causal, lse=True)
        assert torch.isfinite(out).all() and torch.isfinite(lse).all()
        assert out.abs().max() <= max_abs
