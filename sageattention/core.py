"""Public API, upstream-compatible names and signatures (diffusers and ComfyUI call these).

``sageattn`` picks the kernel for the GPU (capability cached per device); inputs the kernels cannot
take, and arguments they do not model (attn_mask, dropout_p), go to PyTorch SDPA with one warning
per reason. Calls with too little work for the 8-bit kernel to pay go to SDPA too, silently (it is faster
and exact there; _short_kv, SAGEATTENTION_SHORT_KV_SDPA). Explicit kernel functions never fall back:
they raise a clear error instead. Which path ran is logged at DEBUG level on the "sageattention" logger.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
import warnings
from typing import Any, Callable

import torch

from sageattention import _call_cache, _compile, _device, _lib, _short_kv
from sageattention._fallback import empty_kv_result, sdpa_attention
from sageattention._inference_only import needs_guard, run_guarded
from sageattention._varlen import packed_attention
from sageattention._validate import (
    Shapes,
    check_bool,
    check_choice,
    check_max_seqlen,
    check_packed,
    check_qkv,
    check_sm_scale,
    kernel_input_problem,
)

logger = logging.getLogger("sageattention")

Result = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

QK_GRANS = ("per_warp", "per_thread")
FP16_ACCUMS = ("fp32", "fp16+fp32", "fp16")
FP8_ACCUMS = ("fp32", "fp32+fp32", "fp32+fp16")
SM90_ACCUMS = ("fp32+fp32", "fp32")
SM90_PV16_ACCUMS = ("fp32",)
SM90_PV_INT8_ACCUMS = ("int32",)
KERNEL_KWARGS = _compile.KERNEL_OPTIONS
# The accumulations sageattn takes on some GPU (an FP8-PV name means fp32 on an FP16-PV GPU, core.sageattn).
SAGEATTN_ACCUMS = tuple(dict.fromkeys(FP16_ACCUMS + FP8_ACCUMS + SM90_ACCUMS))

_warned: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"sageattention: {reason}; using torch SDPA instead", UserWarning, stacklevel=3)


def _explicit_checks(q: torch.Tensor, shapes: Shapes, fn: str) -> None:
    problem = kernel_input_problem(q, shapes.head_dim)
    if problem is not None:
        raise ValueError(f"{fn}: {problem}. Use sageattn() to fall back to SDPA automatically.")


def _arch_check(q: torch.Tensor, fn: str, min_cap: tuple[int, int], exact: bool = False) -> None:
    cap = _device.capability_of(q)
    ok = cap == min_cap if exact else cap >= min_cap
    if not ok:
        need = f"sm_{min_cap[0]}{min_cap[1]}" + ("" if exact else " or newer")
        raise _lib.KernelUnavailableError(
            f"{fn} needs a GPU of compute capability {need}; {q.device} is sm_{cap[0]}{cap[1]}. "
            f"Call sageattn() to pick the right kernel for this GPU."
        )


_kernels: dict[tuple[str, str], Callable[..., Result]] = {}


def _kernel(module: str, name: str, family: str, fn: str) -> Callable[..., Result]:
    found = _kernels.get((module, name))
    if found is not None:
        return found
    _lib.require(family, fn)
    try:
        mod = __import__(f"sageattention.kernels.{module}", fromlist=[name])
    except ImportError as exc:
        raise _lib.KernelUnavailableError(f"{fn} is not available: {exc}") from exc
    return _kernels.setdefault((module, name), getattr(mod, name))


def _with_negated_q(kernel: Callable[..., Result]) -> Callable[..., Result]:
    """kernel for a negative sm_scale: the kernels take each row's max on the raw INT8 scores, which is the max of
    the logits only for a scale >= 0 (they clamp it there), so s * Q.K^T runs as |s| * (-Q).K^T. That is exact: the
    symmetric INT8 quantization of -Q is the negation of Q's, and the LSE's smooth-K term |s| * (-q).mean_k equals
    s * q.mean_k."""

    def run(q: torch.Tensor, *args: Any, sm_scale: float, **kw: Any) -> Result:
        return kernel(torch.neg(q), *args, sm_scale=-sm_scale, **kw)

    return run


def _run_kernel(
    kernel: Callable[..., Result], q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, shapes: Shapes,
    cache_key: tuple | None = None, **kw: Any
) -> Result:
    """kernel(q, k, v, **kw), with the degenerate shapes answered here; a call that reached the kernel is
    remembered under cache_key (_call_cache), so the next call with that key comes straight here."""
    if shapes.qo_len == 0 or shapes.batch == 0 or shapes.heads_q == 0:
        out = torch.empty_like(q)
        if not kw["return_lse"]:
            return out
        return out, torch.empty((shapes.batch, shapes.heads_q, shapes.qo_len), dtype=torch.float32, device=q.device)
    if shapes.kv_len == 0:
        return empty_kv_result(q, kw["tensor_layout"], kw["return_lse"])
    if kw["sm_scale"] < 0:
        kernel = _with_negated_q(kernel)
    if needs_guard(q, k, v):  # backward must fail clearly, not yield no gradient (_inference_only)
        result = run_guarded(lambda: kernel(q, k, v, **kw), q, k, v)
    else:
        result = kernel(q, k, v, **kw)
    if cache_key is not None:  # after the kernel returned: one that declines (NotImplementedError) is not kept
        _call_cache.remember(cache_key, functools.partial(kernel, **kw))
    return result


def _cached_call(cache_key: tuple | None, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Result | None:
    """The result of a call whose key an earlier call already took to its kernel function, else None. Not for
    calls autograd records, not with DEBUG logging on (each call then logs its path). Callers build no key while
    torch.compile traces (the opaque op path)."""
    if cache_key is None or logger.isEnabledFor(logging.DEBUG):
        return None
    run = _call_cache.lookup(cache_key)
    if run is None or needs_guard(q, k, v):
        return None
    return run(q, k, v)


def _common(
    q: Any, k: Any, v: Any, tensor_layout: Any, is_causal: Any, sm_scale: Any, return_lse: Any
) -> tuple[Shapes, float]:
    shapes = check_qkv(q, k, v, tensor_layout)
    check_bool("is_causal", is_causal)
    check_bool("return_lse", return_lse)
    return shapes, check_sm_scale(sm_scale, shapes.head_dim)


def _check_option_values(options: dict[str, Any], accums: tuple[str, ...], accum_may_be_open: bool = True) -> None:
    """The kernel options given in `options`: qk_quant_gran one of QK_GRANS, pv_accum_dtype one of `accums` (None
    too where accum_may_be_open), smooth_k / smooth_v bools. sageattn checks its options with every GPU's
    accumulations (SAGEATTN_ACCUMS) on every path, the SDPA one included, so that a value no kernel takes fails on a
    CPU as on a GPU; the explicit entry points with their kernel's (_call_explicit)."""
    if "qk_quant_gran" in options:
        check_choice("qk_quant_gran", options["qk_quant_gran"], QK_GRANS)
    if "pv_accum_dtype" in options and (options["pv_accum_dtype"] is not None or not accum_may_be_open):
        check_choice("pv_accum_dtype", options["pv_accum_dtype"], accums)
    for name in ("smooth_k", "smooth_v"):
        if name in options:
            check_bool(name, options[name])


def _no_extra(fn: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"{fn}() got unexpected keyword argument(s) {sorted(kwargs)}")


@dataclasses.dataclass(frozen=True)
class _ExplicitKernel:
    """One explicit entry point: its public name, option set, arch rule and wrapper function."""

    fn: str
    accums: tuple[str, ...]
    min_cap: tuple[int, int]
    exact_cap: bool
    module: str
    name: str
    family: str
    # pv_accum_dtype=None -> the accumulation this build runs best; None: the option has no open value
    resolve_accum: Callable[[str | None], str] | None = None


def _call_explicit(
    spec: _ExplicitKernel, q: Any, k: Any, v: Any, kwargs: dict[str, Any], *, tensor_layout: Any, is_causal: Any,
    qk_quant_gran: Any, sm_scale: Any, pv_accum_dtype: Any, smooth_k: Any, smooth_v: Any, return_lse: Any,
    checked: tuple[Shapes, float] | None = None, cache_key: tuple | None = None,
) -> Result:
    """Validate everything (arguments first, then inputs, arch and build), then quantize and launch.

    checked: sageattn's own validation of the inputs (shapes, resolved sm_scale) on a GPU whose kernel family
    it picked; the input and arch checks are then not repeated (host time of every call), the options are.
    cache_key: sageattn's key for this call (_call_cache); an explicit entry point's call makes its own."""
    if checked is None and not kwargs and not torch.compiler.is_compiling():
        cache_key = _call_cache.key(
            spec.fn, q, k, v, tensor_layout, is_causal, sm_scale, return_lse,
            {"qk_quant_gran": qk_quant_gran, "pv_accum_dtype": pv_accum_dtype, "smooth_k": smooth_k,
             "smooth_v": smooth_v})
        cached = _cached_call(cache_key, q, k, v)
        if cached is not None:
            return cached
    _no_extra(spec.fn, kwargs)
    if checked is None:
        shapes, scale = _common(q, k, v, tensor_layout, is_causal, sm_scale, return_lse)
    else:
        shapes, scale = checked
    _check_option_values({"qk_quant_gran": qk_quant_gran, "pv_accum_dtype": pv_accum_dtype, "smooth_k": smooth_k,
                          "smooth_v": smooth_v}, spec.accums, accum_may_be_open=spec.resolve_accum is not None)
    if torch.compiler.is_compiling():  # one opaque op in the graph (sageattention/_compile.py)
        return _compile.attention(spec.fn, q, k, v, tensor_layout, is_causal, scale, return_lse,
                                  qk_quant_gran=qk_quant_gran, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k,
                                  smooth_v=smooth_v)
    if checked is None:
        _explicit_checks(q, shapes, spec.fn)
        _arch_check(q, spec.fn, spec.min_cap, exact=spec.exact_cap)
    kernel = _kernel(spec.module, spec.name, spec.family, spec.fn)
    if spec.resolve_accum is not None:
        pv_accum_dtype = spec.resolve_accum(pv_accum_dtype)
    return _run_kernel(
        kernel, q, k, v, shapes, cache_key, tensor_layout=tensor_layout, is_causal=is_causal,
        qk_quant_gran=qk_quant_gran, sm_scale=scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k,
        smooth_v=smooth_v, return_lse=return_lse,
    )


def _fp8_f16_accum_available() -> bool:
    try:
        from sageattention.kernels import mma
    except ImportError:
        return False
    return bool(mma.fp8_f16_accum_available())


def _resolve_fp8_accum(pv_accum_dtype: str | None) -> str:
    """None -> the best accumulation this build has; "fp32+fp16" only where it was compiled."""
    f16_ok = _fp8_f16_accum_available()
    if pv_accum_dtype is None:
        return "fp32+fp16" if f16_ok else "fp32+fp32"
    if pv_accum_dtype == "fp32+fp16" and not f16_ok:
        raise _lib.KernelUnavailableError(
            "pv_accum_dtype='fp32+fp16' needs the f16-accumulating FP8 MMA, which this build lacks (built with "
            "nvcc < 12.8); use pv_accum_dtype='fp32+fp32', or install a cu128+ flavor of sageattention"
        )
    return pv_accum_dtype


_FP16_CUDA = _ExplicitKernel(
    "sageattn_qk_int8_pv_fp16_cuda", FP16_ACCUMS, (8, 0), False, "mma", "qk_int8_pv_fp16", "mma_fp16"
)
_FP8_CUDA = _ExplicitKernel(
    "sageattn_qk_int8_pv_fp8_cuda", FP8_ACCUMS, (8, 9), False, "mma", "qk_int8_pv_fp8", "mma_fp8", _resolve_fp8_accum
)
_FP8_SM90 = _ExplicitKernel(
    "sageattn_qk_int8_pv_fp8_cuda_sm90", SM90_ACCUMS, (9, 0), True, "sm90", "qk_int8_pv_fp8_sm90", "sm90"
)
_FP16_SM90 = _ExplicitKernel(
    "sageattn_qk_int8_pv_fp16_cuda_sm90", SM90_PV16_ACCUMS, (9, 0), True, "sm90", "qk_int8_pv16_sm90", "sm90"
)
_INT8_SM90 = _ExplicitKernel(
    "sageattn_qk_int8_pv_int8_cuda_sm90", SM90_PV_INT8_ACCUMS, (9, 0), True, "sm90", "qk_int8_pv_int8_sm90", "sm90"
)


def sageattn_qk_int8_pv_fp16_cuda(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    qk_quant_gran: str = "per_thread",
    sm_scale: float | None = None,
    pv_accum_dtype: str = "fp32",
    smooth_k: bool = True,
    smooth_v: bool = False,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """INT8 QK^T + FP16 PV (mma.sync), any GPU of sm_80 or newer."""
    return _call_explicit(
        _FP16_CUDA, q, k, v, kwargs, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran=qk_quant_gran,
        sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse,
    )


def sageattn_qk_int8_pv_fp8_cuda(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    qk_quant_gran: str = "per_thread",
    sm_scale: float | None = None,
    pv_accum_dtype: str | None = None,
    smooth_k: bool = True,
    smooth_v: bool = False,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """INT8 QK^T + FP8 e4m3 PV (mma.sync), sm_89 or newer.

    pv_accum_dtype None picks "fp32+fp16" when this build has the f16-accumulating FP8 MMA
    (nvcc >= 12.8), else "fp32+fp32".
    """
    return _call_explicit(
        _FP8_CUDA, q, k, v, kwargs, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran=qk_quant_gran,
        sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse,
    )


def sageattn_qk_int8_pv_fp8_cuda_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    qk_quant_gran: str = "per_thread",
    sm_scale: float | None = None,
    pv_accum_dtype: str = "fp32+fp32",
    smooth_k: bool = True,
    smooth_v: bool = False,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """INT8 QK^T + FP8 PV with wgmma/TMA: Hopper (sm_90) only."""
    return _call_explicit(
        _FP8_SM90, q, k, v, kwargs, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran=qk_quant_gran,
        sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse,
    )


def sageattn_qk_int8_pv_fp16_cuda_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    qk_quant_gran: str = "per_thread",
    sm_scale: float | None = None,
    pv_accum_dtype: str = "fp32",
    smooth_k: bool = True,
    smooth_v: bool = False,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """INT8 QK^T + FP16 PV with wgmma/TMA (PV in q's dtype: f16 or bf16), Hopper (sm_90) only: the accuracy of
    sageattn_qk_int8_pv_fp16_cuda at a speed near the FP8 kernel's. Head dims up to 256; V is read in place."""
    return _call_explicit(
        _FP16_SM90, q, k, v, kwargs, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran=qk_quant_gran,
        sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse,
    )


def sageattn_qk_int8_pv_int8_cuda_sm90(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    qk_quant_gran: str = "per_thread",
    sm_scale: float | None = None,
    pv_accum_dtype: str = "int32",
    smooth_k: bool = True,
    smooth_v: bool = False,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """INT8 QK^T + INT8 PV with wgmma/TMA, Hopper (sm_90) only (this project's addition; not in upstream): P~ in u8
    against a running max rounded up to a power of two, V in s8 per channel, O summed exactly in s32. The speed of
    the FP8 kernel with about two thirds of its error on flat (randn) rows, but several times its error on peaked rows
    (one u8 scale per row rounds their small probabilities to 0) and more on heavy-tailed V: use it only where rows
    are known to be flat (README, its paragraph). Head dims up to 256, at most 65 536 keys."""
    return _call_explicit(
        _INT8_SM90, q, k, v, kwargs, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran=qk_quant_gran,
        sm_scale=sm_scale, pv_accum_dtype=pv_accum_dtype, smooth_k=smooth_k, smooth_v=smooth_v, return_lse=return_lse,
    )


def sageattn_qk_int8_pv_fp16_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    quantization_backend: str = "triton",
    is_causal: bool = False,
    attn_mask: torch.Tensor | None = None,
    sm_scale: float | None = None,
    smooth_k: bool = True,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """Upstream's per-block Triton entry point. We ship no Triton kernel: the same algorithm runs on the
    CUDA FP16-PV kernel (per-warp scales). attn_mask is honoured through SDPA, with a warning."""
    fn = "sageattn_qk_int8_pv_fp16_triton"
    _no_extra(fn, kwargs)
    check_choice("quantization_backend", quantization_backend, ("triton", "cuda"))
    shapes, scale = _common(q, k, v, tensor_layout, is_causal, sm_scale, return_lse)
    if torch.compiler.is_compiling():  # one opaque op in the graph (sageattention/_compile.py)
        return _compile.attention(fn, q, k, v, tensor_layout, is_causal, scale, return_lse, attn_mask=attn_mask,
                                  smooth_k=smooth_k)
    if attn_mask is not None:
        _warn_once("attn_mask is not supported by the quantized kernels")
        return sdpa_attention(q, k, v, tensor_layout=tensor_layout, is_causal=is_causal, sm_scale=scale,
                              return_lse=return_lse, attn_mask=attn_mask)
    return sageattn_qk_int8_pv_fp16_cuda(
        q, k, v, tensor_layout=tensor_layout, is_causal=is_causal, qk_quant_gran="per_warp", sm_scale=scale,
        pv_accum_dtype="fp32", smooth_k=smooth_k, return_lse=return_lse,
    )


_FAMILY_ENTRY = {
    "sm90": sageattn_qk_int8_pv_fp8_cuda_sm90,
    "mma_fp8": sageattn_qk_int8_pv_fp8_cuda,
    "mma_fp16": sageattn_qk_int8_pv_fp16_cuda,
}
_FAMILY_SPEC = {spec.family: spec for spec in (_FP8_SM90, _FP8_CUDA, _FP16_CUDA)}


@functools.cache
def _option_defaults(family: str) -> dict[str, Any]:
    """The kernel options' defaults of the family's explicit entry point, read from its signature."""
    params = inspect.signature(_FAMILY_ENTRY[family]).parameters
    return {name: params[name].default for name in KERNEL_KWARGS}


def _run_family(
    family: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, checked: tuple[Shapes, float], *,
    tensor_layout: str, is_causal: bool, return_lse: bool, options: dict[str, Any], cache_key: tuple | None,
) -> Result:
    """What the family's explicit entry point does with these options, minus the input checks sageattn made."""
    return _call_explicit(
        _FAMILY_SPEC[family], q, k, v, {}, tensor_layout=tensor_layout, is_causal=is_causal, sm_scale=checked[1],
        return_lse=return_lse, checked=checked, cache_key=cache_key,
        **{**_option_defaults(family), **options},
    )


def _pick_family(q: torch.Tensor, skip: str | None = None) -> tuple[str | None, str]:
    return _family_for(_device.capability_of(q), skip)


@functools.cache
def _family_for(cap: tuple[int, int], skip: str | None) -> tuple[str | None, str]:
    """The kernel family sageattn runs on a GPU of this capability, other than `skip` (or None and why): fixed per
    process, since module loads and their failures are final (_lib.load), so it is worked out once, not per call."""
    families = [f for f in _device.preferred_families(cap) if f != skip]
    if not families:
        return None, f"GPU sm_{cap[0]}{cap[1]} is older than sm_80, which INT8 tensor-core MMA needs"
    for family in families:
        if _lib.load(family) and _family_module_ok(family):
            return family, ""
    return None, f"no kernel for sm_{cap[0]}{cap[1]} in this build ({_lib.error(families[0])})"


def _mma_family_that_fits(q: torch.Tensor, head_dim: int, family: str) -> tuple[str | None, str]:
    """`family`, else the GPU's other mma.sync family, if its kernel fits the shared memory one block may take at this
    head dim (sm_86, sm_89 and sm_12x give a block 99 KB, which today's kernels fit: kernels/mma.smem_problem); else
    None and why, and the call goes to SDPA."""
    from sageattention.kernels import mma  # loaded with its family

    problem = mma.smem_problem(q, head_dim, family == "mma_fp8")
    if problem is None:
        return family, ""
    other, _ = _pick_family(q, skip=family)
    if other in ("mma_fp16", "mma_fp8") and mma.smem_problem(q, head_dim, other == "mma_fp8") is None:
        return other, ""
    return None, problem


def _family_module_ok(family: str) -> bool:
    module = {"sm90": "sm90", "mma_fp8": "mma", "mma_fp16": "mma"}[family]
    try:
        __import__(f"sageattention.kernels.{module}")
    except ImportError:
        return False
    return True


def _sm90_default_accum(kv_len: int, head_dim: int) -> str:
    from sageattention.kernels import sm90  # loaded with its family (_pick_family chose sm90)

    return sm90.default_pv_accum(kv_len, head_dim)


def _short_kv_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str, is_causal: bool,
                   scale: float, cache_key: tuple | None) -> torch.Tensor:
    """SDPA for a call whose keys are too few for the quantized kernel to pay (_short_kv); remembered under
    cache_key like a kernel call, so that the model's next call of this signature comes straight here."""
    run = functools.partial(sdpa_attention, tensor_layout=tensor_layout, is_causal=is_causal, sm_scale=scale,
                            return_lse=False)
    result = run(q, k, v)
    if cache_key is not None:
        _call_cache.remember(cache_key, run)
    return result


def _scale_alias(sm_scale: float | None, kwargs: dict[str, Any]) -> float | None:
    """Takes SDPA's name `scale` out of kwargs: an alias of sm_scale."""
    if "scale" not in kwargs:
        return sm_scale
    alias = kwargs.pop("scale")
    if sm_scale is not None and alias is not None and alias != sm_scale:
        raise ValueError(f"sm_scale={sm_scale} and scale={alias} disagree; pass only one")
    return sm_scale if sm_scale is not None else alias


def sageattn(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    tensor_layout: str = "HND",
    is_causal: bool = False,
    sm_scale: float | None = None,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """Quantized attention with the best kernel for q's GPU; SDPA when the kernels can't serve, and for calls with
    too little work for the kernel's fixed costs to pay (sageattention/_short_kv.py, measured on sm_90: up to 1024
    keys, causal up to 2048, few queries per K/V head; the environment variable SAGEATTENTION_SHORT_KV_SDPA=0 keeps
    the kernel).

    Extra keywords: attn_mask / dropout_p (honoured via SDPA with a one-time warning), scale (alias of
    sm_scale), enable_gqa (SDPA's: GQA always runs; False with fewer k/v heads than q heads is SDPA's error), and
    the kernel options qk_quant_gran, pv_accum_dtype, smooth_k, smooth_v. Anything else is an error, never silently
    dropped.
    """
    cache_key = None
    if not torch.compiler.is_compiling():
        cache_key = _call_cache.key("sageattn", q, k, v, tensor_layout, is_causal, sm_scale, return_lse, kwargs)
        cached = _cached_call(cache_key, q, k, v)
        if cached is not None:
            return cached
    attn_mask = kwargs.pop("attn_mask", None)
    dropout_p = kwargs.pop("dropout_p", 0.0)
    enable_gqa = kwargs.pop("enable_gqa", None)
    sm_scale = _scale_alias(sm_scale, kwargs)
    unknown = sorted(set(kwargs) - set(KERNEL_KWARGS)) if kwargs else None
    if unknown:
        raise TypeError(
            f"sageattn() got unexpected keyword argument(s) {unknown}; accepted extras: "
            f"attn_mask, dropout_p, scale, enable_gqa, {', '.join(KERNEL_KWARGS)}"
        )
    _check_option_values(kwargs, SAGEATTN_ACCUMS)
    shapes, scale = _common(q, k, v, tensor_layout, is_causal, sm_scale, return_lse)
    if enable_gqa is not None:  # SDPA's keyword, for callers that swap sageattn in for it
        check_bool("enable_gqa", enable_gqa)
        if not enable_gqa and shapes.heads_q != shapes.heads_kv:
            raise ValueError(
                f"enable_gqa=False, but q has {shapes.heads_q} heads and k/v {shapes.heads_kv}; pass enable_gqa=True "
                f"(sageattn runs grouped-query attention natively) or give k and v {shapes.heads_q} heads")
    if not isinstance(dropout_p, (int, float)) or isinstance(dropout_p, bool) or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a float in [0, 1), got {dropout_p!r}")
    if attn_mask is not None and not isinstance(attn_mask, torch.Tensor):
        raise TypeError(f"attn_mask must be a torch.Tensor or None, got {type(attn_mask).__name__}")
    if torch.compiler.is_compiling():  # one opaque op in the graph (sageattention/_compile.py)
        return _compile.attention("sageattn", q, k, v, tensor_layout, is_causal, scale, return_lse,
                                  attn_mask=attn_mask, dropout_p=float(dropout_p), **kwargs)

    if shapes.kv_len == 0 and attn_mask is None:  # nothing to attend to: zeros and lse = -inf, never NaN
        return empty_kv_result(q, tensor_layout, return_lse)
    reason = None
    if attn_mask is not None:
        reason = "attn_mask is not supported by the quantized kernels"
    elif dropout_p > 0.0:
        reason = "dropout_p > 0 is not supported by the quantized (inference) kernels"
    else:
        reason = kernel_input_problem(q, shapes.head_dim)
    family = None
    if reason is None:
        family, reason = _pick_family(q)
    if family in ("mma_fp16", "mma_fp8"):
        family, reason = _mma_family_that_fits(q, shapes.head_dim, family)
    if family is None:
        _warn_once(reason)
        logger.debug("sageattention: path=sdpa (%s)", reason)
        if kwargs:
            logger.debug("sageattention: kernel options %s do not apply to the SDPA path", sorted(kwargs))
        return sdpa_attention(q, k, v, tensor_layout=tensor_layout, is_causal=is_causal, sm_scale=scale,
                              return_lse=return_lse, attn_mask=attn_mask, dropout_p=float(dropout_p))
    if _short_kv.takes_sdpa(family, shapes, is_causal, return_lse, kwargs):
        logger.debug("sageattention: path=sdpa (%d queries, %d keys: a measured region where SDPA is faster, %s)",
                     shapes.qo_len, shapes.kv_len, _short_kv.KNOB)
        return _short_kv_sdpa(q, k, v, tensor_layout, is_causal, scale, cache_key)
    entry = _FAMILY_ENTRY[family]
    if family == "sm90":
        try:
            sm90_kwargs = kwargs
            if kwargs.get("pv_accum_dtype") is None:  # left open: the faster accumulation
                sm90_kwargs = {**kwargs, "pv_accum_dtype": _sm90_default_accum(shapes.kv_len, shapes.head_dim)}
            logger.debug("sageattention: path=%s pv_accum_dtype=%s", entry.__name__, sm90_kwargs["pv_accum_dtype"])
            return _run_family(family, q, k, v, (shapes, scale), tensor_layout=tensor_layout, is_causal=is_causal,
                               return_lse=return_lse, options=sm90_kwargs, cache_key=cache_key)
        except NotImplementedError as exc:  # e.g. a head dim the wgmma kernel doesn't instantiate
            family, _ = _pick_family(q, skip="sm90")
            if family is None:
                raise
            logger.debug("sageattention: sm90 kernel declined (%s); using %s", exc, family)
            entry = _FAMILY_ENTRY[family]
    if family == "mma_fp16" and kwargs.get("pv_accum_dtype") in ("fp32+fp32", "fp32+fp16"):
        # An FP8-PV accumulation option on a GPU that runs FP16 PV: both mean fp32 accumulation.
        logger.debug("sageattention: pv_accum_dtype=%s maps to 'fp32' on the FP16-PV kernel", kwargs["pv_accum_dtype"])
        kwargs = {**kwargs, "pv_accum_dtype": "fp32"}
    if family == "mma_fp16" and kwargs.get("pv_accum_dtype") is None:  # left open: the faster one on this GPU
        kwargs = {**kwargs, "pv_accum_dtype": _device.fp16_pv_accum_of(q)}
    if family in ("mma_fp8", "sm90") and kwargs.get("pv_accum_dtype") in ("fp16+fp32", "fp16"):
        raise ValueError(
            f"pv_accum_dtype={kwargs['pv_accum_dtype']!r} is an FP16-PV option, but this GPU runs the FP8-PV "
            f"kernel; use 'fp32+fp32' (or call sageattn_qk_int8_pv_fp16_cuda explicitly)"
        )
    accum = kwargs.get("pv_accum_dtype")  # None: the explicit function's default or its own resolution
    logger.debug("sageattention: path=%s%s", entry.__name__, f" pv_accum_dtype={accum}" if accum else "")
    return _run_family(family, q, k, v, (shapes, scale), tensor_layout=tensor_layout, is_causal=is_causal,
                       return_lse=return_lse, options=kwargs, cache_key=cache_key)


def _check_cu_on_host(cu: torch.Tensor, name: str, total: int, max_seqlen: int) -> None:
    """The checks the runs path makes, for cu_seqlens that are on the host anyway (no device sync)."""
    c = cu.tolist()
    if c[0] != 0 or any(b < a for a, b in zip(c, c[1:])) or c[-1] != total:
        raise ValueError(f"{name} must start at 0, be non-decreasing and end at {total} (the packed length)")
    longest = max((b - a for a, b in zip(c, c[1:])), default=0)
    if longest > max_seqlen:
        raise ValueError(f"max_seqlen_{name[-1]}={max_seqlen} is smaller than the longest sequence {longest}")


def _packed_kernel(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_q: torch.Tensor, cu_k: torch.Tensor, max_q: Any,
    max_k: Any, options: dict[str, Any],
) -> tuple[str, Callable[..., Result]] | None:
    """The one-op varlen kernel of q's GPU when it takes this call (sm90's, else the mma.sync family's), with its
    family; None: the runs path. It never reads cu_seqlens on
    the GPU back to the host; CPU-resident cu_seqlens are checked as the runs path checks them.
    SAGEATTENTION_VARLEN_RUNS=1 takes the runs path (cu_seqlens read on the host, V's statistics per sequence too)
    instead."""
    if os.environ.get("SAGEATTENTION_VARLEN_RUNS") == "1" or kernel_input_problem(q, q.shape[-1]) is not None:
        return None
    if cu_q.numel() != cu_k.numel() or cu_q.numel() < 2:
        return None
    found = None
    family, _ = _pick_family(q)
    if family == "sm90":
        from sageattention.kernels import sm90  # loaded with its family

        if sm90.varlen_applies(q, k, v, options):
            found = family, sm90.varlen_sm90
        else:
            family, _ = _pick_family(q, skip="sm90")
    if found is None and family in ("mma_fp16", "mma_fp8"):
        from sageattention.kernels import mma

        fp8_pv = family == "mma_fp8"
        if mma.varlen_applies(q, k, v, options, fp8_pv):
            found = family, functools.partial(mma.varlen_mma, fp8_pv=fp8_pv)
    if found is None:
        return None
    for name, cu, total, m in (("cu_seqlens_q", cu_q, q.shape[0], max_q), ("cu_seqlens_k", cu_k, k.shape[0], max_k)):
        if cu.device.type == "cpu":
            _check_cu_on_host(cu, name, total, m)
    return found


def sageattn_varlen(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
    max_seqlen_q: int,
    max_seqlen_k: int,
    is_causal: bool = False,
    sm_scale: float | None = None,
    smooth_k: bool = True,
    return_lse: bool = False,
    **kwargs: Any,
) -> Result:
    """Packed sequences [total_tokens, H, D]; each sequence attends to its own keys. With return_lse, also
    lse [H, total_q].

    The whole pack is one op whatever the lengths (`sageattn_sm90_varlen` on sm_90, `sageattn_mma_f16_varlen` /
    `sageattn_mma_f8_varlen` on the mma.sync GPUs): cu_seqlens stay on the GPU (no device sync; their values are
    not checked there, and any values are memory safe), max_seqlen_q/k are not needed, and each sequence's K is
    smoothed with its own mean (upstream's varlen function uses one mean over the pack, which leaves sequences
    with different channel offsets poorly quantized); the LSE is corrected per sequence. V's per-channel FP8 scale
    (and smooth_v's mean, which the epilogue adds back exactly) span the pack. For options those kernels do not
    model (another pv_accum_dtype than the default, dropout, FP16 PV with a bf16 V or smooth_v), or with
    SAGEATTENTION_VARLEN_RUNS=1, cu_seqlens are read on the host and checked, all statistics are per sequence,
    and adjacent sequences of equal lengths run as one batched sageattn call (`_varlen`)."""
    check_packed(q, k, v)
    if "tensor_layout" in kwargs:
        raise TypeError("sageattn_varlen() takes no tensor_layout: packed inputs are [total_tokens, heads, head_dim]")
    if "attn_mask" in kwargs:
        raise TypeError("sageattn_varlen() takes no attn_mask: cu_seqlens_q/cu_seqlens_k separate the sequences; "
                        "for any other mask call sageattn(..., attn_mask=...) on each sequence")
    sm_scale = _scale_alias(sm_scale, kwargs)
    unknown = sorted(set(kwargs) - set(_compile.VARLEN_OPTIONS))
    if unknown:
        raise TypeError(f"sageattn_varlen() got unexpected keyword argument(s) {unknown}; accepted extras: "
                        f"scale, {', '.join(_compile.VARLEN_OPTIONS)}")
    check_bool("return_lse", return_lse)
    for name, cu in (("cu_seqlens_q", cu_seqlens_q), ("cu_seqlens_k", cu_seqlens_k)):
        int_dtype = isinstance(cu, torch.Tensor) and cu.dtype in (torch.int32, torch.int64)
        if not int_dtype or cu.dim() != 1 or cu.numel() < 1:
            raise ValueError(f"{name} must be a 1-D int32/int64 tensor of cumulative lengths starting at 0")
    if torch.compiler.is_compiling():  # one opaque op: the runs are planned from cu_seqlens' values
        return _compile.varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, is_causal,
                                         sm_scale, smooth_k, return_lse, **kwargs)
    check_max_seqlen("max_seqlen_q", max_seqlen_q)
    check_max_seqlen("max_seqlen_k", max_seqlen_k)
    packed = _packed_kernel(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, kwargs)
    if packed is not None:
        family, kernel = packed
        check_bool("is_causal", is_causal)
        options = {**_option_defaults(family), **{n: o for n, o in kwargs.items() if n in KERNEL_KWARGS}}
        _check_option_values({"qk_quant_gran": options["qk_quant_gran"], "smooth_k": smooth_k,
                              "smooth_v": options["smooth_v"]}, SAGEATTN_ACCUMS)
        scale = check_sm_scale(sm_scale, q.shape[-1])
        logger.debug("sageattention: path=%s varlen (one op for the pack)", family)

        def run() -> Result:
            run_kernel = _with_negated_q(kernel) if scale < 0 else kernel
            return run_kernel(q, k, v, cu_seqlens_q, cu_seqlens_k, is_causal=is_causal,
                              qk_quant_gran=options["qk_quant_gran"], sm_scale=scale, smooth_k=smooth_k,
                              smooth_v=options["smooth_v"], return_lse=return_lse)

        return run_guarded(run, q, k, v) if needs_guard(q, k, v) else run()
    lists = []
    for name, cu, total in (("cu_seqlens_q", cu_seqlens_q, q.shape[0]), ("cu_seqlens_k", cu_seqlens_k, k.shape[0])):
        c = cu.tolist()  # the runs are planned on the host: one device sync per tensor
        if c[0] != 0 or any(b < a for a, b in zip(c, c[1:])) or c[-1] != total:
            raise ValueError(f"{name} must start at 0, be non-decreasing and end at {total} (the packed length)")
        lists.append(c)
    cq, ck = lists
    if len(cq) != len(ck):
        raise ValueError(f"cu_seqlens_q and cu_seqlens_k must describe the same number of sequences, "
                         f"got {len(cq) - 1} and {len(ck) - 1}")
    lq = [b - a for a, b in zip(cq, cq[1:])]
    lk = [b - a for a, b in zip(ck, ck[1:])]
    if lq and max(lq) > max_seqlen_q:
        raise ValueError(f"max_seqlen_q={max_seqlen_q} is smaller than the longest query sequence {max(lq)}")
    if lk and max(lk) > max_seqlen_k:
        raise ValueError(f"max_seqlen_k={max_seqlen_k} is smaller than the longest key sequence {max(lk)}")

    def attend(qs: torch.Tensor, ks: torch.Tensor, vs: torch.Tensor) -> Result:
        return sageattn(qs, ks, vs, tensor_layout="NHD", is_causal=is_causal, sm_scale=sm_scale,
                        return_lse=return_lse, smooth_k=smooth_k, **kwargs)

    return packed_attention(q, k, v, cq, ck, attend, return_lse)
