"""Input checks for the public API. Every error names the argument and what was expected."""

from __future__ import annotations

import dataclasses
import math
import numbers

import torch

from sageattention._layout import LAYOUT_CODES

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16)
# What any path takes: the kernels' dtypes, and the float ones SDPA alone runs (with one warning).
ACCEPTED_DTYPES = SUPPORTED_DTYPES + (torch.float32, torch.float64)
MAX_HEAD_DIM = 256


@dataclasses.dataclass(frozen=True)
class Shapes:
    batch: int
    heads_q: int
    heads_kv: int
    qo_len: int
    kv_len: int
    head_dim: int


def check_layout(tensor_layout: object) -> str:
    if tensor_layout not in LAYOUT_CODES:
        raise ValueError(
            f"tensor_layout must be 'HND' (batch, heads, seq, head_dim) or 'NHD' (batch, seq, heads, head_dim), "
            f"got {tensor_layout!r}"
        )
    return str(tensor_layout)


def _check_dtype_and_device(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k and v must share one dtype, got q={q.dtype}, k={k.dtype}, v={v.dtype}")
    if q.dtype not in ACCEPTED_DTYPES:
        raise TypeError(f"q, k and v must be float16 or bfloat16 (the kernels' dtypes; float32 and float64 run on "
                        f"SDPA), got {q.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k and v must be on one device, got q={q.device}, k={k.device}, v={v.device}")


def _check_head_dims_and_groups(d_q: int, d_kv: int, hq: int, hkv: int, heads_from: str) -> None:
    """Equal head dims, not 0, and query heads a multiple of the key/value heads. heads_from: where the heads are
    read from, for the GQA message."""
    if d_q != d_kv:
        raise ValueError(f"head-dim mismatch: q has head_dim {d_q} but k/v have {d_kv}; they must be equal")
    # Attention over no channels: every score 0. The kernels' errors for it were C++ ones, each its own, and SDPA's
    # answer differs by backend; one error here instead.
    if d_q == 0:
        raise ValueError("head_dim is 0 (q, k and v have no channels); it must be at least 1")
    if hkv == 0 or hq % hkv != 0:
        raise ValueError(f"GQA/MQA needs num_q_heads % num_kv_heads == 0, got {hq} query heads and {hkv} key/value "
                         f"heads ({heads_from})")


def check_packed(q: object, k: object, v: object) -> None:
    """sageattn_varlen's structural checks, in its terms: q [total_q, heads_q, head_dim], k and v [total_k, heads_kv,
    head_dim]. (Its runs path views each run as a batch of one, whose errors would name those views' shapes.)"""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 3:
            raise ValueError(f"{name} must be a 3-D packed tensor [total_tokens, heads, head_dim]")
    assert isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and isinstance(v, torch.Tensor)
    _check_dtype_and_device(q, k, v)
    if k.shape != v.shape:
        raise ValueError(f"k and v must have the same shape [total_k, heads_kv, head_dim], got k={tuple(k.shape)}, "
                         f"v={tuple(v.shape)}")
    _check_head_dims_and_groups(q.shape[2], k.shape[2], q.shape[1], k.shape[1], "packed tensors read heads from dim 1")


def check_max_seqlen(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value


def check_qkv(q: object, k: object, v: object, tensor_layout: str) -> Shapes:
    """Structural checks shared by every path (kernels and the SDPA fallback).

    Every call of sageattn runs these, so each shape is read once (a `t.shape` builds a new torch.Size)."""
    layout = check_layout(tensor_layout)
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            dims = "(batch, heads, seq, head_dim)" if layout == "HND" else "(batch, seq, heads, head_dim)"
            raise ValueError(f"{name} must be 4-D {dims} for tensor_layout={layout!r}, got shape {tuple(t.shape)}")
    assert isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and isinstance(v, torch.Tensor)
    _check_dtype_and_device(q, k, v)
    qs, ks, vs = q.shape, k.shape, v.shape
    if ks != vs:
        raise ValueError(f"k and v must have the same shape, got k={tuple(ks)}, v={tuple(vs)}")
    hd = 1 if layout == "HND" else 2
    nd = 2 if layout == "HND" else 1
    if qs[0] != ks[0]:
        raise ValueError(f"q and k must have the same batch size, got {qs[0]} and {ks[0]}")
    hq, hkv = qs[hd], ks[hd]
    _check_head_dims_and_groups(qs[3], ks[3], hq, hkv, f"tensor_layout={layout!r} reads heads from dim {hd}")
    if qs[3] > 1:
        for name, t in (("q", q), ("k", k), ("v", v)):
            if t.stride(3) != 1:
                raise ValueError(
                    f"{name} must be contiguous in its last (head_dim) dimension; call {name}.contiguous()")
    return Shapes(qs[0], hq, hkv, qs[nd], ks[nd], qs[3])


def check_sm_scale(sm_scale: object, head_dim: int) -> float:
    if sm_scale is None:
        return 1.0 / math.sqrt(head_dim) if head_dim > 0 else 1.0
    # numbers.Real: numpy's scalars too (a scale computed as np.float32(d) ** -0.5); bool is refused.
    if isinstance(sm_scale, bool) or not isinstance(sm_scale, numbers.Real):
        raise TypeError(f"sm_scale must be a float or None, got {type(sm_scale).__name__}")
    if not math.isfinite(sm_scale):
        raise ValueError(f"sm_scale must be finite, got {sm_scale}")
    return float(sm_scale)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return str(value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def kernel_input_problem(q: torch.Tensor, head_dim: int) -> str | None:
    """Why the CUDA kernels can't take these inputs (None if they can); the SDPA fallback's reasons."""
    if q.device.type != "cuda":
        return f"inputs on {q.device.type}, the kernels need CUDA tensors"
    if q.dtype not in SUPPORTED_DTYPES:
        return f"dtype {q.dtype}, the kernels take float16 or bfloat16"
    if head_dim > MAX_HEAD_DIM:
        return f"head_dim {head_dim}, the kernels support up to {MAX_HEAD_DIM}"
    return None
