"""Calls with too little work for 8-bit attention to pay: `sageattn` gives them to PyTorch SDPA.

With kv_len keys, attention does 4 * kv_len * D FLOPs per query row against 4 * D bytes that SDPA must move for it
(the row of Q read and of O written, fp16/bf16), so below a few hundred keys it is bound by memory on every GPU this
package runs on, and a faster matmul cannot help. The quantized path moves more bytes than that, not fewer: its
quantization pass reads Q (2 bytes per element) and writes it as INT8 (1), and the kernel reads that (1) and
writes O (2), 6 bytes against SDPA's 4, besides its fixed costs per work item. So where the keys are few, SDPA is
both faster and exact. Past that, the kernel's fixed costs still lose where they are shared by little work: per work
item (128 queries against every key, so items of causal calls average half the keys) and per K/V head (its
quantization reads K and V once for all the queries of the head's group, so few queries per K/V head pay it almost
alone). Where each of those turns over was measured per kernel family and head dim (`bench/short_kv_route.py`), and
`sageattn` routes a call to SDPA only inside a measured region (MEASURED_REGIONS), and only where the SDPA call is
the plain one (no LSE, no bottom-right causal mask tensor: causal with equal lengths, or a single query, which sees
every key; GQA goes through SDPA's enable_gqa) and the caller left the kernel options to `sageattn`.

SAGEATTENTION_SHORT_KV_SDPA: `auto` (default; the measured rule), `0` (never: always the quantized kernel), or a key
count n (SDPA for every such call with at most n keys, on any GPU). Read when `sageattn` first sees a call's
signature; the call cache (_call_cache) keeps the decision for the repeats.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sageattention._layout import padded_head_dim
from sageattention._validate import Shapes

KNOB = "SAGEATTENTION_SHORT_KV_SDPA"


def query_key_pairs(shapes: Shapes) -> int:
    """Query-key pairs of a call, B * Hq * Nq * Nkv (causal ones included): the work its fixed costs are shared by."""
    return shapes.batch * shapes.heads_q * shapes.qo_len * shapes.kv_len


@dataclass(frozen=True)
class Region:
    """Calls that SDPA served faster than the quantized kernel at every measured shape, within the timer's noise: all
    bounds must hold (None leaves that quantity unbounded). `evidence` is the measured range of the kernel's time over
    SDPA's."""

    head_dims: tuple[int, ...]  # padded head dims it was measured at
    max_kv: int | None = None
    causal: bool | None = None  # SDPA's flag (plain_causal): True causal, equal lengths; False no mask; None both
    max_pairs: int | None = None  # batch * heads_q * qo_len * kv_len: the call's query-key pairs
    max_queries_per_kv_head: int | None = None  # qo_len * heads_q / heads_kv: what the K/V quantization is shared by
    evidence: str = ""

    def holds(self, shapes: Shapes, is_causal: bool) -> bool:
        """Whether a plain call of these shapes lies inside the region."""
        queries_per_kv_head = shapes.qo_len * shapes.heads_q // max(shapes.heads_kv, 1)
        return (padded_head_dim(shapes.head_dim) in self.head_dims
                and (self.causal is None or self.causal == is_causal)
                and (self.max_kv is None or shapes.kv_len <= self.max_kv)
                and (self.max_pairs is None or query_key_pairs(shapes) <= self.max_pairs)
                and (self.max_queries_per_kv_head is None or queries_per_kv_head <= self.max_queries_per_kv_head))

    def describe(self) -> str:
        bounds = [f"D{'/'.join(map(str, self.head_dims))}"]
        if self.causal is not None:
            bounds.append("causal" if self.causal else "non-causal")
        if self.max_kv is not None:
            bounds.append(f"<= {self.max_kv} keys")
        if self.max_pairs is not None:
            bounds.append(f"<= {self.max_pairs:_} query-key pairs".replace("_", " "))
        if self.max_queries_per_kv_head is not None:
            bounds.append(f"<= {self.max_queries_per_kv_head} queries per K/V head")
        return ", ".join(bounds)


# Per kernel family, where SDPA was faster (bench/short_kv_route.py on the lent H100: bench/results/
# short_kv_route*_h100_s36.md for up to 2 048 keys, short_kv_grid*_h100_s37.md and short_kv_edges*_h100_s37.md
# beyond; bench/short_kv_evidence.py reads them back per region, which tests/cpu/test_short_kv.py checks). The
# kernel's fixed costs are per work item (128 queries against all keys) and per K/V head (its quantization), so it
# loses where items have few keys (causal items average half the keys) or where few queries share each K/V head.
# The one call inside a region below 1.0 (B8 H32 1024x4096 D128: 0.98 in fp16, 1.05 in bf16, 1.04 / 1.13 on another
# lease) is within the timer's noise.
# Families not listed were not measured on their own GPUs and keep the quantized kernel for every call (the knob's n
# routes them too).
MEASURED_REGIONS: dict[str, tuple[Region, ...]] = {
    "sm90": (
        Region((64, 128, 256), max_kv=1024, evidence="1.02-2.76x"),
        Region((64, 128, 256), causal=True, max_kv=2048, evidence="1.13-2.11x"),
        Region((64,), causal=True, max_kv=3072, evidence="1.11-2.11x"),
        Region((64, 128), causal=False, max_kv=2048, max_pairs=400_000_000, evidence="1.02-2.76x"),
        Region((64, 128, 256), causal=False, max_queries_per_kv_head=1024, evidence="0.98-6.75x"),
    ),
}


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


def plain_causal(shapes: Shapes, is_causal: bool) -> bool | None:
    """SDPA's is_causal for the call's mask where SDPA needs no mask tensor, else None. The mask is bottom-right
    aligned: with equal lengths that is SDPA's own causal mask, and a single query sees every key (a decode step)."""
    if not is_causal or shapes.qo_len == 1:
        return False
    return True if shapes.qo_len == shapes.kv_len else None


def takes_sdpa(family: str, shapes: Shapes, is_causal: bool, return_lse: bool, options: dict[str, Any]) -> bool:
    """Whether `sageattn` runs this call, which `family`'s kernel could take, on SDPA instead."""
    if any(value is not None for value in options.values()) or return_lse:
        return False
    if shapes.batch == 0 or shapes.heads_q == 0 or shapes.qo_len == 0:  # the kernel path answers those itself
        return False
    causal = plain_causal(shapes, is_causal)
    if causal is None:  # SDPA would need a bottom-right mask tensor: not its fast path
        return False
    limit = knob_limit()
    if limit is None:
        return any(region.holds(shapes, causal) for region in MEASURED_REGIONS.get(family, ()))
    return shapes.kv_len <= limit


def describe() -> dict[str, Any]:
    """The route's setting and the measured limits, for build_info (a bad setting is reported, not raised)."""
    raw = os.environ.get(KNOB, "auto")
    try:
        limit = knob_limit()
    except ValueError as exc:
        return {KNOB: raw, "error": str(exc)}
    if limit is None:
        rule = {family: [r.describe() for r in regions] for family, regions in MEASURED_REGIONS.items()}
        return {KNOB: raw, "sdpa_for": rule or "no family (none measured)"}
    return {KNOB: raw, "sdpa_for": f"<= {limit} keys, every family" if limit else "never"}
