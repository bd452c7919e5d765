"""A/B of builds of the mma families' quantization kernels: each kernel's GPU time (CUDA profiler) in the FP16-PV
and FP8-PV end-to-end calls at bench/mma_quant_profile.py's shapes, for the modules now in sageattention/, appended
as JSON rows under a label; then a table of the builds side by side.

    python bench/quant_pair_ab.py LABEL --out DIR --round N    # appends DIR/quant_pair_ab.jsonl
    python bench/quant_pair_ab.py --summary DIR/quant_pair_ab.jsonl

Run each build in its own process (a module cannot be swapped inside one), in alternating order over two rounds, so
that clock drift shows as a difference between a build's rounds (scripts/gpu_quant_bandwidth.sh).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, ".")

# Kernels the summary lists, in this order; the rest of a call's non-attention kernels are summed as "quant total".
KERNELS = ("quant_int8_pair_kernel", "channel_partial_pair_kernel", "quant_v_fp8_tile_kernel")


def measure(label: str, out: Path, rnd: int) -> None:
    import torch

    import sageattention
    from bench.mma_quant_profile import FAMILIES, SHAPES
    from bench.short_calls import kernel_us

    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name()
    with open(out / "quant_pair_ab.jsonl", "a") as log:
        for shape, b, h, nq, nkv, d in SHAPES:
            g = torch.Generator(device="cuda").manual_seed(0)
            q = torch.randn(b, h, nq, d, device="cuda", dtype=torch.float16, generator=g)
            k, v = (torch.randn(b, h, nkv, d, device="cuda", dtype=torch.float16, generator=g) for _ in range(2))
            for fam, fn in FAMILIES:
                kernels = kernel_us(functools.partial(fn, q, k, v), reps=50)
                row = {"label": label, "round": rnd, "device": device, "torch": torch.__version__,
                       "sageattention": sageattention.__version__, "shape": shape, "family": fam,
                       "kernels": {n.replace("void ", "").replace("sage::", ""): round(us, 2)
                                   for n, us in kernels.items()}}
                log.write(json.dumps(row) + "\n")
                named = {n: us for n, us in row["kernels"].items() if any(k in n for k in KERNELS)}
                print(f"{label} r{rnd} {shape:30s} {fam:7s} " + ", ".join(f"{n} {us:.1f}" for n, us in named.items()),
                      flush=True)


def summary(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    points = list(dict.fromkeys((r["shape"], r["family"]) for r in rows))
    times: dict[tuple[str, str, str, str], list[float]] = collections.defaultdict(list)
    for r in rows:
        quant = 0.0
        for name, us in r["kernels"].items():
            if "attn" in name:
                continue
            quant += us
            for k in KERNELS:
                if k in name:
                    times[(r["label"], r["shape"], r["family"], k)].append(us)
        times[(r["label"], r["shape"], r["family"], "quant total")].append(quant)
    print(f"# {rows[0]['device']}, torch {rows[0]['torch']}; us per call, rounds separated by /")
    for kernel in (*KERNELS, "quant total"):
        present = [p for p in points if any(times.get((lab, *p, kernel)) for lab in labels)]
        if not present:
            continue
        print(f"\n## {kernel}\n| shape | PV | " + " | ".join(labels) + " |")
        print("|---|---|" + "---:|" * len(labels))
        for shape, fam in present:
            cells = ["/".join(f"{t:.1f}" for t in times.get((lab, shape, fam, kernel), [])) or "-" for lab in labels]
            print(f"| {shape} | {fam} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("label", nargs="?", help="the build's name in the rows")
    ap.add_argument("--out", type=Path, help="directory of quant_pair_ab.jsonl")
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--summary", type=Path, help="print the table of a quant_pair_ab.jsonl and exit")
    args = ap.parse_args()
    if args.summary:
        summary(args.summary)
    elif args.label and args.out:
        measure(args.label, args.out, args.round)
    else:
        ap.error("give LABEL and --out, or --summary FILE")


if __name__ == "__main__":
    main()
