"""Calls whose keys are too few for 8-bit attention to pay: `sageattn` gives them to PyTorch SDPA.

With kv_len keys, attention does 4 * kv_len * D FLOPs per query row against 4 * D bytes that SDPA must move for it
(the row of Q read and of O written, fp16/bf16), so below a few hundred keys it is bound by memory on every GPU this
package runs on, and a faster matmul cannot help. The quantized path moves more bytes than that, not fewer: its
quantization pass reads Q (2 bytes per element) and writes it as INT8 (1), and the kernel reads that (1) and
writes O (2), 6 bytes against SDPA's 4, besides its fixed costs per work item. So where the keys are few, SDPA is
both faster and exact. Where that turns over was measured per kernel family and head dim (`bench/short_kv_route.py`),
and `sageattn` routes a call to SDPA only below it, and only where the SDPA call is the plain one (no LSE, no
bottom-right causal mask; GQA goes through SDPA's enable_gqa) and the caller left the kernel options to `sageattn`.

SAGEATTENTION_SHORT_KV_SDPA: `auto` (default; the measured rule), `0` (never: always the quantized kernel), or a key
count n (SDPA for every such call with at most n keys, on any GPU). Read when `sageattn` first sees a call's
signature; the call cache (_call_cache) keeps the decision for the repeats.
"""

from __future__ import annotations

import os
from typing import Any

from sageattention._layout import padded_head_dim
from sageattention._validate import Shapes

KNOB = "SAGEATTENTION_SHORT_KV_SDPA"

# Per kernel family: the largest kv_len that SDPA serves, by padded head dim (bench/short_kv_route.py on the lent
# H100, bench/results/short_kv_route_h100_s36.md). Families not listed were not measured on their own GPUs and keep
# the quantized kernel at every length (the knob's n routes them too).
MEASURED_LIMITS: dict[str, dict[int, int]] = {"sm90": {64: 1024, 128: 1024, 256: 1024}}


def knob_limit() -> int | None:
    """None: the measured rule (`auto`); 0: never SDPA; n > 0: SDPA for up to n keys."""
    raw = os.environ.get(KNOB, "auto").strip().lower()
    if raw in ("", "auto"):
        return None
    try:
        limit = int(raw)
    except ValueError:
        limit = -1
    if limit < 0:
        raise ValueError(
            f"{KNOB} must be 'auto' (the measured rule), 0 (always the quantized kernel) or a key count n > 0 "
            f"(SDPA for calls of at most n keys); got {raw!r}"
        )
    return limit


def measured_limit(family: str, head_dim: int) -> int:
    return MEASURED_LIMITS.get(family, {}).get(padded_head_dim(head_dim), 0)


def takes_sdpa(family: str, shapes: Shapes, is_causal: bool, return_lse: bool, options: dict[str, Any]) -> bool:
    """Whether `sageattn` runs this call, which `family`'s kernel could take, on SDPA instead."""
    if any(value is not None for value in options.values()) or return_lse:
        return False
    if shapes.batch == 0 or shapes.heads_q == 0 or shapes.qo_len == 0:  # the kernel path answers those itself
        return False
    if is_causal and shapes.qo_len != shapes.kv_len:  # SDPA would need a bottom-right mask tensor: not its fast path
        return False
    limit = knob_limit()
    if limit is None:
        limit = measured_limit(family, shapes.head_dim)
    return shapes.kv_len <= limit


def describe() -> dict[str, Any]:
    """The route's setting and the measured limits, for build_info (a bad setting is reported, not raised)."""
    raw = os.environ.get(KNOB, "auto")
    try:
        limit = knob_limit()
    except ValueError as exc:
        return {KNOB: raw, "error": str(exc)}
    if limit is None:
        rule = {family: {f"D{d}": f"<= {n} keys" for d, n in dims.items()} for family, dims in MEASURED_LIMITS.items()}
        return {KNOB: raw, "sdpa_for": rule or "no family (none measured)"}
    return {KNOB: raw, "sdpa_for": f"<= {limit} keys, every family" if limit else "never"}
