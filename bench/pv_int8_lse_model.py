"""The INT8-PV kernel's error against float64 as its reference model gives it (CPU; no kernel, no GPU): the LSE's
tail over rows at the GPU tests' shape, and rel. L1 / cosine on the rising-scores test's sharper rows. The tolerances
of tests/gpu/test_sm90_pv_int8.py come from here.

    python bench/pv_int8_lse_model.py [--seeds 5] [--out bench/results/pv_int8_lse_model.md]
"""

from __future__ import annotations

import argparse
import math

import torch

from sageattention import quant
from sageattention import reference as R
from sageattention._layout import padded_head_dim
from sageattention.kernels import sm90


def model(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """attention_from_quantized(u8_p=True) on Q/K quantized per thread with K smoothed, V in s8 per channel: the
    kernel's formats and steps (HND, one K/V head per Q head or GQA)."""
    d = q.shape[-1]
    q_spec, k_spec = sm90.group_specs("per_thread")
    dp = padded_head_dim(d)
    k_mean = R.channel_stats(k, centered=False)[0]
    q8, qs = R.quant_int8(q, q_spec, dp, q_spec.block)
    k8, ks = R.quant_int8(k, k_spec, dp, k_spec.block, mean=k_mean)
    vq, vs = R.quant_v_s8(v)
    scale = 1 / math.sqrt(d)
    corr = quant.lse_correction(q, k_mean, "HND", scale)
    return R.attention_from_quantized(q8, qs, q_spec, k8, ks, k_spec, vq, vs, qo_len=q.shape[2], kv_len=k.shape[2],
                                      head_dim=d, sm_scale=scale, is_causal=causal, block_kv=sm90.kv_block(dp, "fp32"),
                                      u8_p=True, lse_correction=corr)


def lse_error(seed: int, d: int, causal: bool, n: int = 2048, heads: int = 4) -> torch.Tensor:
    """The model's LSE minus float64's per row, on the GPU tests' inputs (B2, randn Q / V, K + 5 randn per channel)."""
    torch.manual_seed(seed)
    q, k, v = (torch.randn(2, heads, n, d).half() for _ in range(3))
    k = k + 5.0 * torch.randn(d).half()
    _, lse = model(q, k, v, causal)
    _, ref_lse = R.attention_fp64(q, k, v, causal)
    return lse.double() - ref_lse


def rising_errors(seed: int, d: int, qo: int = 1000, kv: int = 3000) -> tuple[float, float, float, float]:
    """rel. L1 and cosine against float64 of the model and of the e4m3 kernels' reference, on the rising-scores test's
    inputs (K scaled by 0.05 .. 3 along the keys: the late rows are sharp)."""
    torch.manual_seed(seed)
    q = torch.randn(1, 4, qo, d).half()
    k = (torch.randn(1, 2, kv, d) * torch.linspace(0.05, 3.0, kv)[None, None, :, None]).half()
    v = torch.randn(1, 2, kv, d).half()
    out = model(q, k, v, False)[0].half()
    q_spec, k_spec = sm90.group_specs("per_thread")
    e4 = R.sageattn_reference(q, k, v, pv="fp8", q_spec=q_spec, k_spec=k_spec,
                              block_kv=sm90.kv_block(padded_head_dim(d), "fp32"))
    ref, _ = R.attention_fp64(q, k, v, False)
    return R.rel_l1(out, ref), R.cosine(out, ref), R.rel_l1(e4, ref), R.cosine(e4, ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="bench/results/pv_int8_lse_model.md")
    args = ap.parse_args()
    lines = ["# INT8 PV's reference model against float64 (CPU)", "",
             "## LSE over rows: B2 H4 N2048, randn Q / V, K + 5 randn per channel (tests' check_accuracy_vs_fp64)", "",
             "| seed | D | causal | max below fp64 | max above fp64 | mean abs | rows past 0.02 |",
             "|---:|---:|---|---:|---:|---:|---:|"]
    for seed in range(args.seeds):
        for d in (64, 96, 128, 256):
            for causal in (False, True):
                e = lse_error(seed, d, causal)
                lines.append(f"| {seed} | {d} | {causal} | {float(-e.min()):.4f} | {float(e.max()):.4f} | "
                             f"{float(e.abs().mean()):.5f} | {float((e.abs() > 0.02).double().mean()) * 100:.3f} % |")
                print(lines[-1], flush=True)
    lines += ["", "## Rising scores: B1 H4/2 qo 1000 kv 3000, K scaled by 0.05 .. 3 along the keys (sharper late rows)",
              "", "| seed | D | u8 model rel L1 | cosine | e4m3 model rel L1 | cosine |", "|---:|---:|---:|---:|---:|---:|"]
    for seed in range(3):
        for d in (64, 128):
            lines.append("| {} | {} | {:.4f} | {:.6f} | {:.4f} | {:.6f} |".format(seed, d, *rising_errors(seed, d)))
            print(lines[-1], flush=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
