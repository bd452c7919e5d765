"""sageattn_mma_f16_varlen / sageattn_mma_f8_varlen: a pack of any lengths as one op on the mma.sync kernels."""

from __future__ import annotations

import pytest
import torch

from sageattention import _device, _lib, reference
from sageattention._varlen import packed_lse
from sageattention.kernels import mma
from tests.conftest import cosine, rel_l1
from tests.gpu import varlen_checks
from tests.gpu.kernel_names import cta_budget, profiled_names
from tests.gpu.varlen_checks import offsets

pytestmark = pytest.mark.gpu

# Bounds of tests/gpu/test_mma_attention.py's float64 comparisons (FP16 PV / FP8 PV)
BOUNDS = {False: (0.012, 0.9999), True: (0.045, 0.999)}


@pytest.fixture(params=[False, True], ids=["f16pv", "f8pv"])
def fp8_pv(request: pytest.FixtureRequest) -> bool:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    cap = _device.capability(torch.cuda.current_device())
    family = "mma_fp8" if request.param else "mma_fp16"
    if request.param and cap < (8, 9):
        pytest.skip(f"FP8 PV needs sm_89+; this GPU is sm_{cap[0]}{cap[1]}")
    if not _lib.load(family):
        pytest.skip(f"{family} module unavailable: {_lib.error(family)}")
    return request.param


def rand(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=dtype)


def varlen_op(fp8_pv: bool, q, k, v, cq, ck, causal: bool, per_thread: bool = True, smooth_k: bool = True,
              smooth_v: bool = False, return_lse: bool = True):
    scale = q.shape[-1] ** -0.5
    ops = torch.ops.sageattention
    if fp8_pv:
        v_max = mma.FP8_F16_ACCUM_V_MAX if mma.varlen_accum(True) == "fp32+fp16" else 448.0
        return ops.sageattn_mma_f8_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, smooth_v, scale, v_max,
                                          return_lse)
    return ops.sageattn_mma_f16_varlen(q, k, v, cq, ck, causal, per_thread, smooth_k, scale, return_lse)


@pytest.mark.parametrize("d", [64, 128, 256, 80])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("nq,nk", [(1, 1), (17, 300), (1000, 1000), (300, 129), (2000, 4097)])
def test_one_sequence_is_bitwise_the_batch_op(fp8_pv: bool, d: int, causal: bool, nq: int, nk: int) -> None:
    # One sequence has the batch's statistics: the packed op must give the fused batch op's bits.
    q, k, v = rand(nq, 8, d), rand(nk, 2, d), rand(nk, 2, d)
    k += torch.linspace(-3, 3, d, device="cuda", dtype=q.dtype)
    scale = d ** -0.5
    for per_thread in (True, False):
        out, lse, km = varlen_op(fp8_pv, q, k, v, offsets([nq]), offsets([nk]), causal, per_thread=per_thread)
        if fp8_pv:
            accum = mma.varlen_accum(True)
            v_max = mma.FP8_F16_ACCUM_V_MAX if accum == "fp32+fp16" else 448.0
            b_out, b_lse, b_km = torch.ops.sageattention.sageattn_mma_f8(
                q[None], k[None], v[None], 1, causal, per_thread, True, False, scale, mma.FP8_PV_ACCUM[accum], v_max,
                True)
        else:
            b_out, b_lse, b_km = torch.ops.sageattention.sageattn_mma_f16(q[None], k[None], v[None], 1, causal,
                                                                           per_thread, True, scale, 0, True)
        assert torch.equal(out, b_out), f"out differs (per_thread={per_thread})"
        assert torch.equal(lse, b_lse), f"lse differs (per_thread={per_thread})"
        assert torch.equal(km, b_km), f"k_mean differs (per_thread={per_thread})"


LENGTHS = [
    ([1, 17, 127, 128, 129, 1000, 300, 0, 255, 2048], [1, 17, 127, 128, 129, 1000, 700, 5, 255, 2048]),
    ([513, 0, 77, 4097], [200, 64, 500, 4097]),
]


@pytest.mark.parametrize("d", [64, 128, 256])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("case", range(len(LENGTHS)))
def test_pack_matches_float64_per_sequence(fp8_pv: bool, d: int, causal: bool, case: int) -> None:
    lens_q, lens_k = LENGTHS[case]
    hq, hk = 8, 2
    q, k, v = rand(sum(lens_q), hq, d), rand(sum(lens_k), hk, d), rand(sum(lens_k), hk, d)
    k += 4 * torch.rand(d, device="cuda", dtype=q.dtype)
    out, lse, _ = varlen_op(fp8_pv, q, k, v, offsets(lens_q), offsets(lens_k), causal)
    out = out[0]
    assert not torch.isnan(out).any()
    cq, ck = offsets(lens_q).tolist(), offsets(lens_k).tolist()
    refs = []
    for i in range(len(lens_q)):
        if lens_q[i] == 0:
            continue
        qs, ks, vs = q[cq[i]:cq[i + 1]], k[ck[i]:ck[i + 1]], v[ck[i]:ck[i + 1]]
        if lens_k[i] == 0:
            refs.append(torch.zeros_like(qs, dtype=torch.float64))
            continue
        o, _ = reference.attention_fp64(qs.transpose(0, 1)[None], ks.transpose(0, 1)[None], vs.transpose(0, 1)[None],
                                        is_causal=causal)
        refs.append(o[0].transpose(0, 1))
    ref = torch.cat(refs)
    l1, cos = BOUNDS[fp8_pv]
    assert rel_l1(out, ref) <= l1 and cosine(out, ref) >= cos


@pytest.mark.parametrize("d", [64, 128, 256])
def test_each_sequence_has_its_own_k_mean(fp8_pv: bool, d: int) -> None:
    def run(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: torch.Tensor):
        out, lse, km = varlen_op(fp8_pv, q, k, v, cu, cu, False)
        return out[0], packed_lse(q, lse[0], km, cu, True, d ** -0.5), km

    varlen_checks.check_per_sequence_smoothing(run, d, *BOUNDS[fp8_pv])


def test_any_offsets_are_memory_safe(fp8_pv: bool) -> None:
    q, k, v = rand(437, 4, 128), rand(437, 4, 128), rand(437, 4, 128)
    for bad in ([0, 300, 200, 437], [0, 100, 900, 437], [-50, 100, 300, 437], [0, 0, 0, 0]):
        cu = torch.tensor(bad, dtype=torch.int32, device="cuda")
        for causal in (False, True):
            varlen_op(fp8_pv, q, k, v, cu, cu, causal)
    torch.cuda.synchronize()


def test_opcheck(fp8_pv: bool) -> None:
    lens = [130, 7, 300]
    q, k, v = rand(sum(lens), 4, 64), rand(sum(lens), 2, 64), rand(sum(lens), 2, 64)
    cu = offsets(lens)
    if fp8_pv:
        op, args = torch.ops.sageattention.sageattn_mma_f8_varlen, (q, k, v, cu, cu, True, True, True, True, 0.125,
                                                                    2.25, True)
    else:
        op, args = torch.ops.sageattention.sageattn_mma_f16_varlen, (q, k, v, cu, cu, True, True, True, 0.125, True)
    torch.library.opcheck(op.default, args, test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("causal", [False, True])
def test_d64_two_and_three_cta_builds_give_the_same_bits(causal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # FP16 PV at D=64 (fp32 O) has a 2- and a 3-CTA-per-SM build of its varlen kernel too (csrc/common/mma).
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    if not _lib.load("mma_fp16"):
        pytest.skip(f"mma_fp16 module unavailable: {_lib.error('mma_fp16')}")
    torch.manual_seed(7)
    lens_q, lens_k = [300, 0, 1000, 129], [500, 64, 1000, 129]
    q, k, v = rand(sum(lens_q), 8, 64), rand(sum(lens_k), 2, 64), rand(sum(lens_k), 2, 64)
    outs = {}
    for ctas in ("2", "3"):
        monkeypatch.setenv("SAGEATTENTION_MMA_D64_CTAS", ctas)
        cq, ck = offsets(lens_q), offsets(lens_k)
        outs[ctas] = varlen_op(False, q, k, v, cq, ck, causal)
        names = [n for n in profiled_names(lambda: varlen_op(False, q, k, v, cq, ck, causal))
                 if "attn_varlen_kernel<64" in n]
        assert names and all(cta_budget(n) == ctas for n in names), names
    for name, a, b in zip(("out", "lse", "k_mean"), outs["2"], outs["3"]):
        assert torch.equal(a, b), name
