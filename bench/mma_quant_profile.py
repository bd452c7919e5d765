"""Where an mma.sync family's end-to-end call spends its GPU time: each kernel's duration (CUDA profiler) beside the
GPU timeline of the explicit entry point back to back and its host time, for the FP16-PV and FP8-PV families on the
current GPU (sm_80+; FP8 PV sm_89+, emulated on sm_90). The quantization is the kernels other than attn_kernel.

    python bench/mma_quant_profile.py
    python bench/mma_quant_profile.py --ab-paired   # paired quantization launches vs separate, in alternation

--ab-paired times each call with SAGEATTENTION_MMA_PAIRED_QUANT=1 (K/V statistics in one launch, Q/K INT8 in one,
the finalize folded in for up to 2K keys; csrc/common/mma/quant_pair_kernels.cuh; the default) and =0 (one launch
per pass), two rounds in alternation: the timeline of back-to-back calls (host time included where it bounds),
the same call replayed from a CUDA graph (GPU time only), and each setting's kernels.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.call_overhead import host_and_gpu_us, stack_us  # noqa: E402
from bench.short_calls import kernel_split, kernel_us  # noqa: E402

# (label, B, H, Nq, Nkv, D): the B4 H32 at 1K and 4K, and SDXL-sized levels (CFG batch 2)
SHAPES = (("B4 H32 N1K D64", 4, 32, 1024, 1024, 64), ("B4 H32 N1K D128", 4, 32, 1024, 1024, 128),
          ("B4 H32 N4K D64", 4, 32, 4096, 4096, 64), ("B4 H32 N4K D128", 4, 32, 4096, 4096, 128),
          ("SDXL 64x64 B2 H10 N4K D64", 2, 10, 4096, 4096, 64), ("SDXL 32x32 B2 H20 N1K D64", 2, 20, 1024, 1024, 64),
          ("SDXL cross B2 H10 4K->77 D64", 2, 10, 4096, 77, 64))
FAMILIES = (("fp16 PV", sageattention.sageattn_qk_int8_pv_fp16_cuda),
            ("fp8 PV", sageattention.sageattn_qk_int8_pv_fp8_cuda))


def tops(b: int, h: int, nq: int, nkv: int, d: int, us: float) -> float:
    return 4 * b * h * nq * nkv * d / (us * 1e-6) / 1e12


def line(fam: str, shape: tuple[int, int, int, int, int], call) -> str:
    """One call's timeline, kernels, attention and quantization split, and host time."""
    b, h, nq, nkv, d = shape
    host, wall = host_and_gpu_us(call)
    kernels = kernel_us(call)
    attn = sum(us for n, us in kernels.items() if "attn" in n.lower())
    return (f"  {fam:8s} timeline {wall:7.1f} us ({tops(b, h, nq, nkv, d, wall):5.1f} TOPS), kernels "
            f"{sum(kernels.values()):7.1f} us, attention {attn:7.1f} us ({tops(b, h, nq, nkv, d, attn):5.1f} "
            f"TOPS), quantization {sum(kernels.values()) - attn:6.1f} us, host {host:5.1f} us: {kernel_split(kernels)}")


def ab_paired(fam: str, call) -> dict[str, tuple[float, float]]:
    """Paired (1) against separate (0) quantization launches, two rounds in alternation; returns each setting's best
    timeline and CUDA-graph replay (us)."""
    before = os.environ.get("SAGEATTENTION_MMA_PAIRED_QUANT")
    best: dict[str, tuple[float, float]] = {}
    for rnd in range(2):
        for setting in ("1", "0"):
            os.environ["SAGEATTENTION_MMA_PAIRED_QUANT"] = setting
            host, wall = host_and_gpu_us(call)
            graph = stack_us(call, graph=True, reps=200)
            split = ": " + kernel_split(kernel_us(call)) if rnd == 0 else ""
            print(f"  {fam:8s} paired={setting} round {rnd}: timeline {wall:7.1f} us, graph {graph:7.1f} us, "
                  f"host {host:5.1f} us{split}", flush=True)
            old = best.get(setting, (wall, graph))
            best[setting] = (min(old[0], wall), min(old[1], graph))
    if before is None:
        os.environ.pop("SAGEATTENTION_MMA_PAIRED_QUANT", None)
    else:
        os.environ["SAGEATTENTION_MMA_PAIRED_QUANT"] = before
    return best


def verdict(rows: list[tuple[str, str, dict[str, tuple[float, float]]]]) -> None:
    """Per shape and family, paired minus separate (best of the rounds), and where the paired launches won."""
    print("## paired - separate, best of two rounds (us; negative: paired faster)")
    wins = 0
    for label, fam, best in rows:
        (t1, g1), (t0, g0) = best["1"], best["0"]
        wins += t1 < t0 and g1 < g0
        print(f"  {label:30s} {fam:8s} timeline {t0:7.1f} -> {t1:7.1f} ({t1 - t0:+6.1f}), graph {g0:7.1f} -> {g1:7.1f} "
              f"({g1 - g0:+6.1f})")
    print(f"paired faster in timeline and graph at {wins} of {len(rows)} points")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ab-paired", action="store_true", help="paired vs separate quantization launches")
    args = ap.parse_args()
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, sageattention from {sageattention.__file__}")
    ab_rows = []
    for label, b, h, nq, nkv, d in SHAPES:
        g = torch.Generator(device="cuda").manual_seed(0)
        q = torch.randn(b, h, nq, d, device="cuda", dtype=torch.float16, generator=g)
        k, v = (torch.randn(b, h, nkv, d, device="cuda", dtype=torch.float16, generator=g) for _ in range(2))
        print(f"## {label}", flush=True)
        for fam, fn in FAMILIES:
            call = lambda: fn(q, k, v)  # noqa: E731
            if args.ab_paired:
                ab_rows.append((label, fam, ab_paired(fam, call)))
            else:
                print(line(fam, (b, h, nq, nkv, d), call), flush=True)
        del q, k, v
    if ab_rows:
        verdict(ab_rows)


if __name__ == "__main__":
    main()
