"""Standalone H100 benchmark of the sm90 kernel vs SDPA (cuDNN, flash) in one process.

    python bench/sm90_bench.py [--out results.json] [--quick]

Rows: sageattn(q, k, v) end to end (public API incl. quantization), the sm90 kernel only on
pre-quantized inputs, and SDPA with the cuDNN and flash backends. TOPS = 4*B*H*N^2*D / t (halved for
causal). Times are CUDA-event medians after warm-up; inputs are fresh randn (never zeros).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import subprocess
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from sageattention import reference as R  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402


def timeit(fn, warmup: int = 3, reps: int = 10) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times)


def kernel_only(q: torch.Tensor, ops: dict, kv_len: int, causal: bool, two_level: bool = True,
                sm_scale: float | None = None):
    """A zero-argument call of the sm90 attention op on operands from `sm90.quantize` (HND, per-thread
    scales, no V mean): what the bench scripts time as "kernel only"."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if sm_scale is None else sm_scale
    return lambda: torch.ops.sageattention.qk_int8_pv_fp8_sm90(
        q, ops["q_int8"], ops["q_scale"], ops["k_int8"], ops["k_scale"], ops["v_fp8"], ops["v_scale"], None, 0,
        kv_len, causal, True, scale, False, two_level)


def flops(b, h, n, d, causal):
    f = 4.0 * b * h * n * n * d
    return f / 2 if causal else f


def bench_shape(b, h, n, d, causal, reps):
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    scale = 1.0 / math.sqrt(d)
    rows = {}
    rows["sageattn"] = lambda: sageattention.sageattn(q, k, v, tensor_layout="HND", is_causal=causal)
    rows["sm90_e2e"] = lambda: sm90.qk_int8_pv_fp8_sm90(
        q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran="per_thread", sm_scale=scale,
        pv_accum_dtype="fp32+fp32", smooth_k=True, smooth_v=False, return_lse=False)
    ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
    rows["sm90_kernel"] = kernel_only(q, ops, n, causal, True, scale)
    rows["sm90_kernel_fp32acc"] = kernel_only(q, ops, n, causal, False, scale)
    rows["sm90_e2e_fp32acc"] = lambda: sm90.qk_int8_pv_fp8_sm90(
        q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran="per_thread", sm_scale=scale,
        pv_accum_dtype="fp32", smooth_k=True, smooth_v=False, return_lse=False)
    rows["quant_only"] = lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False)
    rows["quant_separate"] = lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False, fused=False)

    def e2e_separate():  # the pre-quant_qkv_sm90 path: five quantization passes, then the kernel
        o = sm90.quantize(q, k, v, "HND", "per_thread", True, False, fused=False)
        return kernel_only(q, o, n, causal, True, scale)()

    rows["sm90_e2e_separate_quant"] = e2e_separate

    def sdpa(backend):
        def f():
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return f

    rows["sdpa_cudnn"] = sdpa(SDPBackend.CUDNN_ATTENTION)
    rows["sdpa_flash"] = sdpa(SDPBackend.FLASH_ATTENTION)
    out = {}
    for name, fn in rows.items():
        try:
            t = timeit(fn, reps=reps)
            out[name] = (t, flops(b, h, n, d, causal) / t / 1e12)
        except Exception as exc:  # a backend missing on this build: report, keep going
            out[name] = (float("nan"), float("nan"))
            print(f"  {name}: {type(exc).__name__}: {exc}", flush=True)
    return out


def accuracy(d, causal, offset, accum="fp32+fp32", n=4096):
    q = torch.randn(1, 4, n, d, device="cuda", dtype=torch.float16)
    k = torch.randn(1, 4, n, d, device="cuda", dtype=torch.float16) + offset * torch.randn(d, device="cuda", dtype=torch.float16)
    v = torch.randn(1, 4, n, d, device="cuda", dtype=torch.float16)
    o = sm90.qk_int8_pv_fp8_sm90(q, k, v, tensor_layout="HND", is_causal=causal, qk_quant_gran="per_thread",
                                 sm_scale=1 / math.sqrt(d), pv_accum_dtype=accum, smooth_k=True, smooth_v=False,
                                 return_lse=False)
    ref, _ = R.attention_fp64(q, k, v, causal)
    return R.rel_l1(o, ref), R.cosine(o, ref)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="sm90_bench.json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    dev = torch.cuda.get_device_name()
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        driver = "?"
    meta = {"device": dev, "driver": driver, "torch": torch.__version__, "cuda": torch.version.cuda,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    print(meta, flush=True)
    for d, causal, offset in [(128, False, 0.0), (128, False, 5.0), (128, True, 0.0), (64, False, 0.0)]:
        for accum in ("fp32+fp32", "fp32"):
            rel, cos = accuracy(d, causal, offset, accum)
            print(f"accuracy D{d} causal={causal} k_offset={offset} accum={accum}: rel-L1 {rel:.4f} cos {cos:.6f}",
                  flush=True)
    shapes = [(128, False, 4096), (128, False, 8192), (128, False, 16384), (128, True, 16384), (64, False, 16384)]
    if not args.quick:
        shapes += [(128, False, 1024), (128, False, 2048), (128, True, 4096), (64, False, 4096), (128, True, 8192)]
    results = []
    names = ["sageattn", "sm90_e2e", "sm90_kernel", "sm90_e2e_fp32acc", "sm90_kernel_fp32acc",
             "sm90_e2e_separate_quant", "sdpa_cudnn", "sdpa_flash"]
    for d, causal, n in shapes:
        r = bench_shape(4, 32, n, d, causal, reps=5 if n >= 16384 else 10)
        line = f"D{d:<3} {'causal' if causal else 'full  '} N={n:<6}" + "".join(
            f" {k}={v[1]:7.1f}" for k, v in r.items() if not k.startswith("quant_")) + (
            f" quant_ms={r['quant_only'][0]*1e3:.3f} quant_separate_ms={r['quant_separate'][0]*1e3:.3f}")
        print(line, flush=True)
        for name in names:
            results.append({"backend": name, **meta, "dtype": "float16", "batch": 4, "heads": 32, "seqlen": n,
                            "headdim": d, "causal": causal, "kernel_only": name.startswith("sm90_kernel"),
                            "time_ms": r[name][0] * 1e3, "tops": r[name][1]})
        for name in ("quant_only", "quant_separate"):
            results.append({"backend": name, **meta, "seqlen": n, "headdim": d, "causal": causal,
                            "time_ms": r[name][0] * 1e3})
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
