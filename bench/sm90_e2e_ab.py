"""A/B of sm90 module builds end to end (run once per build, same GPU): the fused quantization
pass alone (ms), the single-level kernel on pre-quantized inputs and the whole `sageattn` call
(TOPS), with the sustained timer (sageattention.bench.time_ms).

    python bench/sm90_e2e_ab.py LABEL [--kernel-only] [--shapes D:N[:c],...]

--kernel-only: the kernel alone, all shapes on one line (the quick half of a schedule A/B:
`scripts/gpu_sm90_variants.sh quick` runs it once per build and round).
--shapes: other shapes than the default set, e.g. 128:8192:c,128:32768:c (c: causal).
"""

from __future__ import annotations

import sys

import torch

sys.path.insert(0, ".")
import sageattention  # noqa: E402
from bench.sm90_bench import flops, kernel_only  # noqa: E402
from sageattention.bench import time_ms  # noqa: E402
from sageattention.kernels import sm90  # noqa: E402

SHAPES = ((128, 4096, False), (128, 8192, False), (128, 16384, False), (128, 16384, True), (64, 16384, False),
          (128, 32768, False))


def parse_shapes(spec: str) -> tuple[tuple[int, int, bool], ...]:
    shapes = []
    for item in spec.split(","):
        parts = item.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "c"):
            raise SystemExit(f"--shapes: expected D:N or D:N:c, got {item!r}")
        shapes.append((int(parts[0]), int(parts[1]), len(parts) == 3))
    return tuple(shapes)


def main() -> None:
    argv = sys.argv[1:]
    shapes = SHAPES
    if "--shapes" in argv:
        i = argv.index("--shapes")
        if i + 1 >= len(argv):
            raise SystemExit("--shapes needs a value, e.g. 128:8192:c")
        shapes = parse_shapes(argv[i + 1])
        del argv[i : i + 2]
    args = [a for a in argv if a != "--kernel-only"]
    only_kernel = "--kernel-only" in argv
    label = args[0] if args else "build"
    b, h = 4, 32
    cells = []
    for d, n, causal in shapes:
        torch.manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        ops = sm90.quantize(q, k, v, "HND", "per_thread", True, False)
        ops_count = flops(b, h, n, d, causal)
        if only_kernel:
            kernel = ops_count / (time_ms(kernel_only(q, ops, n, causal, False), 50, 200) / 1e3) / 1e12
            cells.append(f"D{d}{'c' if causal else ''}-{n // 1024}K {kernel:6.1f}")
            del q, k, v, ops
            continue
        quant_ms = time_ms(lambda: sm90.quantize(q, k, v, "HND", "per_thread", True, False))  # noqa: B023
        kernel = ops_count / (time_ms(kernel_only(q, ops, n, causal, False)) / 1e3) / 1e12
        e2e = ops_count / (time_ms(lambda: sageattention.sageattn(q, k, v, is_causal=causal)) / 1e3) / 1e12  # noqa: B023
        print(f"[{label}] D{d} N={n} causal={int(causal)}: quant {quant_ms:.3f} ms  kernel {kernel:6.1f}  "
              f"sageattn {e2e:6.1f} TOPS", flush=True)
        del q, k, v, ops
    if only_kernel:
        print(f"[{label:>14}] " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
