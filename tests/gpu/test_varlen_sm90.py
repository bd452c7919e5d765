"""sageattn_sm90_varlen: a pack of sequences of any lengths as one op, cu_seqlens never read on the host."""

from __future__ import annotations

import logging

import pytest
import torch

import sageattention
from sageattention import reference
from sageattention._varlen import packed_lse
from tests.conftest import cosine, rel_l1
from tests.gpu import varlen_checks
from tests.gpu.varlen_checks import offsets

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("need_sm90")]

# The FP8-PV bounds of tests/gpu/test_sm90.py (the same kernels measure 0.036-0.039 rel L1 on randn)
FP8_REL_L1 = 0.045
FP8_COSINE = 0.999


def rand(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=dtype)


def varlen_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cq: torch.Tensor, ck: torch.Tensor, causal: bool,
              per_thread: bool = True, smooth_k: bool = True, smooth_v: bool = False,
              return_lse: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = q.shape[-1] ** -0.5
    return torch.ops.sageattention.sageattn_sm90_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, smooth_v,
                                                        scale, return_lse)


@pytest.mark.parametrize("d", [64, 128, 96, 256])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("nq,nk", [(1, 1), (17, 300), (1000, 1000), (4097, 4097), (300, 129), (2000, 4000)])
def test_one_sequence_is_bitwise_the_batch_op(d: int, causal: bool, nq: int, nk: int) -> None:
    # A pack of one sequence has the batch's statistics, so the packed op must give the batch op's (single level)
    # out, LSE and K mean bit for bit: the padded tiles, the tile table and the per-item lengths change no value.
    q, k, v = rand(nq, 8, d), rand(nk, 2, d), rand(nk, 2, d)
    k += torch.linspace(-3, 3, d, device="cuda", dtype=q.dtype)  # a channel offset for smooth K to remove
    scale = d ** -0.5
    for per_thread in (True, False):
        out, lse, km = varlen_op(q, k, v, offsets([nq]), offsets([nk]), causal, per_thread=per_thread)
        b_out, b_lse, b_km = torch.ops.sageattention.sageattn_sm90(q[None], k[None], v[None], 1, causal, per_thread,
                                                                    True, False, scale, True, False)
        assert torch.equal(out, b_out[0]), f"out differs (per_thread={per_thread})"
        assert torch.equal(lse, b_lse[0]), f"lse differs (per_thread={per_thread})"
        assert torch.equal(km, b_km), f"k_mean differs (per_thread={per_thread})"


LENGTHS = [  # (q lengths, k lengths): tiles of every alignment, empty sequences, qo != kv
    ([1, 17, 127, 128, 129, 1000, 300, 0, 255, 2048], [1, 17, 127, 128, 129, 1000, 700, 5, 255, 2048]),
    ([513, 0, 77, 4097], [200, 64, 500, 4097]),
]


@pytest.mark.parametrize("d", [64, 128, 80, 256])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("case", range(len(LENGTHS)))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pack_matches_float64_per_sequence(d: int, causal: bool, case: int, dtype: torch.dtype) -> None:
    lens_q, lens_k = LENGTHS[case]
    hq, hk = 8, 2
    q, k, v = (rand(sum(lens_q), hq, d, dtype=dtype), rand(sum(lens_k), hk, d, dtype=dtype),
               rand(sum(lens_k), hk, d, dtype=dtype))
    k += 4 * torch.rand(d, device="cuda", dtype=dtype)  # large per-channel offsets: what smooth K is for
    out, lse = sageattention.sageattn_varlen(q, k, v, offsets(lens_q), offsets(lens_k), max(lens_q), max(lens_k),
                                             is_causal=causal, return_lse=True)
    assert out.shape == q.shape and lse.shape == (hq, sum(lens_q))
    assert not torch.isnan(out).any() and not torch.isnan(lse).any()
    refs, ref_lse = [], []
    cq, ck = offsets(lens_q).tolist(), offsets(lens_k).tolist()
    for i in range(len(lens_q)):
        qs, ks = q[cq[i]:cq[i + 1]], k[ck[i]:ck[i + 1]]
        vs = v[ck[i]:ck[i + 1]]
        if lens_q[i] == 0:
            continue
        if lens_k[i] == 0:
            refs.append(torch.zeros_like(qs, dtype=torch.float64))
            ref_lse.append(torch.full((hq, lens_q[i]), float("-inf"), device="cuda", dtype=torch.float64))
            continue
        o, l = reference.attention_fp64(qs.transpose(0, 1)[None], ks.transpose(0, 1)[None], vs.transpose(0, 1)[None],
                                        is_causal=causal)
        refs.append(o[0].transpose(0, 1))
        ref_lse.append(l[0])
        got = out[cq[i]:cq[i + 1]]
        if lens_q[i] * lens_k[i] >= 128 * 128:  # enough values for a stable error figure per sequence
            assert rel_l1(got, refs[-1]) < 0.05, f"sequence {i} ({lens_q[i]} x {lens_k[i]})"
    ref = torch.cat(refs)
    assert rel_l1(out, ref) <= FP8_REL_L1 and cosine(out, ref) >= FP8_COSINE
    rl = torch.cat(ref_lse, dim=1)
    finite = torch.isfinite(rl)
    assert torch.equal(finite, torch.isfinite(lse)), "rows without a visible key must have lse = -inf"
    assert (lse[finite] - rl[finite]).abs().max() < 0.05
    assert (out[~torch.isfinite(rl).T.any(-1)] == 0).all(), "rows without a visible key must be 0"


@pytest.mark.parametrize("d", [64, 128, 256])
def test_each_sequence_has_its_own_k_mean(d: int) -> None:
    def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor):
        out, lse, km = varlen_op(q, k, v, cu, cu, False)
        return out, packed_lse(q, lse, km, cu, True, d ** -0.5), km

    varlen_checks.check_per_sequence_smoothing(run, d, FP8_REL_L1, FP8_COSINE)


@pytest.mark.parametrize("smooth_v", [False, True])
@pytest.mark.parametrize("per_thread", [False, True])
def test_options_keep_accuracy(smooth_v: bool, per_thread: bool) -> None:
    lens = [300, 1000, 57, 2100]
    q, k, v = rand(sum(lens), 4, 128), rand(sum(lens), 4, 128), rand(sum(lens), 4, 128)
    v += 3  # a V offset for smooth V
    out, _, _ = varlen_op(q, k, v, offsets(lens), offsets(lens), False, per_thread=per_thread, smooth_v=smooth_v)
    cu = offsets(lens).tolist()
    for i in range(len(lens)):
        s = slice(cu[i], cu[i + 1])
        ref, _ = reference.attention_fp64(q[s].transpose(0, 1)[None], k[s].transpose(0, 1)[None],
                                          v[s].transpose(0, 1)[None])
        got, want = out[s], ref[0].transpose(0, 1)
        assert rel_l1(got, want) <= FP8_REL_L1 and cosine(got, want) >= FP8_COSINE


def test_no_host_sync_and_graph_replay_follows_new_offsets() -> None:
    lens_a, lens_b = [300, 1000, 57, 643], [1000, 300, 643, 57]  # same total, other boundaries
    q, k, v = rand(2000, 8, 64), rand(2000, 8, 64), rand(2000, 8, 64)
    cu = offsets(lens_a)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any device-to-host read of cu_seqlens would raise here
    try:
        eager_a = sageattention.sageattn_varlen(q, k, v, cu, cu, 1000, 1000, is_causal=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    eager_b = sageattention.sageattn_varlen(q, k, v, offsets(lens_b), offsets(lens_b), 1000, 1000, is_causal=True)
    assert not torch.equal(eager_a, eager_b)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):  # warm-up outside the capture (module loads, kernel attributes)
        sageattention.sageattn_varlen(q, k, v, cu, cu, 1000, 1000, is_causal=True)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = sageattention.sageattn_varlen(q, k, v, cu, cu, 1000, 1000, is_causal=True)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, eager_a)
    cu.copy_(offsets(lens_b))  # new boundaries, same tensor: the replay reads them on the GPU
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(captured, eager_b)


def test_any_offsets_are_memory_safe() -> None:
    # Unchecked GPU offsets (decreasing, past the end, negative) give meaningless rows, never a fault or a hang.
    q, k, v = rand(437, 4, 128), rand(437, 4, 128), rand(437, 4, 128)
    for bad in ([0, 300, 200, 437], [0, 100, 900, 437], [-50, 100, 300, 437], [0, 0, 0, 0]):
        cu = torch.tensor(bad, dtype=torch.int32, device="cuda")
        for causal in (False, True):
            varlen_op(q, k, v, cu, cu, causal)
    torch.cuda.synchronize()


def test_routing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    lens = [300, 700]
    q = rand(1000, 4, 64)
    cu = offsets(lens)
    for d in (64, 256):  # head dims up to 256 (padded to 64, 128 or 256) take the one op
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="sageattention"):
            x = rand(1000, 4, d)
            sageattention.sageattn_varlen(x, x, x, cu, cu, 700, 700)
        assert "path=sm90 varlen" in caplog.text, d
    for env, kwargs in (("1", {}), (None, {"pv_accum_dtype": "fp32+fp32"})):
        caplog.clear()
        if env:
            monkeypatch.setenv("SAGEATTENTION_VARLEN_RUNS", env)
        with caplog.at_level(logging.DEBUG, logger="sageattention"):
            sageattention.sageattn_varlen(q, q, q, cu, cu, 700, 700, **kwargs)
        assert "path=sm90 varlen" not in caplog.text, (env, kwargs)
        monkeypatch.delenv("SAGEATTENTION_VARLEN_RUNS", raising=False)
    with pytest.raises(ValueError, match="max_seqlen_q"):  # CPU offsets are checked as the runs path checks them
        sageattention.sageattn_varlen(q, q, q, cu.cpu(), cu.cpu(), 100, 700)


def test_opcheck() -> None:
    lens = [130, 7, 300]
    q, k, v = rand(sum(lens), 4, 64), rand(sum(lens), 2, 64), rand(sum(lens), 2, 64)
    cu = offsets(lens)
    torch.library.opcheck(torch.ops.sageattention.sageattn_sm90_varlen.default,
                          (q, k, v, cu, cu, True, True, True, False, 0.125, True),
                          test_utils=("test_schema", "test_faketensor"))
