"""A/B of the fused quantization pass's chunks per CTA (SAGEATTENTION_QKV_MIN_CHUNKS, read on every call), in one
process on one GPU: the pass alone (ms) and the whole `sageattn` call (TOPS) per setting, settings interleaved,
rounds in alternating order; first, the outputs of each setting against the first (Q and V must match bit for
bit; K's mean is folded from another number of partials, so a last-bit change can move an INT8 value by 1).

    python bench/quant_chunks_ab.py [--settings 1,2,4] [--rounds 2] [--shapes 128:1024,64:2048:c,...]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.append(".")  # after PYTHONPATH
import sageattention  # noqa: E402
from bench.sm90_bench import flops  # noqa: E402
from bench.sm90_e2e_ab import parse_shapes  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

SHAPES = "128:1024,128:2048,128:2048:c,128:4096,128:8192,128:16384,64:1024,64:2048,64:4096,64:16384"
NAMES = ("q_int8", "q_scale", "k_int8", "k_scale", "k_mean", "v_fp8", "v_scale")


def use(setting: int) -> None:
    os.environ["SAGEATTENTION_QKV_MIN_CHUNKS"] = str(setting)


def compare(shapes: tuple[tuple[int, int, bool], ...], settings: list[int]) -> None:
    for d, n, _ in shapes:
        q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        k += 3 * torch.randn(1, 1, 1, d, device="cuda", dtype=torch.float16)  # an offset for the smoothing to remove
        outs = {}
        for s in settings:
            use(s)
            outs[s] = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        base = outs[settings[0]]
        for s in settings[1:]:
            diff = []
            for name in NAMES:
                a, b = base[name], outs[s][name]
                if a.dtype == torch.float8_e4m3fn:
                    a, b = a.view(torch.int8), b.view(torch.int8)
                ne = (a != b).sum().item()
                extra = ""
                if ne and a.dtype == torch.int8:
                    extra = f" (max |diff| {(a.int() - b.int()).abs().max().item()})"
                elif ne:
                    extra = f" (max rel {((a - b).abs() / b.abs().clamp_min(1e-12)).max().item():.1e})"
                diff.append(f"{name} {ne}{extra}")
            print(f"D{d} N={n}: setting {s} vs {settings[0]}: differing elements: " + ", ".join(diff), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--settings", default="1,2,4")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shapes", default=SHAPES)
    args = ap.parse_args()
    settings = [int(s) for s in args.settings.split(",")]
    shapes = parse_shapes(args.shapes)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, sageattention from {sageattention.__file__}")
    compare(shapes, settings)
    for r in range(args.rounds):
        order = settings if r % 2 == 0 else settings[::-1]
        for d, n, causal in shapes:
            q, k, v = (torch.randn(4, 32, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
            work = flops(4, 32, n, d, causal)
            cells = []
            for s in order:
                use(s)
                quant = time_ms(lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False), 50, 200)
                call = time_ms(lambda: sageattention.sageattn(q, k, v, is_causal=causal), 50, 200)
                cells.append(f"m>={s}: quant {quant * 1e3:7.1f} us, sageattn {work / call / 1e9:6.1f} TOPS")
            print(f"round {r + 1} D{d} N={n}{' causal' if causal else ''}: " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
