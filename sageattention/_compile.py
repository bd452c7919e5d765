"""torch.compile: under Dynamo, every public entry point is one opaque custom op.

The eager entry points choose a kernel from the GPU (capability, which modules loaded), log, warn,
and sageattn_varlen reads cu_seqlens on the host; Dynamo would break the graph at each of these, and
inlining them would turn host-side choices into guards. So once an entry point has checked its
arguments (plain Python on tensor metadata, which Dynamo traces, so a bad argument fails at trace
time with the eager message), it calls ``sageattention::attention`` or
``sageattention::varlen_attention`` when ``torch.compiler.is_compiling()``:

- the fake gives the output shapes from the arguments alone (out like q, contiguous; lse [B, Hq, Nq]
  or [H, total_q]), so it holds for symbolic (dynamic) shapes;
- the implementation is the eager entry point, with the options the caller gave.

Options travel as "None = not given", so the eager entry point applies its own defaults. Outputs
are made contiguous so the real strides are the fake's in every path (the SDPA fallback's are not).
The eager path captures into CUDA graphs (mode="reduce-overhead"); the varlen op reads cu_seqlens on
the host, so it is tagged cudagraph_unsafe where torch has that tag.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from sageattention._inference_only import NO_BACKWARD

Result = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

# The kernels' options, which sageattn forwards to the kernel it picks (upstream passes **kwargs through).
KERNEL_OPTIONS = ("qk_quant_gran", "pv_accum_dtype", "smooth_k", "smooth_v")
# Options an entry point may take besides q, k, v, tensor_layout, is_causal, sm_scale, return_lse; the
# op's schema has one optional slot for each.
OPTIONS = ("attn_mask", "dropout_p", *KERNEL_OPTIONS)
# What sageattn_varlen forwards to each run's sageattn call (smooth_k is one of its parameters).
VARLEN_OPTIONS = ("dropout_p", *(name for name in KERNEL_OPTIONS if name != "smooth_k"))

_ATTENTION_SCHEMA = (
    "(str entry, Tensor q, Tensor k, Tensor v, str tensor_layout, bool is_causal, float sm_scale, bool return_lse, "
    "Tensor? attn_mask, float? dropout_p, str? qk_quant_gran, str? pv_accum_dtype, bool? smooth_k, bool? smooth_v)"
    " -> (Tensor, Tensor)"
)
_VARLEN_SCHEMA = (
    "(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, SymInt max_seqlen_q, "
    "SymInt max_seqlen_k, bool is_causal, float? sm_scale, bool smooth_k, bool return_lse, float? dropout_p, "
    "str? qk_quant_gran, str? pv_accum_dtype, bool? smooth_v) -> (Tensor, Tensor)"
)


# The entry points the two ops run (sageattn_varlen through varlen_attention, the others through attention).
ENTRIES = ("sageattn", "sageattn_qk_int8_pv_fp16_cuda", "sageattn_qk_int8_pv_fp16_cuda_sm90",
           "sageattn_qk_int8_pv_fp16_triton", "sageattn_qk_int8_pv_fp8_cuda", "sageattn_qk_int8_pv_fp8_cuda_sm90",
           "sageattn_qk_int8_pv_int8_cuda_sm90", "sageattn_varlen")


def _entry(name: str) -> Callable[..., Result]:
    from sageattention import core  # core imports this module

    if name not in ENTRIES:
        raise ValueError(f"sageattention::attention: entry must be one of {ENTRIES}, got {name!r}")
    return getattr(core, name)


def _no_lse(q: torch.Tensor) -> torch.Tensor:
    return q.new_empty((0,), dtype=torch.float32)


def _split(result: Result, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out, lse = result if isinstance(result, tuple) else (result, _no_lse(q))
    return out.contiguous(), lse.contiguous()


def _given(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return {name: value for name, value in zip(names, values) if value is not None}


def _tags() -> tuple[torch.Tag, ...]:
    tag = getattr(torch.Tag, "cudagraph_unsafe", None)
    return (tag,) if tag is not None else ()


_lib = torch.library.Library("sageattention", "FRAGMENT")  # noqa: TOR901 (the C++ modules define the other ops)
_lib.define("attention" + _ATTENTION_SCHEMA)
_lib.define("varlen_attention" + _VARLEN_SCHEMA, tags=_tags())


def _attention_impl(
    entry: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str, is_causal: bool,
    sm_scale: float, return_lse: bool, *options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():  # the op's own autograd formula applies; the eager entry must record nothing
        result = _entry(entry)(q, k, v, tensor_layout=tensor_layout, is_causal=is_causal, sm_scale=sm_scale,
                               return_lse=return_lse, **_given(OPTIONS, options))
    return _split(result, q)


def _attention_fake(
    entry: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str, is_causal: bool,
    sm_scale: float, return_lse: bool, *options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    out = q.new_empty(q.shape)
    if not return_lse:
        return out, _no_lse(q)
    heads, seq = (q.shape[1], q.shape[2]) if tensor_layout == "HND" else (q.shape[2], q.shape[1])
    return out, q.new_empty((q.shape[0], heads, seq), dtype=torch.float32)


def _varlen_impl(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
    max_seqlen_q: int, max_seqlen_k: int, is_causal: bool, sm_scale: float | None, smooth_k: bool,
    return_lse: bool, *options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():  # as in _attention_impl
        result = _entry("sageattn_varlen")(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                                           is_causal=is_causal, sm_scale=sm_scale, smooth_k=smooth_k,
                                           return_lse=return_lse, **_given(VARLEN_OPTIONS, options))
    return _split(result, q)


def _varlen_fake(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
    max_seqlen_q: int, max_seqlen_k: int, is_causal: bool, sm_scale: float | None, smooth_k: bool,
    return_lse: bool, *options: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    out = q.new_empty(q.shape[:-1] + v.shape[-1:])
    lse = q.new_empty((q.shape[1], q.shape[0]), dtype=torch.float32) if return_lse else _no_lse(q)
    return out, lse


_lib.impl("attention", _attention_impl, "CompositeExplicitAutograd")
_lib.impl("varlen_attention", _varlen_impl, "CompositeExplicitAutograd")
torch.library.register_fake("sageattention::attention", _attention_fake, lib=_lib)
torch.library.register_fake("sageattention::varlen_attention", _varlen_fake, lib=_lib)


# No backward: the kernels are inference-only. Without an autograd formula the compiled op would silently return no
# gradient for q, k, v. The error must come when backward runs, not when AOTAutograd traces the joint graph of a
# model whose inputs merely require grad (inference without no_grad), so backward calls an op whose fake gives the
# gradients' shapes and whose implementation raises.
_lib.define("no_backward(Tensor grad, SymInt[] q_shape, SymInt[] k_shape, SymInt[] v_shape) -> (Tensor, Tensor, Tensor)")


def _no_backward_impl(grad: torch.Tensor, *shapes: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    raise RuntimeError(NO_BACKWARD)


def _no_backward_fake(grad: torch.Tensor, *shapes: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    q, k, v = (grad.new_empty(shape) for shape in shapes)
    return q, k, v


def _saves_shapes(first: int) -> Callable[[Any, tuple[Any, ...], Any], None]:
    """setup_context of an op whose q, k, v are its inputs first .. first + 2."""

    def setup(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.shapes = tuple(t.shape for t in inputs[first:first + 3])
        ctx.first, ctx.n_inputs = first, len(inputs)

    return setup


def _backward(ctx: Any, grad_out: torch.Tensor, grad_lse: torch.Tensor) -> tuple[Any, ...]:
    gq, gk, gv = torch.ops.sageattention.no_backward(grad_out, *ctx.shapes)
    grads: list[Any] = [None] * ctx.n_inputs
    grads[ctx.first:ctx.first + 3] = [gq, gk, gv]
    return tuple(grads)


_lib.impl("no_backward", _no_backward_impl, "CompositeExplicitAutograd")
torch.library.register_fake("sageattention::no_backward", _no_backward_fake, lib=_lib)
torch.library.register_autograd("sageattention::attention", _backward, setup_context=_saves_shapes(1), lib=_lib)
torch.library.register_autograd("sageattention::varlen_attention", _backward, setup_context=_saves_shapes(0), lib=_lib)


def attention(
    entry: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str, is_causal: bool,
    sm_scale: float, return_lse: bool, **options: Any,
) -> Result:
    """The traced form of an entry point whose arguments were checked; options by name (OPTIONS)."""
    out, lse = torch.ops.sageattention.attention(
        entry, q, k, v, tensor_layout, is_causal, sm_scale, return_lse, *(options.get(name) for name in OPTIONS))
    return (out, lse) if return_lse else out


def varlen_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens_q: torch.Tensor, cu_seqlens_k: torch.Tensor,
    max_seqlen_q: int, max_seqlen_k: int, is_causal: bool, sm_scale: float | None, smooth_k: bool,
    return_lse: bool, **options: Any,
) -> Result:
    """The traced form of sageattn_varlen; options by name (VARLEN_OPTIONS)."""
    out, lse = torch.ops.sageattention.varlen_attention(
        q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, is_causal, sm_scale, smooth_k, return_lse,
        *(options.get(name) for name in VARLEN_OPTIONS))
    return (out, lse) if return_lse else out
