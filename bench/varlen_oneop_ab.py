"""A/B of the one-op varlen paths between two builds (run once per build, processes in alternation, same GPU):
the median time of one packed call per family over bench/varlen_bench.py's packs (H=32, D=128, fp16, causal and
not), and the relative L1 error vs float64 of a pack whose sequences each carry their own large K channel offset
(what per-sequence smoothing is for).

    python bench/varlen_oneop_ab.py LABEL [--json FILE]   (appends one JSON line per row to FILE)
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench.varlen_bench import PACKS  # noqa: E402
from bench.varlen_sanitize_sweep import call, families, offsets  # noqa: E402
from sageattention import reference  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402

H, D = 32, 128


def offset_pack_error(family: str) -> float:
    """rel L1 vs float64 over a pack of 8 sequences whose K channels are offset by +-20 x randn(D), one each."""
    lens = [300, 1000, 57, 2100, 640, 129, 1500, 800]
    g = torch.Generator(device="cuda").manual_seed(0)
    n = sum(lens)
    q, k, v = (torch.randn(n, 8, D, device="cuda", generator=g) for _ in range(3))
    cu = offsets(lens).tolist()
    for i in range(len(lens)):
        k[cu[i]:cu[i + 1]] += (20 if i % 2 else -20) * torch.randn(D, device="cuda", generator=g)
    q, k, v = q.half(), k.half(), v.half()
    out = run_op(family, q, k, v, offsets(lens), False)
    num = den = 0.0
    for i in range(len(lens)):
        s = slice(cu[i], cu[i + 1])
        ref, _ = reference.attention_fp64(*(t[s].transpose(0, 1)[None] for t in (q, k, v)))
        ref = ref[0].transpose(0, 1)
        num += float((out[s].double() - ref).abs().sum())
        den += float(ref.abs().sum())
    return num / den


def run_op(family: str, q, k, v, cu, causal: bool) -> torch.Tensor:
    return call(family, q, k, v, cu, cu, causal, True, True, False, return_lse=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("label")
    ap.add_argument("--json", type=pathlib.Path, default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for family in families():
        err = offset_pack_error(family)
        rows.append({"label": args.label, "family": family, "pack": "8 sequences, K offset each", "rel_l1": err})
        print(f"[{args.label}] {family:8s} offset pack rel L1 vs float64 {err:.4f}", flush=True)
        for causal in (False, True):
            for name, lens in PACKS.items():
                cu = offsets(lens)
                n = sum(lens)
                q, k, v = (torch.randn(n, H, D, device="cuda", dtype=torch.float16) for _ in range(3))
                ms = time_ms(lambda: run_op(family, q, k, v, cu, causal), warmup_ms=30, rep_ms=150)
                rows.append({"label": args.label, "family": family, "pack": name, "causal": causal, "ms": ms})
                print(f"[{args.label}] {family:8s} causal={int(causal)} {name:30s} {ms:8.3f} ms", flush=True)
    if args.json:
        with args.json.open("a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
