"""The public API on the GPU: dispatch by capability, fallbacks with reasons, accuracy of the default path."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch

import sageattention
from sageattention import _device, _lib, core, reference
from tests.conftest import cosine, rel_l1
from tests.gpu.entries import ENTRIES, lse_bound, skip_unless_this_gpu_runs
from tests.gpu.varlen_checks import assert_pack_matches_fp64

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    core._warned.clear()


def rand(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.randn(*shape, device="cuda", dtype=dtype)


def expected_family() -> str:
    cap = _device.capability(torch.cuda.current_device())
    for family in _device.preferred_families(cap):
        if _lib.load(family):
            return family
    pytest.fail(f"no kernel family loads on sm_{cap[0]}{cap[1]}: {sageattention.build_info()['kernels']}")


def test_capability_is_cached() -> None:
    from sageattention import _call_cache

    _device.capability.cache_clear()
    q = rand(1, 2, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sageattention.sageattn(q, q, q)
        _call_cache.clear()  # else the second call goes straight to its kernel, asking nothing
        sageattention.sageattn(q, q, q)
    info = _device.capability.cache_info()
    assert info.misses == 1 and info.hits >= 1


def test_default_path_is_the_arch_kernel_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    family = expected_family()
    q, k, v = rand(2, 8, 1024, 128), rand(2, 8, 1024, 128), rand(2, 8, 1024, 128)
    with caplog.at_level(logging.DEBUG, logger="sageattention"):
        out = sageattention.sageattn(q, k, v)
    entry = {"sm90": "sageattn_qk_int8_pv_fp8_cuda_sm90", "mma_fp8": "sageattn_qk_int8_pv_fp8_cuda",
             "mma_fp16": "sageattn_qk_int8_pv_fp16_cuda"}[family]
    assert f"path={entry}" in caplog.text
    ref, _ = reference.attention_fp64(q, k, v)
    assert rel_l1(out, ref) < 0.05 and cosine(out, ref) > 0.999


@pytest.mark.parametrize("layout", ["HND", "NHD"])
def test_default_path_accuracy_offset_k_gqa_causal(layout: str) -> None:
    b, hq, hkv, n, d = 2, 8, 2, 777, 64
    shape_q = (b, hq, n, d) if layout == "HND" else (b, n, hq, d)
    shape_kv = (b, hkv, n, d) if layout == "HND" else (b, n, hkv, d)
    q, v = rand(*shape_q), rand(*shape_kv)
    k = rand(*shape_kv) + 8 * rand(d)  # channel offsets: smoothing must handle them
    k_before = k.clone()
    out, lse = sageattention.sageattn(q, k, v, tensor_layout=layout, is_causal=True, return_lse=True)
    assert torch.equal(k, k_before), "K was modified in place"
    t = (lambda x: x) if layout == "HND" else (lambda x: x.transpose(1, 2))
    ref, lse_ref = reference.attention_fp64(t(q), t(k), t(v), is_causal=True)
    assert not torch.isnan(out).any()
    assert rel_l1(t(out), ref) < 0.05 and cosine(t(out), ref) > 0.999
    assert (lse.double() - lse_ref).abs().max() < 0.05


def test_fp32_and_big_head_dim_fall_back_with_one_warning_each() -> None:
    q32 = rand(1, 2, 100, 64, dtype=torch.float32)
    q_big = rand(1, 2, 100, 320)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out32 = sageattention.sageattn(q32, q32, q32)
        sageattention.sageattn(q32, q32, q32)
        out_big = sageattention.sageattn(q_big, q_big, q_big)
        sageattention.sageattn(q_big, q_big, q_big)
    msgs = [str(w.message) for w in rec if "sageattention" in str(w.message)]
    assert len(msgs) == 2 and "float32" in msgs[0] and "head_dim 320" in msgs[1]
    ref, _ = reference.attention_fp64(q32, q32, q32)
    assert rel_l1(out32, ref) < 1e-3
    assert out_big.shape == q_big.shape and not torch.isnan(out_big).any()


def _as_fp16_pv_card(monkeypatch: pytest.MonkeyPatch, per_block: int):
    """This GPU as an sm_86 card looks to the dispatch: `per_block` bytes of shared memory per block and the FP16-PV
    family only. The family choice and the shared-memory answers are cached: cleared before and after."""
    from sageattention import _call_cache
    from sageattention.kernels import mma

    if not (_lib.load("mma_fp16") and _lib.load("mma_fp8")):
        pytest.skip(f"needs both mma.sync families: {sageattention.build_info()['kernels']}")
    monkeypatch.setattr(mma, "_smem_per_block", lambda index: per_block)
    monkeypatch.setattr(_device, "preferred_families", lambda cap: ["mma_fp16"])
    for clear in (core._family_for.cache_clear, mma._smem_problem.cache_clear, _call_cache.clear):
        clear()
    yield mma
    for clear in (core._family_for.cache_clear, mma._smem_problem.cache_clear, _call_cache.clear):
        clear()


@pytest.fixture
def gpu_with_99_kb_blocks(monkeypatch: pytest.MonkeyPatch):
    """An sm_86 card's limit: 101 376 bytes per block (99 KB, as on sm_86, sm_89 and sm_12x)."""
    yield from _as_fp16_pv_card(monkeypatch, 101376)


@pytest.fixture
def gpu_with_64_kb_blocks(monkeypatch: pytest.MonkeyPatch):
    """A limit under what the FP16-PV kernel takes at head dim 256 (68 608 bytes), at what it takes at D=128 (65 536),
    over the FP8-PV kernel at D=256 (59 392): the decline and fallback paths, which no supported GPU meets today."""
    yield from _as_fp16_pv_card(monkeypatch, 65536)


def test_head_dim_256_on_99_kb_blocks_runs_the_fp16_pv_kernel(gpu_with_99_kb_blocks) -> None:
    # The FP16-PV kernel at head dims 129-256 takes 32-key K/V tiles (68 608 bytes), so an sm_86 card runs it: the
    # explicit call, sageattn (bit for bit that call, no warning) and the packed op alike.
    mma = gpu_with_99_kb_blocks
    assert max(mma.attn_smem_bytes(256, False), mma.attn_smem_bytes(256, True)) <= 101376
    q, k, v = rand(1, 4, 300, 256), rand(1, 2, 300, 256), rand(1, 2, 300, 256)
    ref, _ = reference.attention_fp64(q, k, v, True)
    explicit = sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v, is_causal=True)
    assert rel_l1(explicit, ref) < 0.02
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = sageattention.sageattn(q, k, v, is_causal=True)
    assert not [str(w.message) for w in rec if "sageattention" in str(w.message)]
    assert torch.equal(out, explicit)
    q160 = rand(1, 4, 300, 160)
    assert rel_l1(sageattention.sageattn_qk_int8_pv_fp16_cuda(q160, q160, q160),
                  reference.attention_fp64(q160, q160, q160)[0]) < 0.02
    packed = rand(700, 4, 256)
    assert mma.varlen_applies(packed, packed, packed, {}, False)


def test_head_dim_256_over_the_blocks_limit_declines_and_falls_back(gpu_with_64_kb_blocks) -> None:
    # A kernel that needs more shared memory than the GPU gives a block would fail its launch. The explicit call says
    # why before any work, FP8 PV (which fits) still runs, and sageattn, whose only family here is FP16 PV, gives the
    # call to SDPA with one warning naming it.
    mma = gpu_with_64_kb_blocks
    assert mma.attn_smem_bytes(256, False) > 65536 >= mma.attn_smem_bytes(256, True)
    q, k, v = rand(1, 4, 300, 256), rand(1, 2, 300, 256), rand(1, 2, 300, 256)
    with pytest.raises(sageattention.KernelUnavailableError, match=r"head_dim 256 with FP16 PV.*allows 65536"):
        sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v)
    q160 = rand(1, 4, 300, 160)
    with pytest.raises(sageattention.KernelUnavailableError, match="head_dim 160"):
        sageattention.sageattn_qk_int8_pv_fp16_cuda(q160, q160, q160)
    ref, _ = reference.attention_fp64(q, k, v, True)
    assert rel_l1(sageattention.sageattn_qk_int8_pv_fp8_cuda(q, k, v, is_causal=True), ref) < 0.045
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = sageattention.sageattn(q, k, v, is_causal=True)
        sageattention.sageattn(q, k, v, is_causal=True)
        out128 = sageattention.sageattn(q[..., :128], k[..., :128], v[..., :128], is_causal=True)
    msgs = [str(w.message) for w in rec if "sageattention" in str(w.message)]
    assert len(msgs) == 1 and "shared memory" in msgs[0] and "SDPA" in msgs[0], msgs
    assert rel_l1(out, ref) < 1e-3  # SDPA's exact attention, not a quantized kernel
    ref128, _ = reference.attention_fp64(q[..., :128], k[..., :128], v[..., :128], True)
    assert 1e-3 < rel_l1(out128, ref128) < 0.02  # D128 fits: still the FP16-PV kernel


def test_packed_head_dim_256_over_the_blocks_limit_runs_on_sdpa(gpu_with_64_kb_blocks) -> None:
    # sageattn_varlen's one op declines as well; its runs path calls sageattn per run, which falls back.
    q, k, v = rand(700, 4, 256), rand(700, 4, 256), rand(700, 4, 256)
    cu = torch.tensor([0, 300, 700], dtype=torch.int32, device="cuda")
    assert not gpu_with_64_kb_blocks.varlen_applies(q, k, v, {}, False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn_varlen(q, k, v, cu, cu, 400, 400, is_causal=False)
    for a, b in ((0, 300), (300, 700)):
        ref, _ = reference.attention_fp64(*(t[a:b].transpose(0, 1)[None] for t in (q, k, v)))
        assert rel_l1(out[a:b].transpose(0, 1)[None], ref) < 1e-3


@pytest.mark.parametrize("half_rate, accum", [(True, "fp16+fp32"), (False, "fp32")])
def test_sageattn_takes_fp16_fp32_where_fp32_accumulation_is_half_rate(
    monkeypatch: pytest.MonkeyPatch, half_rate: bool, accum: str
) -> None:
    # This GPU as a GeForce sm_86 board (or a professional one) looks to the dispatch: the FP16-PV family, and the
    # rule's answer. sageattn's output is then bit for bit the explicit call's with that accumulation.
    from sageattention import _call_cache

    if not _lib.load("mma_fp16"):
        pytest.skip(f"needs the FP16-PV family: {sageattention.build_info()['kernels']}")
    monkeypatch.setattr(_device, "preferred_families", lambda cap: ["mma_fp16"])
    monkeypatch.setattr(_device, "f32_accum_half_rate", lambda cap, name: half_rate)
    for clear in (core._family_for.cache_clear, _call_cache.clear):
        clear()
    try:
        q, k, v = rand(2, 4, 2000, 128), rand(2, 4, 2000, 128), rand(2, 4, 2000, 128)
        out = sageattention.sageattn(q, k, v)
        assert torch.equal(out, sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v, pv_accum_dtype=accum))
        other = "fp32" if half_rate else "fp16+fp32"
        assert not torch.equal(out, sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v, pv_accum_dtype=other))
        assert torch.equal(sageattention.sageattn(q, k, v, pv_accum_dtype="fp32"),
                           sageattention.sageattn_qk_int8_pv_fp16_cuda(q, k, v))  # the caller's choice stands
    finally:
        for clear in (core._family_for.cache_clear, _call_cache.clear):
            clear()


def test_python_m_sageattention_reports_the_kernel_by_head_dim(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sageattention.__main__ import main

    main()
    route = json.loads(capsys.readouterr().out)["sageattn_by_head_dim"]
    assert set(route) == {"1-64", "65-128", "129-256"}
    assert route["1-64"] == route["65-128"] == expected_family()
    assert route["129-256"] == expected_family() or route["129-256"].startswith("SDPA: head_dim 256"), route


@pytest.mark.parametrize("half_rate, accum", [(True, "fp16+fp32"), (False, "fp32")])
def test_python_m_sageattention_reports_the_fp16_pv_accumulation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, half_rate: bool, accum: str
) -> None:
    import json

    from sageattention.__main__ import main

    monkeypatch.setattr(_device, "f32_accum_half_rate", lambda cap, name: half_rate)
    main()
    assert json.loads(capsys.readouterr().out)["sageattn_fp16_pv_accum_dtype"] == accum


def test_python_m_sageattention_names_the_head_dims_a_small_block_gpu_gives_to_sdpa(gpu_with_64_kb_blocks) -> None:
    from sageattention.__main__ import sageattn_route

    route = sageattn_route(torch.cuda.current_device())
    assert route["1-64"] == route["65-128"] == "mma_fp16"
    assert route["129-256"].startswith("SDPA: head_dim 256 with FP16 PV") and "allows 65536" in route["129-256"]


def test_python_m_sageattention_routes_every_head_dim_of_a_99_kb_gpu_to_fp16_pv(gpu_with_99_kb_blocks) -> None:
    from sageattention.__main__ import sageattn_route

    assert set(sageattn_route(torch.cuda.current_device()).values()) == {"mma_fp16"}


def test_explicit_kernels_reject_fp32_and_wrong_arch() -> None:
    q32 = rand(1, 2, 64, 64, dtype=torch.float32)
    with pytest.raises(ValueError, match="float16 or bfloat16"):
        sageattention.sageattn_qk_int8_pv_fp16_cuda(q32, q32, q32)
    cap = _device.capability(torch.cuda.current_device())
    q = rand(1, 2, 64, 64)
    if cap != (9, 0):
        with pytest.raises(sageattention.KernelUnavailableError, match="sm_90"):
            sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90(q, q, q)


def test_attn_mask_goes_to_sdpa_and_is_honoured() -> None:
    q, k, v = rand(1, 2, 128, 64), rand(1, 2, 128, 64), rand(1, 2, 128, 64)
    mask = torch.rand(128, 128, device="cuda") > 0.3
    mask[:, 0] = True
    with pytest.warns(UserWarning, match="attn_mask"):
        out = sageattention.sageattn(q, k, v, attn_mask=mask)
    ref = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
    assert rel_l1(out, ref) < 2e-3


def test_empty_and_tiny_lengths() -> None:
    for nq, nk in ((1, 1), (1, 17), (17, 1), (5, 0)):
        q, k = rand(1, 2, nq, 64), rand(1, 2, nk, 64)
        out, lse = sageattention.sageattn(q, k, k.clone(), return_lse=True)
        assert out.shape == q.shape and not torch.isnan(out).any()
        if nk == 0:
            assert (out == 0).all() and torch.isinf(lse).all()


@pytest.mark.parametrize("d,causal", [(128, False), (128, True), (64, True)])
def test_varlen_batched_runs_match_per_sequence_calls(d: int, causal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEATTENTION_VARLEN_RUNS", "1")  # the runs path (sm90's one-op path: test_varlen_sm90.py)
    # runs: (300, 300) x2, (128, 128) x3, (77, 500), (300, 300) again apart from the first two
    lens_q, lens_k = [300, 300, 128, 128, 128, 77, 300], [300, 300, 128, 128, 128, 500, 300]
    cq = torch.tensor([0, *torch.tensor(lens_q).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    ck = torch.tensor([0, *torch.tensor(lens_k).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    q, k, v = rand(sum(lens_q), 8, d), rand(sum(lens_k), 2, d), rand(sum(lens_k), 2, d)
    out, lse = sageattention.sageattn_varlen(q, k, v, cq, ck, 300, 500, is_causal=causal, return_lse=True)
    assert lse.shape == (8, sum(lens_q))
    c_q, c_k = cq.tolist(), ck.tolist()
    for i in range(len(lens_q)):
        rows, keys = slice(c_q[i], c_q[i + 1]), slice(c_k[i], c_k[i + 1])
        o1, lse1 = sageattention.sageattn(q[rows][None], k[keys][None], v[keys][None], tensor_layout="NHD",
                                          is_causal=causal, return_lse=True)
        assert torch.equal(out[rows], o1[0]), f"sequence {i}: the batched call differs from its own call"
        # the LSE's smoothing term q . mean_k is a float32 einsum whose kernel depends on the batch size
        torch.testing.assert_close(lse[:, rows], lse1[0], rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("runs", ["1", None], ids=["runs-path", "one-op"])
def test_varlen_uses_per_sequence_smoothing(runs: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if runs:
        monkeypatch.setenv("SAGEATTENTION_VARLEN_RUNS", runs)
    else:
        monkeypatch.delenv("SAGEATTENTION_VARLEN_RUNS", raising=False)
    cu = torch.tensor([0, 100, 400, 437], dtype=torch.int32, device="cuda")
    q, v = rand(437, 4, 64), rand(437, 4, 64)
    k = rand(437, 4, 64)
    k[100:400] += 20  # one sequence with a large offset must not disturb the others
    out = sageattention.sageattn_varlen(q, k, v, cu, cu, 300, 300)
    for a, b in zip([0, 100, 400], [100, 400, 437]):
        ref, _ = reference.attention_fp64(q[a:b].transpose(0, 1)[None], k[a:b].transpose(0, 1)[None],
                                          v[a:b].transpose(0, 1)[None])
        assert rel_l1(out[a:b].transpose(0, 1)[None], ref) < 0.06


@pytest.mark.parametrize("entry", ["sageattn", "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp8_cuda",
                                   "sageattn_qk_int8_pv_fp8_cuda_sm90", "sageattn_varlen"])
def test_eager_inputs_requiring_grad_run_forward_and_refuse_backward(entry: str) -> None:
    # Inference without no_grad: same outputs as under no_grad; backward is the clear inference-only error (PyTorch's
    # fallback for C++ ops would only warn and give q, k, v no gradient).
    cap = _device.capability(torch.cuda.current_device())
    if entry == "sageattn_qk_int8_pv_fp8_cuda_sm90" and cap != (9, 0):
        pytest.skip(f"{entry} runs on sm_90 only; this GPU is sm_{cap[0]}{cap[1]}")
    if entry == "sageattn_qk_int8_pv_fp8_cuda" and cap < (8, 9):
        pytest.skip(f"{entry} needs sm_89+; this GPU is sm_{cap[0]}{cap[1]}")
    fn = getattr(sageattention, entry)
    if entry == "sageattn_varlen":
        q, k, v = (rand(700, 4, 128).requires_grad_() for _ in range(3))
        cu = torch.tensor([0, 300, 700], device="cuda", dtype=torch.int32)
        args: tuple = (q, k, v, cu, cu, 400, 400)
    else:
        q, k, v = (rand(1, 4, 300, 128).requires_grad_() for _ in range(3))
        args = (q, k, v)
    out, lse = fn(*args, return_lse=True)
    assert out.requires_grad and not lse.requires_grad
    with torch.no_grad():
        ref_out, ref_lse = fn(*args, return_lse=True)
    assert torch.equal(out.detach(), ref_out) and torch.equal(lse, ref_lse)
    with pytest.raises(RuntimeError, match="sageattention has no backward"):
        out.float().sum().backward()
    assert all(t.grad is None for t in (q, k, v))


@pytest.mark.parametrize("entry", ["sageattn", "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp8_cuda"])
def test_calls_on_concurrent_streams_match_sequential_calls(entry: str) -> None:
    # Each call's intermediates (and the sm90 work-queue counter, cleared by its own quantization kernel, whose
    # attention kernel is its programmatic dependent) live in scratch memory of the caller's stream: calls on two
    # streams at once must give exactly what the same calls give one after another.
    cap = _device.capability(torch.cuda.current_device())
    if entry == "sageattn_qk_int8_pv_fp8_cuda" and cap < (8, 9):
        pytest.skip(f"{entry} needs sm_89+; this GPU is sm_{cap[0]}{cap[1]}")
    fn = getattr(sageattention, entry)
    shapes = [(2, 8, 1000, 128), (1, 16, 2048, 64), (3, 4, 300, 128), (1, 8, 4096, 64)]
    inputs = [tuple(rand(*s) for _ in range(3)) for s in shapes]
    want = [fn(q, k, v, is_causal=i % 2 == 1) for i, (q, k, v) in enumerate(inputs)]
    torch.cuda.synchronize()
    streams = [torch.cuda.Stream(), torch.cuda.Stream()]
    for s in streams:
        s.wait_stream(torch.cuda.current_stream())
    got: list[list[torch.Tensor]] = [[] for _ in inputs]
    for _ in range(3):
        for i, (q, k, v) in enumerate(inputs):
            with torch.cuda.stream(streams[i % 2]):
                got[i].append(fn(q, k, v, is_causal=i % 2 == 1))
    torch.cuda.synchronize()
    for i, outs in enumerate(got):
        for out in outs:
            assert torch.equal(out, want[i]), f"shape {shapes[i]} differs when run on a second stream"


@pytest.mark.parametrize("entry", ["sageattn", "sageattn_qk_int8_pv_fp16_cuda"])
def test_repeated_calls_take_the_cached_path(entry: str, qkv_checks: list[int]) -> None:
    """The second call of a signature skips the Python checks (sageattention/_call_cache.py) and gives the first
    call's bits; new tensors of the same signature get their own result, and a new shape is checked again."""
    fn = getattr(sageattention, entry)
    from sageattention import _call_cache

    _call_cache.clear()
    checks = qkv_checks
    q, k, v = rand(2, 8, 300, 64), rand(2, 2, 77, 64), rand(2, 2, 77, 64)
    first, lse = fn(q, k, v, is_causal=True, return_lse=True)
    again, lse_again = fn(q, k, v, is_causal=True, return_lse=True)
    assert checks[0] == 1
    assert torch.equal(first, again) and torch.equal(lse, lse_again)
    q2 = rand(2, 8, 300, 64)
    other = fn(q2, k, v, is_causal=True, return_lse=True)[0]
    assert checks[0] == 1 and not torch.equal(other, first)
    _call_cache.clear()
    assert torch.equal(fn(q2, k, v, is_causal=True, return_lse=True)[0], other), "the checked path gives other bits"
    fn(rand(2, 8, 301, 64), k, v, is_causal=True)
    assert checks[0] == 3


@pytest.mark.parametrize("entry", ["sageattn", "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp8_cuda"])
def test_a_batch_beyond_a_grid_dimension_runs(entry: str) -> None:
    # A grid takes at most 65 535 blocks in y and z, where the mma.sync kernels put the batch: a larger batch runs
    # in chunks (kernels/mma.MAX_GRID_BATCH), here 65 535 entries and then 3. Windowed attention reaches such batches.
    cap = _device.capability(torch.cuda.current_device())
    if entry.endswith("fp8_cuda") and cap < (8, 9):
        pytest.skip("FP8 PV needs sm_89 or newer")
    fn = getattr(sageattention, entry)
    b = 65535 + 3
    q, k, v = rand(b, 1, 16, 64), rand(b, 1, 16, 64), rand(b, 1, 16, 64)
    out, lse = fn(q, k, v, return_lse=True)
    assert out.shape == q.shape and lse.shape == (b, 1, 16)
    ref, ref_lse = reference.attention_fp64(q[-3:], k[-3:], v[-3:])
    assert rel_l1(out[-3:], ref) < 0.05 and float((lse[-3:] - ref_lse).abs().max()) < 0.05
    ref0, _ = reference.attention_fp64(q[:3], k[:3], v[:3])
    assert rel_l1(out[:3], ref0) < 0.05
    if entry != "sageattn":  # the last chunk is this call
        tail, tail_lse = fn(q[-3:], k[-3:], v[-3:], return_lse=True)
        assert torch.equal(out[-3:], tail) and torch.equal(lse[-3:], tail_lse)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_negative_sm_scale_is_honoured(entry: str, causal: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """SDPA takes any finite scale; the kernels clamp theirs to > 0 (the row max is taken on raw INT8 scores), so
    sageattention runs s < 0 as |s| on -Q (core._with_negated_q). Output and LSE against float64 at s < 0."""
    bound = skip_unless_this_gpu_runs(entry)
    monkeypatch.setenv("SAGEATTENTION_SHORT_KV_SDPA", "0")  # the kernel, whatever the size
    q, k, v = rand(1, 4, 1500, 64), rand(1, 4, 1500, 64), rand(1, 4, 1500, 64)
    k = k + 4 * rand(64)  # channel offsets: the LSE's smooth-K term is large
    out, lse = getattr(sageattention, entry)(q, k, v, is_causal=causal, sm_scale=-0.1, return_lse=True)
    ref, ref_lse = reference.attention_fp64(q, k, v, causal, -0.1)
    assert rel_l1(out, ref) < bound
    assert float((lse.double() - ref_lse).abs().max()) < lse_bound(entry)


def test_a_negative_sm_scale_is_honoured_by_packed_sequences() -> None:
    lens = [700, 1300]
    q, k, v = (rand(sum(lens), 4, 64) for _ in range(3))
    cu = torch.tensor([0, lens[0], sum(lens)], dtype=torch.int32, device="cuda")
    out, lse = sageattention.sageattn_varlen(q, k, v, cu, cu, max(lens), max(lens), is_causal=True, sm_scale=-0.1,
                                             return_lse=True)
    assert_pack_matches_fp64(out, lse, q, k, v, cu.tolist(), cu.tolist(), causal=True, rel_l1_max=0.06,
                             sm_scale=-0.1)


@pytest.mark.parametrize("d", [0, 1, 8, 24, 136, 250])
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_tiny_and_odd_head_dims_on_every_entry(entry: str, d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Head dims the kernels pad (to 64, 128 or 256; sm_scale from the true one), down to 1; 0 is an error that says
    so on every entry (it was a different C++ error per kernel, or a result)."""
    bound = skip_unless_this_gpu_runs(entry)
    monkeypatch.setenv("SAGEATTENTION_SHORT_KV_SDPA", "0")
    q, k, v = rand(1, 4, 300, d), rand(1, 2, 700, d), rand(1, 2, 700, d)
    fn = getattr(sageattention, entry)
    if d == 0:
        with pytest.raises(ValueError, match="head_dim is 0"):
            fn(q, k, v)
        return
    options = {}
    if entry == "sageattn_qk_int8_pv_fp8_cuda_sm90" and d > 128:
        # Its default "fp32+fp32" has no loop past 128: an error that names the option that has one.
        with pytest.raises(NotImplementedError, match='pass pv_accum_dtype="fp32"'):
            fn(q, k, v)
        options = {"pv_accum_dtype": "fp32"}
    out, lse = fn(q, k, v, is_causal=True, return_lse=True, **options)
    ref, ref_lse = reference.attention_fp64(q, k, v, True)
    assert out.shape == q.shape and lse.shape == (1, 4, 300)
    assert rel_l1(out, ref) < bound
    assert float((lse.double() - ref_lse).abs().max()) < lse_bound(entry)
