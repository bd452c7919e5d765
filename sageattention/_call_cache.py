"""Repeated calls skip the Python above the kernel function.

A model calls attention with the same shapes, strides, dtypes and options at every step, and for a short call
(cross-attention to 77 text tokens, a 1K-token level) the checks and the dispatch in Python cost more host time
than the GPU spends (bench/results/short_calls_h200_s18.log). Every decision those layers make is a function of
what ``key`` records: the argument types and values, and the tensors' shapes, strides, dtypes and devices (never
their data or addresses). So once a call with some key has passed them and reached its kernel function, a later
call with an equal key goes straight to that function with the same resolved options. The kernel function still
makes its own per-call choices (the fused op, aligned rows). Calls that fell back to SDPA (inputs the kernels
cannot take) are never recorded, so their one-time warning and fallback stay as they were; calls that `sageattn`
gives to SDPA because they carry too little work for the kernel to pay (_short_kv) are, like kernel calls.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

Run = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Any]

_SIMPLE = frozenset((str, bool, int, float, type(None)))  # option values the key can hold and compare
_SCALES = frozenset((int, float, type(None)))  # sm_scale's (bool is refused by the checks, and is its own type)
MAX_ENTRIES = 512  # distinct call signatures kept; a model has a handful (one per attention shape)

_runs: dict[tuple, Run] = {}


def key(entry: str, q: object, k: object, v: object, tensor_layout: object, is_causal: object, sm_scale: object,
        return_lse: object, options: dict[str, Any]) -> tuple | None:
    """The call's signature, or None for a call that is never cached (tensor subclasses, arguments of other
    types). Types are part of the key: True == 1 == 1.0 in Python, but the checks accept only some of them. Built
    on every call, so written for speed (~1.5 us)."""
    tensor = torch.Tensor
    if q.__class__ is not tensor or k.__class__ is not tensor or v.__class__ is not tensor:
        return None
    if (tensor_layout.__class__ is not str or is_causal.__class__ is not bool or return_lse.__class__ is not bool
            or sm_scale.__class__ not in _SCALES):
        return None
    opts: tuple = ()
    if options:
        for value in options.values():
            if value.__class__ not in _SIMPLE:
                return None
        opts = tuple((name, value.__class__, value) for name, value in options.items())
    return (entry, tensor_layout, is_causal, sm_scale.__class__, sm_scale, return_lse, opts, q.shape, k.shape,
            v.shape, q.stride(), k.stride(), v.stride(), q.dtype, k.dtype, v.dtype, q.device, k.device, v.device)


def lookup(call_key: tuple) -> Run | None:
    return _runs.get(call_key)


def remember(call_key: tuple, run: Run) -> None:
    if len(_runs) >= MAX_ENTRIES:  # shapes that keep changing: start over rather than grow without bound
        _runs.clear()
    _runs[call_key] = run


def clear() -> None:
    _runs.clear()
