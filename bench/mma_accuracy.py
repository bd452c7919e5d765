"""Accuracy table of the mma.sync kernels (markdown on stdout): end to end vs float64 SDPA at the
issue's shape (fp16, B=4 H=32 N=4096, D=128 or the --fp64-head-dims), and vs sageattention.reference on the
kernels' own quantized operands. Run on a GPU:

    python bench/mma_accuracy.py [--fp64-only] [--fp64-head-dims 128,256] [--q-scales 2,3]

--q-scales adds inputs whose Q is multiplied by each factor: sharper rows of attention, where the top probability
(exact in e4m3: P̃ = 448) carries more of each row (bench/pv_format_error.py computes what the formats alone give).
Each table also has a row for `sageattn` as it dispatches on this GPU (on sm_90 the wgmma kernel), and on sm_90 one
for the wgmma kernels with 16-bit and INT8 PV (`sageattn_qk_int8_pv_fp16_cuda_sm90`, `_int8_cuda_sm90`)."""

from __future__ import annotations

import argparse
import functools
import math
import sys

import torch

sys.path.insert(0, ".")
from sageattention import reference as R
from sageattention import sageattn, sageattn_qk_int8_pv_fp16_cuda_sm90, sageattn_qk_int8_pv_int8_cuda_sm90
from sageattention._layout import to_hnd
from sageattention.kernels import mma

DEV = "cuda"
VARIANTS = [(False, "per_thread", a) for a in ("fp32", "fp16+fp32", "fp16")] + [(False, "per_warp", "fp32")]
VARIANTS += [(True, "per_thread", a) for a in ("fp32", "fp32+fp32", "fp32+fp16")] + [(True, "per_warp", "fp32+fp32")]


def name(fp8, gran, acc):
    return f"{'fp8' if fp8 else 'fp16'}-pv {gran} {acc}"


def call(fp8, gran, acc, q, k, v, causal=False, **kw):
    fn = mma.qk_int8_pv_fp8 if fp8 else mma.qk_int8_pv_fp16
    return fn(q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran=gran, sm_scale=1 / math.sqrt(q.shape[-1]),
              pv_accum_dtype=acc, smooth_k=True, smooth_v=False, return_lse=kw.get("return_lse", False))


def vs_fp64(d: int = 128, q_scales: tuple[float, ...] = ()):
    print(f"## End to end vs float64 attention (fp16, B=4 H=32 N=4096 D={d}, non-causal)\n")
    print("| kernel | input | rel L1 | cosine |\n|---|---|---:|---:|")
    torch.manual_seed(0)
    b, h, n = 4, 32, 4096
    # (label, K offset, Q multiplier)
    cases = [("randn", False, 1.0), ("K + 10·randn per-channel offset", True, 1.0)]
    cases += [(f"Q x {s:g}", False, s) for s in q_scales]
    for case, k_offset, q_mult in cases:
        q, k, v = (torch.randn(b, h, n, d, device=DEV, dtype=torch.float16) for _ in range(3))
        if k_offset:
            k = k + 10 * torch.randn(b, h, 1, d, device=DEV, dtype=torch.float16)
        if q_mult != 1.0:
            q = q * q_mult
        ref = torch.cat([R.attention_fp64(q[i:i + 1], k[i:i + 1], v[i:i + 1])[0] for i in range(b)])
        rows = [(name(fp8, gran, acc), functools.partial(call, fp8, gran, acc)) for fp8, gran, acc in VARIANTS
                if acc != "fp32+fp16" or mma.fp8_f16_accum_available()]
        rows.append(("sageattn (this GPU's default)",
                     lambda q, k, v: sageattn(q, k, v, tensor_layout="HND", sm_scale=1 / math.sqrt(d))))
        if torch.cuda.get_device_capability() == (9, 0):
            rows.append(("sm90 wgmma, 16-bit PV", lambda q, k, v: sageattn_qk_int8_pv_fp16_cuda_sm90(q, k, v)))
            rows.append(("sm90 wgmma, INT8 PV", lambda q, k, v: sageattn_qk_int8_pv_int8_cuda_sm90(q, k, v)))
        for label, fn in rows:
            o = fn(q, k, v).double()
            rl1, cos = R.rel_l1(o, ref), R.cosine(o, ref)
            print(f"| {label} | {case} | {rl1:.5f} | {cos:.7f} |", flush=True)
        del ref


def vs_reference():
    print("\n## Against sageattention.reference on the kernel's own quantized operands\n")
    print(f"(B=2 H=8 N=2000 D=128 fp16, causal and not; block_kv={mma.softmax_step(128)} = the kernel's softmax step)\n")
    print("| kernel | causal | rel L1 | max abs / max ref | max lse err |\n|---|---|---:|---:|---:|")
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 8, 2000, 128, device=DEV, dtype=torch.float16) for _ in range(3))
    k = k + 3 * torch.randn(128, device=DEV, dtype=torch.float16)
    for fp8, gran, acc in VARIANTS:
        if acc == "fp32+fp16" and not mma.fp8_f16_accum_available():
            continue
        for causal in (False, True):
            p = mma.quantize(q, k, v, tensor_layout="HND", qk_quant_gran=gran, fp8_pv=fp8, smooth_k=True,
                             smooth_v=False, pv_accum_dtype=acc)
            out, lse = mma.attend(p, is_causal=causal, sm_scale=1 / math.sqrt(128), pv_accum_dtype=acc, return_lse=True)
            vr = p.v if fp8 else to_hnd(p.v, "HND")
            ref, rlse = R.attention_from_quantized(
                p.q_int8, p.q_scale, mma.q_spec(128, gran), p.k_int8, p.k_scale, mma.k_spec(gran, fp8), vr,
                p.v_scale, qo_len=2000, kv_len=2000, head_dim=128, sm_scale=1 / math.sqrt(128), is_causal=causal,
                block_kv=mma.softmax_step(128))
            o = out.float()
            rl1 = R.rel_l1(o, ref)
            mx = float((o - ref).abs().max() / ref.abs().max())
            le = float((lse - rlse).abs().max())
            print(f"| {name(fp8, gran, acc)} | {causal} | {rl1:.2e} | {mx:.2e} | {le:.1e} |", flush=True)


def bf16_large():
    print("\n## bf16 inputs uniform in [-100, 100] (B=2 H=8 N=4096 D=128): finite outputs\n")
    torch.manual_seed(2)
    q, k, v = ((torch.rand(2, 8, 4096, 128, device=DEV) * 200 - 100).to(torch.bfloat16) for _ in range(3))
    for fp8, gran, acc in VARIANTS:
        if acc == "fp32+fp16" and not mma.fp8_f16_accum_available():
            continue
        for causal in (False, True):
            o, lse = call(fp8, gran, acc, q, k, v, causal, return_lse=True)
            ok = bool(torch.isfinite(o).all() and torch.isfinite(lse).all())
            print(f"- {name(fp8, gran, acc)} causal={causal}: {'finite' if ok else 'NON-FINITE'}, max|O| {float(o.abs().max()):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fp64-only", action="store_true", help="only the end-to-end tables against float64")
    parser.add_argument("--fp64-head-dims", type=lambda s: [int(x) for x in s.split(",")], default=[128],
                        help="comma list of head dims for those tables (default 128)")
    parser.add_argument("--q-scales", type=lambda s: tuple(float(x) for x in s.split(",")), default=(),
                        help="comma list of Q multipliers for extra inputs with sharper attention rows")
    args = parser.parse_args()
    print(f"# mma.sync kernel accuracy on {torch.cuda.get_device_name()} (torch {torch.__version__})\n")
    if not args.fp64_only:
        vs_reference()
    for d in args.fp64_head_dims:
        vs_fp64(d, args.q_scales)
    if not args.fp64_only:
        bf16_large()
