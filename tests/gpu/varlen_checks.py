"""Per-sequence smoothing checks shared by the one-op varlen tests (test_varlen_sm90.py, test_varlen_mma.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sageattention import reference
from tests.conftest import cosine, rel_l1

# Sequences that span several quantization CTAs (sm90: ~5 chunks of 128 keys each at this total) or statistics
# slices (mma: 256 keys), that share them, and empty ones.
LENGTHS = [1, 300, 0, 5000, 129, 7, 2500, 640]


def offsets(lengths: list[int]) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")


def pack_with_per_sequence_offsets(d: int, hq: int, hk: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v packs of LENGTHS whose K has a large channel offset of its own in every sequence (+-20 x randn(d)):
    a mean over the whole pack leaves each sequence far from centred."""
    n = sum(LENGTHS)
    q, v = torch.randn(n, hq, d, device="cuda"), torch.randn(n, hk, d, device="cuda")
    k = torch.randn(n, hk, d, device="cuda")
    cu = offsets(LENGTHS).tolist()
    for i in range(len(LENGTHS)):
        k[cu[i]:cu[i + 1]] += (20 if i % 2 else -20) * torch.randn(d, device="cuda")
    return q.half(), k.half(), v.half()


def check_per_sequence_smoothing(run: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]], d: int,
                                 rel_l1_max: float, cosine_min: float) -> None:
    """run(q, k, v, cu) -> (out [total_q, Hq, d], lse [Hq, total_q] with the smooth-K correction, k_mean [S, Hkv, d])
    of a one-op varlen path: k_mean must hold each sequence's own mean, and every sequence must meet the float64
    bounds that a batch meets (which a mean over the pack misses by far with these offsets)."""
    hq, hk = 4, 2
    q, k, v = pack_with_per_sequence_offsets(d, hq, hk)
    cu = offsets(LENGTHS)
    out, lse, k_mean = run(q, k, v, cu)
    c = cu.tolist()
    assert k_mean.shape == (len(LENGTHS), hk, d)
    for i in range(len(LENGTHS)):
        ks = k[c[i]:c[i + 1]].float()
        want = ks.mean(0) if len(ks) else torch.zeros(hk, d, device="cuda")
        torch.testing.assert_close(k_mean[i], want, rtol=1e-5, atol=1e-4, msg=f"K mean of sequence {i}")
    for i in range(len(LENGTHS)):
        if LENGTHS[i] == 0:
            continue
        s = slice(c[i], c[i + 1])
        ref, ref_lse = reference.attention_fp64(q[s].transpose(0, 1)[None], k[s].transpose(0, 1)[None],
                                                v[s].transpose(0, 1)[None])
        got, want = out[s], ref[0].transpose(0, 1)
        assert not torch.isnan(got).any()
        if LENGTHS[i] >= 128:  # enough values for a stable error figure
            assert rel_l1(got, want) <= rel_l1_max and cosine(got, want) >= cosine_min, f"sequence {i}"
        assert (lse[:, s] - ref_lse[0]).abs().max() < 0.05, f"LSE of sequence {i}"
    again = run(q, k, v, cu)
    assert all(torch.equal(a, b) for a, b in zip((out, lse, k_mean), again)), "a second call must give the same bits"


def assert_pack_matches_fp64(out: torch.Tensor, lse: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                             cu_q: list[int], cu_k: list[int], *, causal: bool, rel_l1_max: float,
                             lse_max: float = 0.05, sm_scale: float | None = None,
                             heads: tuple[int, ...] | None = None) -> None:
    """Each sequence of a pack (out [total_q, Hq, d], lse [Hq, total_q]) against float64 on its own tokens: every
    head at once, or each of `heads` alone (float64 of a whole long pack would not fit)."""
    group = q.shape[1] // k.shape[1]
    head_sets = [(slice(None), slice(None))] if heads is None else [
        (slice(h, h + 1), slice(h // group, h // group + 1)) for h in heads]

    def hnd(t: torch.Tensor, a: int, b: int, hs: slice) -> torch.Tensor:
        return t[a:b, hs].transpose(0, 1).unsqueeze(0)

    for (qa, qb), (ka, kb) in zip(zip(cu_q, cu_q[1:]), zip(cu_k, cu_k[1:])):
        for hq, hk in head_sets:
            ref, ref_lse = reference.attention_fp64(hnd(q, qa, qb, hq), hnd(k, ka, kb, hk), hnd(v, ka, kb, hk), causal,
                                                    sm_scale)
            assert rel_l1(hnd(out, qa, qb, hq), ref) < rel_l1_max, (qa, hq)
            assert float((lse[hq, qa:qb].double() - ref_lse[0]).abs().max()) < lse_max, (qa, hq)
