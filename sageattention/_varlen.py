"""Packed (varlen) attention as few batched calls.

Adjacent sequences with the same (q length, kv length) are one batch: a zero-copy view of the pack
[n * L, H, D] as [n, L, H, D]. A pack of equal-length sequences (a batch flattened for a varlen API)
is then one kernel call instead of one call per sequence, each of which costs ~0.1 ms of host work
and launches too few CTAs to fill the GPU. Non-adjacent equal lengths stay separate calls: gathering
them costs a copy of Q, K, V and O, which only pays for many short sequences. Every sequence keeps
its own smoothing mean: the kernels take it per batch row and head.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from sageattention._layout import rows_16b_aligned

Result = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
# attend(q, k, v) on [n, L, H, D] batches (NHD) -> out, or (out, lse [n, H, L]) when lse was asked for
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Result]


@dataclasses.dataclass(frozen=True)
class Run:
    """Sequences first .. first + count - 1 of the pack, all of q_len queries and kv_len keys."""

    first: int
    count: int
    q_len: int
    kv_len: int


def equal_length_runs(cu_q: list[int], cu_k: list[int]) -> list[Run]:
    """Maximal runs of adjacent sequences with equal (q length, kv length); sequences without queries
    produce no rows and are left out."""
    runs: list[Run] = []
    for i in range(len(cu_q) - 1):
        lq, lk = cu_q[i + 1] - cu_q[i], cu_k[i + 1] - cu_k[i]
        if lq == 0:
            continue
        last = runs[-1] if runs else None
        if last is not None and last.first + last.count == i and (last.q_len, last.kv_len) == (lq, lk):
            runs[-1] = dataclasses.replace(last, count=last.count + 1)
        else:
            runs.append(Run(i, 1, lq, lk))
    return runs


def packed_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_q: list[int],
    cu_k: list[int],
    attend: Attend,
    return_lse: bool,
) -> Result:
    """Runs `attend` once per run and writes the results into the pack.

    Returns out [total_q, H, Dv] and, with return_lse, lse [H, total_q] (float32, natural log; -inf
    for rows with no visible key), the packed layout of FlashAttention's varlen functions.
    """
    out = q.new_empty(q.shape[:-1] + v.shape[-1:])
    lse = q.new_empty((q.shape[1], q.shape[0]), dtype=torch.float32) if return_lse else None
    for run in equal_length_runs(cu_q, cu_k):
        rows = slice(cu_q[run.first], cu_q[run.first] + run.count * run.q_len)
        keys = slice(cu_k[run.first], cu_k[run.first] + run.count * run.kv_len)
        result = attend(q[rows].unflatten(0, (run.count, run.q_len)), k[keys].unflatten(0, (run.count, run.kv_len)),
                        v[keys].unflatten(0, (run.count, run.kv_len)))
        o, run_lse = result if isinstance(result, tuple) else (result, None)
        out[rows] = o.flatten(0, 1)
        if lse is not None and run_lse is not None:
            lse[:, rows] = run_lse.transpose(0, 1).flatten(1, 2)
    return (out, lse) if lse is not None else out


def packed_inputs_fit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, options: dict[str, object],
                      accums: tuple[object, ...], max_head_dim: int) -> bool:
    """What every one-op varlen kernel needs: an accumulation it runs (`accums`, None: left open) and no dropout;
    q and k of one dtype, q, k and v of one head dim (<= max_head_dim), k and v of one shape, whole K/V head groups, tokens in
    both packs, and rows it loads 16 bytes at a time (the only loads compiled for packs)."""
    if options.get("pv_accum_dtype") not in accums or options.get("dropout_p") not in (None, 0, 0.0):
        return False
    d = q.shape[-1]
    if k.dtype != q.dtype or k.shape[-1] != d or v.shape[-1] != d or d > max_head_dim:
        return False
    if k.shape[:2] != v.shape[:2] or k.shape[1] == 0 or q.shape[1] % k.shape[1] != 0:
        return False
    return q.shape[0] > 0 and k.shape[0] > 0 and all(rows_16b_aligned(t) for t in (q, k, v))


def device_offsets(cu: torch.Tensor, device: torch.device) -> torch.Tensor:
    """cu_seqlens as the one-op kernels read them: int32, contiguous, on q's GPU (no copy for such tensors, and
    never a read on the host)."""
    return cu.to(device=device, dtype=torch.int32).contiguous()


def packed_lse(q: torch.Tensor, lse: torch.Tensor, k_mean: torch.Tensor, cu_q: torch.Tensor, smooth_k: bool,
               sm_scale: float) -> torch.Tensor:
    """A one-op kernel's lse [Hq, total_q] with the smooth-K correction: token i of sequence s (cu_q, on q's GPU)
    adds sm_scale * q_i . k_mean[s], k_mean [S, Hkv, D] holding each sequence's K mean. No host read."""
    if not smooth_k:
        return lse
    total, hq, _ = q.shape
    tokens = torch.arange(total, device=q.device, dtype=cu_q.dtype)
    seq = (torch.searchsorted(cu_q, tokens, right=True) - 1).clamp_(0, k_mean.shape[0] - 1)
    km = k_mean[seq]  # [total_q, Hkv, D]; q head h reads kv head h // (Hq / Hkv)
    qg = q.float().reshape(total, km.shape[1], hq // km.shape[1], q.shape[-1])
    return lse + torch.einsum("nkgd,nkd->kgn", qg, km).reshape(hq, total) * sm_scale
