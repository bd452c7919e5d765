"""sageattn_varlen on packs of sequences, side by side in one process: sm90's one op for the whole pack
(cu_seqlens stay on the GPU), the runs path (one batched sageattn call per run of adjacent equal-length sequences,
cu_seqlens read on the host; SAGEATTENTION_VARLEN_RUNS=1), and SDPA (flash) called per sequence, which is what a
user without a varlen kernel runs. cu_seqlens live on the GPU, as varlen callers pass them.

    python bench/varlen_bench.py [--out bench/results] [--name varlen_h200] [--family mma_fp16|mma_fp8] [--headdim 256]

--family mma_fp16 / mma_fp8 times the mma.sync families' one op (what sm_80 / sm_89 GPUs run) against their
runs path (the explicit entry point per run of equal lengths), e.g. on an sm_90 card, which runs both.

TOPS count the work of every sequence, 4 * H * D * sum(lq * lk) (halved for causal), over the median
time of one whole packed call (do_bench's, as in sageattention.bench). "vs runs" is the one op's relative L1
distance from the runs path's output (both smooth K per sequence; the one op's V scale spans the pack).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
from typing import Callable
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import sageattention  # noqa: E402
from sageattention.bench import environment, time_ms  # noqa: E402
from sageattention.reference import rel_l1  # noqa: E402

H = 32
PACKS: dict[str, list[int]] = {
    "16 x 1K (a flattened batch)": [1024] * 16,
    "64 x 256": [256] * 64,
    "2 x 16K (guidance pair)": [16384] * 2,
    "4 x (4K, 1K) interleaved": [4096, 1024] * 4,
    "2 x 4K then 8 x 1K": [4096] * 2 + [1024] * 8,
    "8 distinct, 512-4K": [512, 1024, 1536, 2048, 2560, 3072, 3584, 4096],
    "32 random, 100-4K": random.Random(0).sample(range(100, 4096), 32),
    "128 random, 16-1K": random.Random(1).sample(range(16, 1024), 128),
}


def pack_inputs(lens: list[int], d: int, causal: bool) -> tuple[torch.Tensor, ...]:
    """cu_seqlens (int32, on the GPU) and random fp16 q, k, v [tokens, H, d] of one pack, and the pack's work
    (4 * H * d * sum(l^2), halved for causal): (cu_t, q, k, v, work)."""
    cu = [0]
    for n in lens:
        cu.append(cu[-1] + n)
    cu_t = torch.tensor(cu, dtype=torch.int32, device="cuda")
    q, k, v = (torch.randn(cu[-1], H, d, device="cuda", dtype=torch.float16) for _ in range(3))
    return cu_t, q, k, v, 4 * H * d * sum(n * n for n in lens) / (2 if causal else 1)


def runs_path(q, k, v, cu_t: torch.Tensor, max_len: int, causal: bool) -> torch.Tensor:
    os.environ["SAGEATTENTION_VARLEN_RUNS"] = "1"
    try:
        return sageattention.sageattn_varlen(q, k, v, cu_t, cu_t, max_len, max_len, is_causal=causal)
    finally:
        del os.environ["SAGEATTENTION_VARLEN_RUNS"]


def mma_paths(family: str, lens: list[int], causal: bool) -> tuple[Callable, Callable]:
    """The mma.sync family's one op and its runs path (one explicit-entry call per run of equal lengths)."""
    from sageattention import _varlen
    from sageattention.kernels import mma

    fp8 = family == "mma_fp8"
    entry = sageattention.sageattn_qk_int8_pv_fp8_cuda if fp8 else sageattention.sageattn_qk_int8_pv_fp16_cuda
    opts = {"pv_accum_dtype": mma.varlen_accum(fp8)}

    def one_op(q, k, v, cu_t):
        return mma.varlen_mma(q, k, v, cu_t, cu_t, fp8_pv=fp8, is_causal=causal, qk_quant_gran="per_thread",
                              sm_scale=q.shape[-1] ** -0.5, smooth_k=True, smooth_v=False, return_lse=False)

    def by_runs(q, k, v, cu_t):
        cu = cu_t.tolist()
        return _varlen.packed_attention(
            q, k, v, cu, cu, lambda a, b, c: entry(a, b, c, tensor_layout="NHD", is_causal=causal, **opts), False)

    return one_op, by_runs


def sdpa_loop(
    q, k, v, cu_t: torch.Tensor, causal: bool, backend: SDPBackend = SDPBackend.FLASH_ATTENTION
) -> torch.Tensor:
    cu = cu_t.tolist()
    out = torch.empty_like(q)
    with torch.nn.attention.sdpa_kernel(backend):
        for a, b in zip(cu, cu[1:]):
            x = [t[a:b].transpose(0, 1)[None] for t in (q, k, v)]
            out[a:b] = F.scaled_dot_product_attention(*x, is_causal=causal)[0].transpose(0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=pathlib.Path, default=pathlib.Path("bench/results"))
    ap.add_argument("--name", default="varlen")
    ap.add_argument("--family", choices=("mma_fp16", "mma_fp8"), default=None)
    ap.add_argument("--headdim", type=int, default=128)
    args = ap.parse_args()
    D = args.headdim
    env = environment()
    print(json.dumps(env), flush=True)
    rows = []
    for causal in (False, True):
        for label, lens in PACKS.items():
            cu_t, q, k, v, work = pack_inputs(lens, D, causal)
            if args.family:
                op_fn, runs_fn = mma_paths(args.family, lens, causal)
                runs = {f"{args.family} varlen (one op)": lambda: op_fn(q, k, v, cu_t),
                        f"{args.family} (runs)": lambda: runs_fn(q, k, v, cu_t)}
            else:
                runs = {
                    "sageattn_varlen (one op)": lambda: sageattention.sageattn_varlen(
                        q, k, v, cu_t, cu_t, max(lens), max(lens), is_causal=causal),
                    "sageattn_varlen (runs)": lambda: runs_path(q, k, v, cu_t, max(lens), causal),
                }
            runs["per-sequence SDPA flash"] = lambda: sdpa_loop(q, k, v, cu_t, causal)
            if D > 128:  # cuDNN runs head dims above 128 on sm_90; flash is FlashAttention-2 there
                runs["per-sequence SDPA cuDNN"] = lambda: sdpa_loop(q, k, v, cu_t, causal, SDPBackend.CUDNN_ATTENTION)
            first, second = list(runs.values())[:2]
            one_op, by_runs = first(), second()
            vs_runs = rel_l1(one_op, by_runs)
            for backend, fn in runs.items():
                ms = time_ms(fn, warmup_ms=50, rep_ms=200)
                row = {"backend": backend, "pack": label, "sequences": len(lens), "tokens": sum(lens), "heads": H,
                       "headdim": D, "causal": causal, "dtype": "fp16", "ms": round(ms, 4),
                       "tops": round(work / ms / 1e9, 1), "device": env["device_name"]}
                if backend.endswith("(one op)"):
                    row["rel_l1_vs_runs"] = round(vs_runs, 5)
                rows.append(row)
                print(f"{label:30s} causal={causal!s:5s} {backend:26s} {ms:9.3f} ms {row['tops']:7.1f} TOPS"
                      + (f"  (vs runs: rel L1 {vs_runs:.4f})" if "rel_l1_vs_runs" in row else ""), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
