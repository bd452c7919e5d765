"""sageattn_mma_f16 / sageattn_mma_f8 (csrc/mma_fp16/fused_op.cu, csrc/mma_fp8/fused_op.cu): kernels/mma.py's
quantize + attend in one op call.

The separate ops are the oracle, bit for bit: the same kernels run on the same inputs with the same arguments;
only the host side differs (the quantized operands live in one scratch buffer instead of separate tensors handed
through Python).
"""

from __future__ import annotations

import math
from typing import Callable

import pytest
import torch

from sageattention import _lib, quant
from sageattention.kernels import mma
from tests.gpu.kernel_names import profiled_names
from tests.gpu.views import layout_of, make_view

pytestmark = pytest.mark.gpu
DEV = "cuda"
OPS = torch.ops.sageattention
KERNELS = [pytest.param(False, id="fp16pv"), pytest.param(True, id="fp8pv")]
FP16_ACCUMS = list(mma.FP16_PV_ACCUM)  # fp32, fp16+fp32, fp16
FP8_ACCUMS = list(mma.FP8_PV_ACCUM)  # fp32, fp32+fp32, fp32+fp16


def _need(fp8: bool) -> None:
    family = "mma_fp8" if fp8 else "mma_fp16"
    if not _lib.load(family):
        pytest.skip(f"{family} module unavailable: {_lib.error(family)}")
    if fp8 and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("the FP8 MMA needs sm_89+")


@pytest.fixture(params=["0", "1"], ids=["apart", "paired"])
def quant_launches(request, monkeypatch) -> str:
    """Both quantization launch plans of the fused ops: the paired launches (the default,
    csrc/common/mma/quant_pair_kernels.cuh) and one launch per pass (SAGEATTENTION_MMA_PAIRED_QUANT=0)."""
    monkeypatch.setenv("SAGEATTENTION_MMA_PAIRED_QUANT", request.param)
    return request.param


def accum_name(fp8: bool, idx: int) -> str:
    """The idx-th accumulation of the family; fp32+fp16 becomes fp32+fp32 in builds without it (nvcc < 12.8)."""
    name = (FP8_ACCUMS if fp8 else FP16_ACCUMS)[idx]
    if name == "fp32+fp16" and not mma.fp8_f16_accum_available():
        return "fp32+fp32"
    return name




def fused(fp8, q, k, v, layout, *, causal, per_thread, smooth_k, smooth_v, accum, return_lse, sm_scale=None):
    """The fused op, called directly -> (out, lse, k_mean)."""
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    code = 0 if layout == "HND" else 1
    if fp8:
        v_max = mma.FP8_F16_ACCUM_V_MAX if accum == "fp32+fp16" else mma.FP8_E4M3_MAX
        return OPS.sageattn_mma_f8(q, k, v, code, causal, per_thread, smooth_k, smooth_v, sm_scale,
                                   mma.FP8_PV_ACCUM[accum], v_max, return_lse)
    assert not smooth_v, "the FP16-PV fused op takes no smooth V"
    return OPS.sageattn_mma_f16(q, k, v, code, causal, per_thread, smooth_k, sm_scale, mma.FP16_PV_ACCUM[accum],
                                return_lse)


def separate(fp8, q, k, v, layout, *, causal, per_thread, smooth_k, smooth_v, accum, return_lse, sm_scale=None):
    """The same work as separate op calls: mma.quantize, then mma.attend -> (out, lse, k_mean or None)."""
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    p = mma.quantize(q, k, v, tensor_layout=layout, qk_quant_gran="per_thread" if per_thread else "per_warp",
                     fp8_pv=fp8, smooth_k=smooth_k, smooth_v=smooth_v, pv_accum_dtype=accum)
    out, lse = mma.attend(p, is_causal=causal, sm_scale=sm_scale, pv_accum_dtype=accum, return_lse=return_lse)
    return out, lse, p.k_mean


def assert_fused_equals_separate(fp8, q, k, v, layout, **flags) -> None:
    want_out, want_lse, want_mean = separate(fp8, q, k, v, layout, **flags)
    out, lse, k_mean = fused(fp8, q, k, v, layout, **flags)
    for name, g, w in (("out", out, want_out), ("lse", lse, want_lse)):
        assert g.shape == w.shape and g.dtype == w.dtype and g.stride() == w.stride(), (name, flags)
        assert torch.equal(g, w), (name, flags)
    hq, nq = (q.shape[1], q.shape[2]) if layout == "HND" else (q.shape[2], q.shape[1])
    hkv, d = (k.shape[1] if layout == "HND" else k.shape[2]), q.shape[-1]
    assert k_mean.dtype == torch.float32
    if flags["smooth_k"]:
        assert torch.equal(k_mean, want_mean), flags
    else:
        assert want_mean is None and k_mean.shape == (0, hkv, d), flags
    assert out.shape == q.shape and out.is_contiguous()
    assert out.dtype == (torch.bfloat16 if q.dtype == torch.bfloat16 else torch.float16)
    assert lse.shape == ((q.shape[0], hq, nq) if flags["return_lse"] else (0,))
    assert not out.isnan().any()


# (qo_len, kv_len): 1, 17, 127 and 1000 on both sides, equal and unequal (qo > kv: causal rows with no key).
LENGTHS = [(1, 1000), (17, 17), (127, 1), (1000, 127)]
# One flag set per length, so that each shape test takes every view, GQA ratio, dtype and flag value. The FP16
# family's V stays fp16 (bf16 applies to q and k: the op reads V as it is) and it has no smooth V.
ROTATION = [
    dict(view="HND", hq=4, hkv=2, dtype=torch.float16, per_thread=True, smooth_k=True, smooth_v=False,
         accum_idx=0, return_lse=True),
    dict(view="NHD", hq=8, hkv=2, dtype=torch.bfloat16, per_thread=False, smooth_k=False, smooth_v=True,
         accum_idx=1, return_lse=False),
    dict(view="NHD-strided", hq=2, hkv=1, dtype=torch.float16, per_thread=True, smooth_k=False, smooth_v=True,
         accum_idx=2, return_lse=True),
    dict(view="NHD-transposed", hq=3, hkv=3, dtype=torch.bfloat16, per_thread=False, smooth_k=True,
         smooth_v=False, accum_idx=2, return_lse=True),
]


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("d", [32, 64, 96, 128, 256])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_the_separate_ops_over_shapes(fp8, d, causal, quant_launches):
    _need(fp8)
    torch.manual_seed(d + causal)
    for (qo, kv), rot in zip(LENGTHS, ROTATION):
        view, dtype = rot["view"], rot["dtype"]
        q = make_view(view, 2, rot["hq"], qo, d, dtype)
        k = make_view(view, 2, rot["hkv"], kv, d, dtype, offset=2.0)
        v = make_view(view, 2, rot["hkv"], kv, d, dtype if fp8 else torch.float16, offset=0.5)
        assert_fused_equals_separate(fp8, q, k, v, layout_of(view), causal=causal, per_thread=rot["per_thread"],
                                     smooth_k=rot["smooth_k"], smooth_v=rot["smooth_v"] and fp8,
                                     accum=accum_name(fp8, rot["accum_idx"]), return_lse=rot["return_lse"])


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("accum_idx", [0, 1, 2])
@pytest.mark.parametrize("per_thread", [True, False])
@pytest.mark.parametrize("smooth_k", [True, False])
def test_matches_the_separate_ops_over_flags(fp8, accum_idx, per_thread, smooth_k, quant_launches):
    # Every accumulation x granularity x smooth K; inside, dtype x smooth V (FP8) x return_lse x causal.
    _need(fp8)
    accum = accum_name(fp8, accum_idx)
    torch.manual_seed(accum_idx)
    variants = [(torch.float16, False), (torch.bfloat16, True), (torch.bfloat16, False), (torch.float16, True)]
    for i, (dtype, smooth_v) in enumerate(variants if fp8 else variants[:1]):
        q = make_view("NHD", 1, 4, 127, 128, dtype)
        k = make_view("NHD", 1, 2, 1000, 128, dtype, offset=2.0)
        v = make_view("NHD", 1, 2, 1000, 128, dtype, offset=0.5)
        for causal in (False, True):
            assert_fused_equals_separate(fp8, q, k, v, "NHD", causal=causal, per_thread=per_thread,
                                         smooth_k=smooth_k, smooth_v=smooth_v, accum=accum,
                                         return_lse=(i + causal) % 2 == 0)


@pytest.mark.parametrize("fp8", KERNELS)
def test_unaligned_inputs_match(fp8, quant_launches):
    # Q and K rows (and FP8 V rows) that are not 16-byte aligned: the quantization kernels' scalar loads. The FP16
    # family reads V directly, so its V stays aligned (an unaligned one takes the separate path: see below).
    _need(fp8)
    q = make_view("NHD-unaligned", 2, 4, 300, 80, torch.float16)
    k = make_view("NHD-unaligned", 2, 2, 777, 80, torch.float16, offset=2.0)
    v = make_view("NHD-unaligned" if fp8 else "NHD-strided", 2, 2, 777, 80, torch.float16)
    for per_thread in (True, False):
        assert_fused_equals_separate(fp8, q, k, v, "NHD", causal=True, per_thread=per_thread, smooth_k=True,
                                     smooth_v=fp8, accum=accum_name(fp8, 1), return_lse=True)


# The paired launches of a batch (SAGEATTENTION_MMA_PAIRED_QUANT=1, csrc/common/mma/quant_pair_kernels.cuh): K's
# and V's statistics in one launch, Q's and K's INT8 in one, and the finalize folded into the quantization for heads
# of at most 8 token slices (2K keys). Key lengths on both sides of that edge; inputs that keep some separate launches
# (FP8 V with unaligned rows: Q/K paired, V apart; q and k of two dtypes: none paired). Each against the separate ops
# and against the op with one launch per pass (SAGEATTENTION_MMA_PAIRED_QUANT=0).
FOLD_MAX_KEYS = 2048  # kStatsFoldMaxSlices (8) slices of 256 rows (common/channel_stats_kernel.cuh)
PAIRED_CASES = [
    pytest.param("HND", 2048, torch.bfloat16, torch.bfloat16, id="fold-2048"),
    pytest.param("NHD-strided", 2049, torch.float16, torch.float16, id="finalize-2049"),
    pytest.param("HND", 5000, torch.float16, torch.float16, id="finalize-5000"),
    pytest.param("NHD-unaligned", 700, torch.float16, torch.float16, id="unaligned-v"),
    pytest.param("NHD", 700, torch.float16, torch.bfloat16, id="mixed-dtypes"),
]


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("v_view, kv, q_dtype, k_dtype", PAIRED_CASES)
@pytest.mark.parametrize("smooth", [True, False], ids=["smooth", "plain"])
def test_paired_quantization_launches_match_the_separate_ones(fp8, v_view, kv, q_dtype, k_dtype, smooth, monkeypatch):
    _need(fp8)
    torch.manual_seed(kv)
    qk_view = "HND" if v_view == "HND" else "NHD"
    layout = layout_of(qk_view)
    q = make_view(qk_view, 2, 4, 300, 128, q_dtype)
    k = make_view(qk_view, 2, 2, kv, 128, k_dtype, offset=2.0)
    v = make_view(v_view if fp8 else qk_view, 2, 2, kv, 128, k_dtype if fp8 else torch.float16, offset=0.5)
    flags = dict(causal=False, per_thread=True, smooth_k=smooth, smooth_v=smooth and fp8, accum=accum_name(fp8, 0),
                 return_lse=True)
    monkeypatch.setenv("SAGEATTENTION_MMA_PAIRED_QUANT", "1")
    assert_fused_equals_separate(fp8, q, k, v, layout, **flags)
    paired = fused(fp8, q, k, v, layout, **flags)
    names = profiled_names(lambda: fused(fp8, q, k, v, layout, **flags))
    monkeypatch.setenv("SAGEATTENTION_MMA_PAIRED_QUANT", "0")
    apart = fused(fp8, q, k, v, layout, **flags)
    for name, g, w in zip(("out", "lse", "k_mean"), paired, apart):
        assert torch.equal(g, w), name
    # ... and the launches were the paired ones wherever the inputs allow them (not a silent fallback).
    pair_qk = q_dtype == k_dtype
    pair_v = fp8 and pair_qk and v_view != "NHD-unaligned"
    fold = kv <= FOLD_MAX_KEYS
    count = lambda kernel: sum(kernel in n for n in names)  # noqa: E731
    assert count("quant_int8_pair_kernel") == int(pair_qk), names
    assert count("quant_int8_kernel") == (0 if pair_qk else 2), names
    assert count("channel_partial_pair_kernel") == int(pair_qk and (smooth or pair_v)), names
    k_finalize = smooth and not (pair_qk and fold)
    v_finalize = fp8 and not (pair_v and fold)
    assert count("channel_finalize_kernel") == int(k_finalize) + int(v_finalize), names
    monkeypatch.setenv("SAGEATTENTION_MMA_PAIRED_QUANT", "2")
    with pytest.raises(RuntimeError, match="SAGEATTENTION_MMA_PAIRED_QUANT must be an integer in 0..1"):
        fused(fp8, q, k, v, layout, **flags)


# Grids of several waves: more Q and K tiles than the paired launch runs at once (4 CTAs per SM on 132 SMs), crossing
# from Q's tiles to K's inside a wave; whole tiles take the back-to-back first loads, the 2000 rows' last Q tile and the
# 4100 keys' last K tile the guarded ones. Heads up to 2K keys fold K's statistics into the quantization. 4160 keys are
# 65 tiles of 64: an odd number, so that at D=64 the last V CTA of a paired grid (kQuantVPairable) has one tile.
@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("d, kv", [(64, 2048), (64, 4160), (128, 4100), (256, 2048)],
                         ids=["d64-fold", "d64-finalize", "d128-finalize", "d256-fold"])
def test_paired_launches_over_several_waves_match_the_separate_ones(fp8, d, kv, monkeypatch):
    _need(fp8)
    torch.manual_seed(d + kv)
    q = make_view("HND", 2, 16, 2000, d, torch.float16)
    k = make_view("HND", 2, 8, kv, d, torch.float16, offset=2.0)
    v = make_view("HND", 2, 8, kv, d, torch.float16, offset=0.5)
    monkeypatch.setenv("SAGEATTENTION_MMA_PAIRED_QUANT", "1")
    assert_fused_equals_separate(fp8, q, k, v, "HND", causal=False, per_thread=True, smooth_k=True, smooth_v=fp8,
                                 accum=accum_name(fp8, 0), return_lse=True)


@pytest.mark.parametrize("fp8", KERNELS)
def test_stale_scratch_memory_does_not_reach_the_result(fp8, quant_launches):
    # The scratch buffer is uninitialized memory from the caching allocator (as the separate ops' tensors are):
    # every byte the kernels read must have been written by the quantization first.
    _need(fp8)
    q = make_view("NHD-strided", 2, 8, 300, 96, torch.bfloat16)
    k = make_view("NHD-strided", 2, 2, 777, 96, torch.bfloat16, offset=2.0)
    v = make_view("NHD-strided", 2, 2, 777, 96, torch.bfloat16 if fp8 else torch.float16)
    flags = dict(causal=True, per_thread=True, smooth_k=True, smooth_v=fp8, accum=accum_name(fp8, 0),
                 return_lse=True)
    want = separate(fp8, q, k, v, "NHD", **flags)
    for fill in (0x00, 0x7F, 0xFF):  # 0x7F: NaN in e4m3, near the fp32 maximum; 0xFF: NaN in both
        junk = torch.full((64 << 20,), fill, dtype=torch.uint8, device=DEV)
        del junk  # its block goes back to the allocator, which hands it out again below
        out, lse, k_mean = fused(fp8, q, k, v, "NHD", **flags)
        assert torch.equal(out, want[0]) and torch.equal(lse, want[1]) and torch.equal(k_mean, want[2]), fill


@pytest.mark.parametrize("fp8", KERNELS)
def test_schema_and_fake_kernel(fp8):
    """The fake (torch.compile traces through it) gives the real op's shapes, dtypes and strides."""
    _need(fp8)
    op = OPS.sageattn_mma_f8.default if fp8 else OPS.sageattn_mma_f16.default
    for view, d, dtype, per_thread, smooth_k, lse in (("NHD-strided", 96, torch.bfloat16, True, True, True),
                                                     ("HND", 64, torch.float16, False, False, False)):
        q = make_view(view, 2, 4, 300, d, dtype)
        k = make_view(view, 2, 2, 200, d, dtype, offset=1.0)
        v = make_view(view, 2, 2, 200, d, dtype if fp8 else torch.float16)
        code = 0 if view == "HND" else 1
        if fp8:
            args = (q, k, v, code, True, per_thread, smooth_k, not smooth_k, 0.1, 1, mma.FP8_E4M3_MAX, lse)
        else:
            args = (q, k, v, code, True, per_thread, smooth_k, 0.1, 1, lse)
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("fp8", KERNELS)
def test_bad_arguments_name_the_problem(fp8):
    _need(fp8)
    q = make_view("HND", 1, 2, 64, 64, torch.float16)
    flags = dict(causal=False, per_thread=True, smooth_k=True, smooth_v=False, accum="fp32", return_lse=False)
    wide = make_view("HND", 1, 2, 64, 264, torch.float16)
    with pytest.raises(RuntimeError, match="head dim must be in"):
        fused(fp8, wide, wide, wide, "HND", **flags)
    k3 = make_view("HND", 1, 3, 64, 64, torch.float16)
    with pytest.raises(RuntimeError, match="must be a multiple of kv heads"):
        fused(fp8, q, k3, k3, "HND", **flags)
    with pytest.raises(RuntimeError, match="float16 or bfloat16"):
        fused(fp8, q.float(), q.float(), q.float(), "HND", **flags)
    with pytest.raises(RuntimeError, match="must be a CUDA tensor"):
        fused(fp8, q, q.cpu(), q, "HND", **flags)
    with pytest.raises(RuntimeError, match="v must have k's shape"):
        fused(fp8, q, q, q[:, :, :32], "HND", **flags)
    if not fp8:
        with pytest.raises(RuntimeError, match="v must be float16"):
            fused(fp8, q, q, q.bfloat16(), "HND", **flags)
        kv = make_view("NHD-unaligned", 1, 2, 64, 64, torch.float16)  # k may be unaligned, v may not
        with pytest.raises(RuntimeError, match="16-byte aligned"):
            fused(fp8, make_view("NHD", 1, 2, 64, 64, torch.float16), kv, kv, "NHD", **flags)


def sageattention_ops(fn: Callable[[], object]) -> set[str]:
    """Names of the sageattention ops that `fn` called (profiler events of the dispatcher)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.name for e in prof.events() if e.name.startswith("sageattention::")}


def old_path(fp8, q, k, v, layout, causal, gran, sm_scale, accum, smooth_k, smooth_v, return_lse):
    """What mma._run returned before the fused ops: quantize + attend, plus the smooth-K LSE correction."""
    p = mma.quantize(q, k, v, tensor_layout=layout, qk_quant_gran=gran, fp8_pv=fp8, smooth_k=smooth_k,
                     smooth_v=smooth_v, pv_accum_dtype=accum)
    out, lse = mma.attend(p, is_causal=causal, sm_scale=sm_scale, pv_accum_dtype=accum, return_lse=return_lse)
    if not return_lse:
        return out
    return out, (lse + quant.lse_correction(q, p.k_mean, layout, sm_scale) if smooth_k else lse)


FUSED_OP = {False: "sageattention::sageattn_mma_f16", True: "sageattention::sageattn_mma_f8"}
ATTN_OP = {False: "sageattention::qk_int8_sv_f16_attn", True: "sageattention::qk_int8_sv_f8_attn"}
SEPARATE_OPS = {"sageattention::quant_int8", "sageattention::channel_stats", "sageattention::quant_v_fp8"}


def call_entry_point(fp8, q, k, v, layout, gran, accum, smooth_k, smooth_v, return_lse, sm_scale=0.1):
    import sageattention

    fn = sageattention.sageattn_qk_int8_pv_fp8_cuda if fp8 else sageattention.sageattn_qk_int8_pv_fp16_cuda
    return fn(q, k, v, tensor_layout=layout, is_causal=True, qk_quant_gran=gran, sm_scale=sm_scale,
              pv_accum_dtype=accum, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse)


# (fp8, view, dtype, smooth_k, smooth_v, gran, accum index, return_lse)
FUSED_CALLS = [
    (False, "HND", torch.float16, True, False, "per_thread", 0, True),
    (False, "NHD-strided", torch.float16, False, False, "per_warp", 2, False),
    (True, "NHD", torch.bfloat16, True, True, "per_thread", 2, True),
    (True, "NHD-unaligned", torch.float16, False, False, "per_warp", 1, True),
]


@pytest.mark.parametrize("fp8, view, dtype, smooth_k, smooth_v, gran, accum_idx, return_lse", FUSED_CALLS)
def test_entry_point_calls_the_fused_op_with_the_old_results(fp8, view, dtype, smooth_k, smooth_v, gran, accum_idx,
                                                             return_lse):
    _need(fp8)
    layout, accum = layout_of(view), accum_name(fp8, accum_idx)
    q = make_view(view, 2, 8, 333, 80, dtype)
    k = make_view(view, 2, 2, 1000, 80, dtype, offset=2.0)
    v = make_view(view, 2, 2, 1000, 80, dtype)
    args = (fp8, q, k, v, layout, gran, accum, smooth_k, smooth_v, return_lse)
    called = sageattention_ops(lambda: call_entry_point(*args))
    assert FUSED_OP[fp8] in called, called
    assert not called & (SEPARATE_OPS | {ATTN_OP[fp8]}), called
    got = call_entry_point(*args)
    want = old_path(fp8, q, k, v, layout, True, gran, 0.1, accum, smooth_k, smooth_v, return_lse)
    for g, w in zip(got, want) if return_lse else [(got, want)]:
        assert torch.equal(g, w)


# FP16 PV with a V the kernel cannot read as it is: converted by _fp16_v in PyTorch, so the separate ops run.
FP16_FALLBACKS = [
    pytest.param("NHD", torch.bfloat16, 64, False, id="bf16"),  # sageattn's inputs share one dtype: V is bf16
    pytest.param("NHD-unaligned", torch.float16, 64, False, id="unaligned-v"),
    pytest.param("HND", torch.float16, 17, False, id="head-dim-17"),  # padded to 24 columns
    pytest.param("HND", torch.float16, 64, True, id="smooth-v"),
]


@pytest.mark.parametrize("view, dtype, d, smooth_v", FP16_FALLBACKS)
def test_fp16_entry_point_keeps_the_separate_ops_for_converted_v(view, dtype, d, smooth_v):
    _need(False)
    layout = layout_of(view)
    q = make_view(view, 1, 4, 200, d, dtype)
    k = make_view(view, 1, 2, 300, d, dtype, offset=2.0)
    v = make_view(view, 1, 2, 300, d, dtype)
    args = (False, q, k, v, layout, "per_thread", "fp32", True, smooth_v, True)
    called = sageattention_ops(lambda: call_entry_point(*args))
    assert FUSED_OP[False] not in called and ATTN_OP[False] in called, called
    got = call_entry_point(*args)
    want = old_path(False, q, k, v, layout, True, "per_thread", 0.1, "fp32", True, smooth_v, True)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
