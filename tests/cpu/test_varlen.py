"""sageattn_varlen: runs of adjacent equal-length sequences as batched calls, results written back in pack order."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import sageattention
from sageattention import _varlen, reference


def pack(lens_q: list[int], lens_k: list[int], h: int = 2, hkv: int = 2, d: int = 32):
    cq = torch.tensor([0, *torch.tensor(lens_q).cumsum(0).tolist()], dtype=torch.int32)
    ck = torch.tensor([0, *torch.tensor(lens_k).cumsum(0).tolist()], dtype=torch.int32)
    q = torch.randn(int(cq[-1]), h, d, dtype=torch.float64)
    k = torch.randn(int(ck[-1]), hkv, d, dtype=torch.float64)
    v = torch.randn(int(ck[-1]), hkv, d, dtype=torch.float64)
    return q, k, v, cq, ck


def test_runs_of_adjacent_equal_lengths() -> None:
    # q lengths 3 3 5 3 0 3 3, kv lengths 4 4 5 4 2 4 4: the empty query drops out and does not join the
    # (3, 4) sequences around it into one run; equal lengths apart are separate runs
    cu_q = [0, 3, 6, 11, 14, 14, 17, 20]
    cu_k = [0, 4, 8, 13, 17, 19, 23, 27]
    runs = _varlen.equal_length_runs(cu_q, cu_k)
    assert [(r.first, r.count, r.q_len, r.kv_len) for r in runs] == [(0, 2, 3, 4), (2, 1, 5, 5), (3, 1, 3, 4),
                                                                      (5, 2, 3, 4)]
    assert _varlen.equal_length_runs([0], [0]) == []


@pytest.mark.parametrize("lens_q,lens_k,runs", [
    ([7, 7, 7, 7], [7, 7, 7, 7], 1),              # one run: one call
    ([5, 5, 9, 9, 5], [5, 5, 9, 9, 5], 3),        # equal lengths apart stay apart
    ([4, 4, 6, 1, 0, 1], [11, 11, 6, 0, 3, 0], 4),  # qo_len != kv_len, sequences without keys or queries
])
def test_packed_attention_calls_once_per_run_and_matches_per_sequence(lens_q: list[int], lens_k: list[int], runs: int) -> None:
    q, k, v, cq, ck = pack(lens_q, lens_k, h=4, hkv=2)
    calls: list[tuple[int, ...]] = []

    def attend(qs: torch.Tensor, ks: torch.Tensor, vs: torch.Tensor):
        calls.append(tuple(qs.shape))
        # exact float64 attention per batch row: lse [n, H, L] in natural log
        out, lse = reference.attention_fp64(qs.transpose(1, 2), ks.transpose(1, 2), vs.transpose(1, 2), is_causal=True)
        return out.transpose(1, 2), lse

    out, lse = _varlen.packed_attention(q, k, v, cq.tolist(), ck.tolist(), attend, return_lse=True)
    assert len(calls) == runs
    assert out.shape == q.shape and lse.shape == (q.shape[1], q.shape[0]) and lse.dtype == torch.float32
    cq_l, ck_l = cq.tolist(), ck.tolist()
    for i in range(len(lens_q)):
        qs, ks, vs = q[cq_l[i]:cq_l[i + 1]], k[ck_l[i]:ck_l[i + 1]], v[ck_l[i]:ck_l[i + 1]]
        ref, ref_lse = reference.attention_fp64(qs.transpose(0, 1)[None], ks.transpose(0, 1)[None],
                                                vs.transpose(0, 1)[None], is_causal=True)
        torch.testing.assert_close(out[cq_l[i]:cq_l[i + 1]], ref[0].transpose(0, 1), rtol=0, atol=1e-12)
        torch.testing.assert_close(lse[:, cq_l[i]:cq_l[i + 1]], ref_lse[0].float(), rtol=0, atol=1e-6)


def test_sageattn_varlen_groups_and_returns_packed_lse() -> None:
    lens = [6, 11, 6, 6, 11]
    q, k, v, cq, _ = pack(lens, lens)
    q, k, v = q.float(), k.float(), v.float()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CPU tensors run on the SDPA fallback, with a warning
        out, lse = sageattention.sageattn_varlen(q, k, v, cq, cq, 11, 11, is_causal=True, return_lse=True)
        plain = sageattention.sageattn_varlen(q, k, v, cq, cq, 11, 11, is_causal=True)
    assert isinstance(plain, torch.Tensor)
    torch.testing.assert_close(plain, out, rtol=0, atol=1e-5)  # the CPU fallback's lse path is its own matmul
    c = cq.tolist()
    for a, b in zip(c, c[1:]):
        ref, ref_lse = reference.attention_fp64(q[a:b].transpose(0, 1)[None], k[a:b].transpose(0, 1)[None],
                                                v[a:b].transpose(0, 1)[None], is_causal=True)
        torch.testing.assert_close(out[a:b].transpose(0, 1).double(), ref[0], rtol=0, atol=1e-5)
        torch.testing.assert_close(lse[:, a:b].double(), ref_lse[0], rtol=0, atol=1e-5)


def test_sequence_without_keys_gives_zero_rows_and_minus_inf_lse() -> None:
    q, k, v, cq, ck = pack([3, 2], [4, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, lse = sageattention.sageattn_varlen(q.float(), k.float(), v.float(), cq, ck, 3, 4, return_lse=True)
    assert (out[3:] == 0).all() and (lse[:, 3:] == -math.inf).all()
    assert torch.isfinite(out[:3]).all() and torch.isfinite(lse[:, :3]).all()


def test_varlen_argument_errors_name_the_argument() -> None:
    q, k, v, cq, _ = pack([3, 3], [3, 3])
    with pytest.raises(TypeError, match="tensor_layout"):
        sageattention.sageattn_varlen(q, k, v, cq, cq, 3, 3, tensor_layout="HND")
    with pytest.raises(TypeError, match="return_lse"):
        sageattention.sageattn_varlen(q, k, v, cq, cq, 3, 3, return_lse="yes")
