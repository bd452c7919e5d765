"""Public API on CPU: upstream names, validation errors that name the argument, SDPA fallback."""

from __future__ import annotations

import importlib.metadata
import inspect
import pathlib
import warnings

import pytest
import torch

import sageattention
from sageattention import core, reference
from tests.conftest import rel_l1

DIFFUSERS_IMPORTS = [
    "sageattn", "sageattn_qk_int8_pv_fp8_cuda", "sageattn_qk_int8_pv_fp8_cuda_sm90",
    "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp16_triton", "sageattn_varlen",
]


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    core._warned.clear()


def qkv(b: int = 1, h: int = 2, n: int = 32, d: int = 64, hkv: int | None = None, dtype: torch.dtype = torch.float32):
    hkv = hkv or h
    return torch.randn(b, h, n, d, dtype=dtype), torch.randn(b, hkv, n, d, dtype=dtype), torch.randn(b, hkv, n, d, dtype=dtype)


def test_every_name_downstream_imports_exists() -> None:
    for name in DIFFUSERS_IMPORTS:
        assert callable(getattr(sageattention, name))


def test_signatures_keep_upstream_parameter_names() -> None:
    params = list(inspect.signature(sageattention.sageattn).parameters)
    assert params[:7] == ["q", "k", "v", "tensor_layout", "is_causal", "sm_scale", "return_lse"]
    fp8 = inspect.signature(sageattention.sageattn_qk_int8_pv_fp8_cuda).parameters
    for p in ("qk_quant_gran", "pv_accum_dtype", "smooth_k", "smooth_v", "return_lse"):
        assert p in fp8
    varlen = list(inspect.signature(sageattention.sageattn_varlen).parameters)
    assert varlen[:7] == ["q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "max_seqlen_q", "max_seqlen_k"]


def test_version_continues_upstream_series() -> None:
    from packaging.version import Version

    assert Version(sageattention.__version__) >= Version("2.1.1")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda q, k, v: (q, k, v, "BHND"), "tensor_layout must be 'HND'"),
        (lambda q, k, v: (q[0], k, v, "HND"), "q must be 4-D"),
        (lambda q, k, v: (q, k.half(), v, "HND"), "share one dtype"),
        (lambda q, k, v: (q, k, v[:, :, :16], "HND"), "k and v must have the same shape"),
        (lambda q, k, v: (q[..., :32].contiguous(), k, v, "HND"), "head-dim mismatch"),
        (lambda q, k, v: (torch.randn(1, 3, 32, 64), k, v, "HND"), "num_q_heads % num_kv_heads"),
        (lambda q, k, v: (torch.randn(2, 2, 32, 64), k, v, "HND"), "same batch size"),
        (lambda q, k, v: (torch.randn(1, 2, 64, 32).transpose(-1, -2), k, v, "HND"), "contiguous in its last"),
    ],
)
def test_validation_errors_name_the_argument(mutate, match: str) -> None:
    q, k, v, layout = mutate(*qkv())
    with pytest.raises(ValueError, match=match):
        sageattention.sageattn(q, k, v, tensor_layout=layout)


def test_type_and_option_errors() -> None:
    q, k, v = qkv()
    with pytest.raises(TypeError, match="q must be a torch.Tensor"):
        sageattention.sageattn(q.numpy(), k, v)
    with pytest.raises(TypeError, match="unexpected keyword"):
        sageattention.sageattn(q, k, v, smooth_kk=True)
    with pytest.raises(TypeError, match="sm_scale must be a float"):
        sageattention.sageattn(q, k, v, sm_scale="0.1")
    with pytest.raises(ValueError, match="sm_scale must be finite"):
        sageattention.sageattn(q, k, v, sm_scale=float("nan"))
    with pytest.raises(ValueError, match="disagree"):
        sageattention.sageattn(q, k, v, sm_scale=0.1, scale=0.2)
    with pytest.raises(ValueError, match="dropout_p"):
        sageattention.sageattn(q, k, v, dropout_p=1.5)
    with pytest.raises(TypeError, match="is_causal"):
        sageattention.sageattn(q, k, v, is_causal="yes")
    with pytest.raises(ValueError, match="qk_quant_gran"):
        sageattention.sageattn_qk_int8_pv_fp16_cuda(q.half(), k.half(), v.half(), qk_quant_gran="per_block")
    with pytest.raises(ValueError, match="pv_accum_dtype"):
        sageattention.sageattn_qk_int8_pv_fp8_cuda(q.half(), k.half(), v.half(), pv_accum_dtype="fp16")
    with pytest.raises(ValueError, match="pv_accum_dtype"):  # wgmma accumulates in fp32: the one choice
        sageattention.sageattn_qk_int8_pv_fp16_cuda_sm90(q.half(), k.half(), v.half(), pv_accum_dtype="fp16+fp32")
    with pytest.raises(ValueError, match="pv_accum_dtype"):  # u8 x s8 wgmma sums in s32: the one choice
        sageattention.sageattn_qk_int8_pv_int8_cuda_sm90(q.half(), k.half(), v.half(), pv_accum_dtype="fp32")
    with pytest.raises(ValueError, match="quantization_backend"):
        sageattention.sageattn_qk_int8_pv_fp16_triton(q, k, v, quantization_backend="cutlass")


@pytest.mark.parametrize(
    "fn",
    [sageattention.sageattn_qk_int8_pv_fp16_cuda, sageattention.sageattn_qk_int8_pv_fp8_cuda,
     sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90, sageattention.sageattn_qk_int8_pv_fp16_cuda_sm90,
     sageattention.sageattn_qk_int8_pv_int8_cuda_sm90],
)
def test_explicit_kernels_refuse_cpu_with_a_pointer_to_sageattn(fn) -> None:
    q, k, v = qkv(dtype=torch.float16)
    with pytest.raises(ValueError, match="CUDA tensors.*sageattn"):
        fn(q, k, v)


def test_fallback_warns_once_per_reason_and_is_correct() -> None:
    q, k, v = qkv(n=48)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = sageattention.sageattn(q, k, v)
        sageattention.sageattn(q, k, v)
        sageattention.sageattn(q, k, v, attn_mask=torch.ones(48, 48, dtype=torch.bool))
        sageattention.sageattn(q, k, v, attn_mask=torch.ones(48, 48, dtype=torch.bool))
    msgs = [str(w.message) for w in rec if "sageattention" in str(w.message)]
    assert len(msgs) == 2, msgs
    assert "cpu" in msgs[0] and "attn_mask" in msgs[1]
    ref, _ = reference.attention_fp64(q, k, v)
    assert rel_l1(out, ref) < 1e-5


def test_fallback_reasons_name_dtype_head_dim_and_device() -> None:
    from types import SimpleNamespace

    from sageattention._validate import kernel_input_problem

    on_cuda = SimpleNamespace(device=torch.device("cuda", 0), dtype=torch.float16)
    assert kernel_input_problem(on_cuda, 128) is None
    assert "head_dim 320" in str(kernel_input_problem(on_cuda, 320))
    fp32 = SimpleNamespace(device=torch.device("cuda", 0), dtype=torch.float32)
    assert "float16 or bfloat16" in str(kernel_input_problem(fp32, 64))
    assert "cpu" in str(kernel_input_problem(torch.empty(1, dtype=torch.float16), 64))


def test_attn_mask_and_dropout_are_honoured_not_dropped() -> None:
    q, k, v = qkv(n=40)
    mask = torch.rand(40, 40) > 0.5
    mask[:, 0] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masked = sageattention.sageattn(q, k, v, attn_mask=mask)
        torch.manual_seed(0)
        dropped = sageattention.sageattn(q, k, v, dropout_p=0.5)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(masked, ref, atol=1e-6)
    plain = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert not torch.allclose(dropped, plain, atol=1e-3)


@pytest.mark.parametrize(("nq", "nk"), [(16, 48), (48, 16), (1, 48), (1, 1)])
def test_fallback_causal_is_bottom_right_with_lse(nq: int, nk: int) -> None:
    q = torch.randn(1, 2, nq, 64)
    k, v = torch.randn(1, 2, nk, 64), torch.randn(1, 2, nk, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, lse = sageattention.sageattn(q, k, v, is_causal=True, return_lse=True)
    ref, lse_ref = reference.attention_fp64(q, k, v, is_causal=True)
    assert not torch.isnan(out).any()
    assert torch.allclose(out.double(), ref, atol=1e-5)
    assert torch.equal(torch.isinf(lse), torch.isinf(lse_ref))
    fin = torch.isfinite(lse_ref)
    assert torch.allclose(lse.double()[fin], lse_ref[fin], atol=1e-4)


def test_fallback_causal_single_query_is_sdpa_without_a_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bottom-right aligned, one query sees every key: the fallback calls SDPA with no mask tensor (its fast call),
    not with top-left causal."""
    from sageattention import _fallback

    sdpa, calls = torch.nn.functional.scaled_dot_product_attention, []

    def recording(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append((kwargs.get("attn_mask"), kwargs.get("is_causal")))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(_fallback.F, "scaled_dot_product_attention", recording)
    q, k, v = torch.randn(2, 4, 1, 64), torch.randn(2, 4, 40, 64), torch.randn(2, 4, 40, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn(q, k, v, is_causal=True)
        sageattention.sageattn(q.expand(2, 4, 3, 64), k, v, is_causal=True)
    assert calls[0] == (None, False)
    assert calls[1][0] is not None and calls[1][1] is False  # three queries: the bottom-right mask tensor
    assert torch.equal(out, sdpa(q, k, v))
    assert not torch.allclose(out, sdpa(q, k, v, is_causal=True), atol=1e-3)  # top-left would see key 0 only


def test_nhd_gqa_fallback_and_scale_alias() -> None:
    q = torch.randn(2, 20, 8, 64)
    k, v = torch.randn(2, 20, 2, 64), torch.randn(2, 20, 2, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn(q, k, v, tensor_layout="NHD", scale=0.05)
    ref, _ = reference.attention_fp64(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), sm_scale=0.05)
    assert out.shape == q.shape
    assert torch.allclose(out.transpose(1, 2).double(), ref, atol=1e-5)


def test_k_is_never_modified() -> None:
    q, k, v = qkv()
    k_before = k.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sageattention.sageattn(q, k, v)
    reference.sageattn_reference(q, k, v)
    assert torch.equal(k, k_before)


def test_varlen_matches_per_sequence_calls() -> None:
    lens = [5, 17, 9]
    total = sum(lens)
    q, k, v = torch.randn(total, 2, 64), torch.randn(total, 2, 64), torch.randn(total, 2, 64)
    cu = torch.tensor([0, 5, 22, 31], dtype=torch.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn_varlen(q, k, v, cu, cu, 17, 17, is_causal=True)
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        ref, _ = reference.attention_fp64(q[a:b].transpose(0, 1)[None], k[a:b].transpose(0, 1)[None],
                                          v[a:b].transpose(0, 1)[None], is_causal=True)
        assert torch.allclose(out[a:b].transpose(0, 1).double(), ref[0], atol=1e-5)
    with pytest.raises(ValueError, match="end at 31"):
        sageattention.sageattn_varlen(q, k, v, torch.tensor([0, 5, 30]), cu, 17, 17)
    with pytest.raises(ValueError, match="max_seqlen_q"):
        sageattention.sageattn_varlen(q, k, v, cu, cu, 8, 17)


def test_empty_sequences_give_zeros_not_nan() -> None:
    q = torch.randn(1, 2, 8, 64)
    k = torch.randn(1, 2, 0, 64)
    for layout, qq, kk in (("HND", q, k), ("NHD", q.transpose(1, 2), k.transpose(1, 2))):
        out, lse = sageattention.sageattn(qq, kk, kk, tensor_layout=layout, return_lse=True)
        assert out.shape == qq.shape and (out == 0).all()
        assert lse.shape == (1, 2, 8) and torch.isneginf(lse).all()


def test_build_info_reports_the_build() -> None:
    info = sageattention.build_info()
    for key in ("version", "cuda_version", "archs", "torch_floor", "kernels"):
        assert key in info
    assert set(info["kernels"]) == {"core", "mma_fp16", "mma_fp8", "sm90"}
    try:
        dist = importlib.metadata.distribution("sageattention")
    except importlib.metadata.PackageNotFoundError:
        return
    site = pathlib.Path(str(dist.locate_file(""))).resolve()
    imported = pathlib.Path(sageattention.__file__).resolve()
    # Compare only against an installed copy that is the one imported (not a checkout's egg-info).
    if site != imported.parents[1] or (site / "setup.py").exists():
        return
    assert info["version"] == dist.version


def test_load_failure_hint_names_the_flavor_and_the_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    # A cu126 wheel compiled with nvcc 12.4: the hint must not send its user looking for a "cu124".
    from sageattention import _lib

    monkeypatch.setattr(_lib, "_build_config",
                        lambda: {"torch_floor": "2.10", "cuda_version": "12.4", "local_label": "cu126"})
    hint = _lib._abi_hint()
    assert "flavor cu126" in hint and "CUDA 12.4" in hint and "torch >= 2.10" in hint


def test_python_m_sageattention_prints_the_build_and_no_route_without_a_gpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: tests/gpu/test_api_gpu.py checks the route it prints")
    import json

    from sageattention.__main__ import main

    main()
    info = json.loads(capsys.readouterr().out)
    assert info["gpu"] is None and "sageattn_by_head_dim" not in info
    assert info["version"] == sageattention.build_info()["version"] and "kernels" in info


@pytest.mark.parametrize("option, value, error, words", [
    ("pv_accum_dtype", "fp64", ValueError, "pv_accum_dtype must be one of"),
    ("pv_accum_dtype", "int32", ValueError, "pv_accum_dtype must be one of"),  # the INT8-PV kernel's: explicit only
    ("qk_quant_gran", "per_block", ValueError, "qk_quant_gran must be one of"),
    ("qk_quant_gran", None, ValueError, "qk_quant_gran must be one of"),
    ("smooth_k", 1, TypeError, "smooth_k must be True or False"),
    ("smooth_v", "yes", TypeError, "smooth_v must be True or False"),
])
def test_option_values_no_kernel_takes_are_errors_on_the_sdpa_path_too(option, value, error, words) -> None:
    # On CPU tensors sageattn runs SDPA, which has no use for the kernel options: a bad value must still fail here,
    # as it would on a GPU, not pass on a laptop and break on the server.
    q, k, v = qkv()
    with pytest.raises(error, match=words):
        sageattention.sageattn(q, k, v, **{option: value})


def test_valid_option_values_still_run_on_the_sdpa_path() -> None:
    q, k, v = qkv()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn(q, k, v, pv_accum_dtype="fp32+fp16", qk_quant_gran="per_warp", smooth_k=False,
                                     smooth_v=True)
        base = sageattention.sageattn(q, k, v, pv_accum_dtype=None)
    assert torch.equal(out, base)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.bool, torch.complex64, torch.float8_e4m3fn])
def test_non_float_inputs_are_a_clear_error_on_every_entry(dtype: torch.dtype) -> None:
    # SDPA would fail deep inside its matmul ("expected m1 and m2 to have the same dtype"), naming neither input.
    q = torch.zeros(1, 2, 16, 64).to(dtype)
    for fn in (sageattention.sageattn, sageattention.sageattn_qk_int8_pv_fp16_cuda,
               sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90):
        with pytest.raises(TypeError, match=f"float16 or bfloat16.*got {dtype}"):
            fn(q, q, q)
    packed = torch.zeros(16, 2, 64).to(dtype)
    cu = torch.tensor([0, 16], dtype=torch.int32)
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        sageattention.sageattn_varlen(packed, packed, packed, cu, cu, 16, 16)


@pytest.mark.parametrize("case, words", [
    ("kv heads differ", r"k and v must have the same shape \[total_k, heads_kv, head_dim\], got k=\(31, 2, 64\)"),
    ("head dims differ", "head-dim mismatch: q has head_dim 32 but k/v have 64"),
    ("gqa", "GQA/MQA needs num_q_heads % num_kv_heads == 0, got 3 query heads and 2 .*packed tensors read heads"),
    ("max_seqlen float", "max_seqlen_q must be a non-negative int, got 17.0"),
    ("max_seqlen negative", "max_seqlen_k must be a non-negative int, got -1"),
])
def test_varlen_errors_speak_of_packed_tensors(case: str, words: str) -> None:
    # The runs path views each run as a batch of one: its errors named those 4-D views' shapes, and it took a float
    # max_seqlen that the one-op path refuses.
    q = k = v = torch.randn(31, 2, 64, dtype=torch.float16)
    maxes = (17, 17)
    if case == "kv heads differ":
        v = v[:, :1]
    elif case == "head dims differ":
        q = q[..., :32]
    elif case == "gqa":
        q = torch.randn(31, 3, 64, dtype=torch.float16)
    elif case == "max_seqlen float":
        maxes = (17.0, 17)
    else:
        maxes = (17, -1)
    cu = torch.tensor([0, 5, 22, 31], dtype=torch.int32)
    with pytest.raises(ValueError, match=words):
        sageattention.sageattn_varlen(q, k, v, cu, cu, *maxes)


def test_head_dim_0_is_an_error_on_every_entry() -> None:
    q = torch.zeros(1, 2, 16, 0, dtype=torch.float16)
    for fn in (sageattention.sageattn, sageattention.sageattn_qk_int8_pv_fp16_cuda,
               sageattention.sageattn_qk_int8_pv_fp8_cuda_sm90):
        with pytest.raises(ValueError, match="head_dim is 0"):
            fn(q, q, q)
    packed, cu = torch.zeros(16, 2, 0, dtype=torch.float16), torch.tensor([0, 16], dtype=torch.int32)
    with pytest.raises(ValueError, match="head_dim is 0"):
        sageattention.sageattn_varlen(packed, packed, packed, cu, cu, 16, 16)


def test_sdpa_s_enable_gqa_keyword_is_taken() -> None:
    # Callers that swap sageattn in for torch's SDPA pass its keywords; GQA runs natively, so enable_gqa=True is what
    # sageattn does anyway and False with fewer k/v heads is SDPA's error.
    q, k, v = qkv(h=4, hkv=2, dtype=torch.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sageattention.sageattn(q, k, v, enable_gqa=True, dropout_p=0.0, scale=0.1)
        base = sageattention.sageattn(q, k, v, sm_scale=0.1)
        sageattention.sageattn(q, q, q, enable_gqa=False)
    assert torch.equal(out, base)
    with pytest.raises(ValueError, match="enable_gqa=False, but q has 4 heads and k/v 2"):
        sageattention.sageattn(q, k, v, enable_gqa=False)
    with pytest.raises(TypeError, match="enable_gqa must be True or False"):
        sageattention.sageattn(q, k, v, enable_gqa=1)


def test_numpy_scalar_scales_are_taken() -> None:
    import numpy as np

    q, k, v = qkv()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU's SDPA fallback
        base = sageattention.sageattn(q, k, v, sm_scale=0.125)
        for scale in (np.float32(0.125), np.float64(0.125), np.float16(0.125)):
            assert torch.equal(sageattention.sageattn(q, k, v, sm_scale=scale), base)
    with pytest.raises(TypeError, match="sm_scale must be a float or None, got Tensor"):
        sageattention.sageattn(q, k, v, sm_scale=torch.tensor(0.125))
    with pytest.raises(TypeError, match="sm_scale must be a float or None, got bool"):
        sageattention.sageattn(q, k, v, sm_scale=True)
