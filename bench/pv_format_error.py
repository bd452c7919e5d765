"""How much of the FP8-PV kernels' error the e4m3 format itself makes: PV computed in float64 from P and V rounded to
8-bit and 16-bit formats, with QK exact, against float64 attention.

Issues #3 and #4 ask FP8 PV for relative L1 <= 0.03 against float64 at N=4096 on randn inputs; every FP8-PV kernel
here measures 0.037-0.039 (bench/results/mma_accuracy_h100.md, bench/NOTES.md "Accuracy"). This script splits that
figure into its two roundings, on the CPU, without any kernel: P̃ = p * 448 in e4m3 (the static offset: the row max
maps to 448, so the relative precision is e4m3's 3 mantissa bits wherever P is) and V in e4m3 with a per-channel
scale amax / 448, each alone and together. It also rounds both to other formats for comparison: float16 (what FP16 PV
multiplies), unsigned 8-bit P scaled by each 64-key tile's row max with signed 8-bit V per channel or per 64-token
block and channel (formats no kernel here uses; they show where uniform 8-bit steps win or lose against e4m3's
floating ones), and the sm90 INT8-PV kernel's: u8 P against the row max rounded up to a power of two, s8 V per
channel, l summed from the rounded P (its final reference only: the kernel's earlier steps, shifted down when the
running max rises, add a little). V is drawn randn and
Student-t(3) (heavy-tailed tokens); Q scaled by `--sharpness` makes the rows' attention more peaked. QK is exact
here, so this is PV's part only: the kernels' INT8 QK adds its own (the FP16-PV kernels' whole figure) in quadrature,
and grows as the rows get sharper while PV's part falls (bench/results/mma_accuracy_sharp_h100_s41.md).

    python bench/pv_format_error.py [--n 4096] [--d 128] [--heads 4] [--device cpu] [--out bench/results/NAME]

Prints a markdown table (rel L1, cosine; mean over heads) and, with --out, writes OUT.md and OUT.json."""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Callable

import torch

sys.path.insert(0, ".")
from sageattention import reference as R  # noqa: E402

Format = Callable[[torch.Tensor], torch.Tensor]
PFormat = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (p, ref): ref = a row's power-of-2 reference / max

E4M3_MAX = 448.0  # e4m3fn's largest finite value: P̃'s static offset and V's per-channel scale target
TILE = 64  # keys per tile for the tile-scaled 8-bit P


def e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round to e4m3 (nearest, ties to even) and back. Through float32, which every device converts from; its 24-bit
    rounding first moves no value to another e4m3 neighbour except at exact ties."""
    return x.float().to(torch.float8_e4m3fn).to(x.dtype)


def p_exact(p: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    return p


def p_e4m3(p: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    """The kernels' P̃: p in (0, 1] times 448 (the running max shifted by log2 448), rounded to e4m3."""
    return e4m3(p * E4M3_MAX) / E4M3_MAX


def p_f16(p: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    return p.half().to(p.dtype)


def p_u8_pow2(p: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The sm90 INT8-PV kernel's P̃: 255 p / ref rounded to an integer, ref in [1, 2) the row's reference (its max
    rounded up to a power of two) over its max. One scale for the whole row, so where the row is sharp most of its
    small probabilities fall below half a step and round to 0 (e4m3's exponent keeps them)."""
    return torch.round(p / ref * 255) / 255 * ref


def p_u8_tile(p: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
    """Unsigned 8-bit P, each row's 64-key tile scaled by its own max (255 levels), so flat rows keep their small
    probabilities; the tile's scale would multiply a fresh integer accumulator."""
    n, m = p.shape
    pt = p.reshape(n, m // TILE, TILE)
    top = pt.amax(2, keepdim=True).clamp_min(torch.finfo(p.dtype).tiny)
    return (torch.round(pt / top * 255) / 255 * top).reshape(n, m)


def v_exact(v: torch.Tensor) -> torch.Tensor:
    return v


def v_e4m3(v: torch.Tensor) -> torch.Tensor:
    """The kernels' V: per-channel scale amax / 448, rounded to e4m3, the scale applied after the sum."""
    scale = v.abs().amax(0, keepdim=True).clamp_min(1e-30) / E4M3_MAX
    return e4m3(v / scale) * scale


def v_s8(v: torch.Tensor) -> torch.Tensor:
    scale = v.abs().amax(0, keepdim=True).clamp_min(1e-30) / 127
    return torch.round(v / scale) * scale


def v_s8_block(v: torch.Tensor) -> torch.Tensor:
    """Signed 8-bit V with a scale per 64-token block and channel: a heavy-tailed token spoils only its block's steps.
    Its scale varies along PV's reduction, so a kernel would apply it to each tile's integer accumulator per channel."""
    n, d = v.shape
    vb = v.reshape(n // TILE, TILE, d)
    scale = vb.abs().amax(1, keepdim=True).clamp_min(1e-30) / 127
    return (torch.round(vb / scale) * scale).reshape(n, d)


INT8_PV = "u8 P against a power-of-2 max, s8 V, l of the rounded P (sm90 INT8 PV)"
# (name, P format, V format, l from the rounded P): the FP8 kernels' roundings alone and together, then the
# comparisons. l sums the unrounded p unless the last field says otherwise (for e4m3 the two agree to 1e-4).
PAIRS: tuple[tuple[str, PFormat, Format, bool], ...] = (
    ("e4m3 P, exact V", p_e4m3, v_exact, False),
    ("exact P, e4m3 V", p_exact, v_e4m3, False),
    ("e4m3 P, e4m3 V (FP8 PV)", p_e4m3, v_e4m3, False),
    ("f16 P, f16 V (FP16 PV)", p_f16, v_exact, False),
    ("u8 P per 64-key tile, exact V", p_u8_tile, v_exact, False),
    ("exact P, s8 V", p_exact, v_s8, False),
    ("u8 P per 64-key tile, s8 V", p_u8_tile, v_s8, False),
    ("u8 P per 64-key tile, s8 V per 64-token block", p_u8_tile, v_s8_block, False),
    ("u8 P against a power-of-2 max, exact V, l of the rounded P", p_u8_pow2, v_exact, True),
    (INT8_PV, p_u8_pow2, v_s8, True),
)
V_KINDS = ("randn", "student-t3")


def draw_v(kind: str, n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    if kind == "randn":
        return torch.randn(n, d, generator=gen)
    # Student-t with 3 degrees of freedom: normal / sqrt(chi2_3 / 3), heavy tails along the tokens.
    chi2 = torch.randn(n, d, 3, generator=gen).pow(2).sum(-1)
    return torch.randn(n, d, generator=gen) / (chi2 / 3).sqrt()


def measure(n: int, d: int, heads: int, sharpness: float, device: str, seed: int = 0) -> list[dict]:
    """Rows of (v kind, pair): rel L1 and cosine against float64 attention, mean over `heads` heads. Inputs are
    drawn in float32, rounded to float16 (the issues' input dtype) and computed in float64."""
    if n % TILE:
        raise ValueError(f"--n must be a multiple of {TILE} (the 8-bit P tile), got {n}")
    gen = torch.Generator().manual_seed(seed)
    sums: dict[tuple[str, str], list[float]] = {}
    for _ in range(heads):
        q, k = (torch.randn(n, d, generator=gen).half().double().to(device) for _ in range(2))
        s = (q * sharpness) @ k.T / math.sqrt(d)
        m2 = s.amax(1, keepdim=True) * math.log2(math.e)  # the row max in the kernels' log2 units
        ref = torch.exp2(torch.ceil(m2) - m2)
        p = torch.exp(s - s.amax(1, keepdim=True))
        l = p.sum(1, keepdim=True)
        del s
        p_of = {pf: pf(p, ref) for pf in dict.fromkeys(pf for _, pf, _, _ in PAIRS)}  # each P format once per head
        for kind in V_KINDS:
            v = draw_v(kind, n, d, gen).half().double().to(device)
            exact = p @ v / l
            v_of = {vf: vf(v) for vf in dict.fromkeys(vf for _, _, vf, _ in PAIRS)}
            for name, pf, vf, rounded_l in PAIRS:
                o = p_of[pf] @ v_of[vf] / (p_of[pf].sum(1, keepdim=True) if rounded_l else l)
                acc = sums.setdefault((kind, name), [0.0, 0.0])
                acc[0] += R.rel_l1(o, exact) / heads
                acc[1] += R.cosine(o, exact) / heads
    return [{"v": kind, "pv": name, "rel_l1": round(r, 5), "cosine": round(c, 7)}
            for (kind, name), (r, c) in sums.items()]


def table(rows: list[dict]) -> str:
    lines = ["| V | P and V rounded to | rel L1 | cosine |", "|---|---|---:|---:|"]
    lines += [f"| {r['v']} | {r['pv']} | {r['rel_l1']:.4f} | {r['cosine']:.6f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096, help="queries = keys (a multiple of 64)")
    ap.add_argument("--d", type=int, default=128, help="head dim")
    ap.add_argument("--heads", type=int, default=4, help="heads averaged over (each its own draw)")
    ap.add_argument("--sharpness", type=float, default=1.0, help="Q multiplier: > 1 gives more peaked rows")
    ap.add_argument("--device", default="cpu", help="where the float64 products run (cpu or cuda)")
    ap.add_argument("--out", default=None, help="OUT.md / OUT.json (default: print only)")
    args = ap.parse_args(argv)
    for name in ("n", "d", "heads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be a positive int, got {getattr(args, name)}")
    if not args.sharpness > 0:
        ap.error(f"--sharpness must be > 0, got {args.sharpness}")
    t0 = time.time()
    try:
        rows = measure(args.n, args.d, args.heads, args.sharpness, args.device)
    except ValueError as exc:
        ap.error(str(exc))
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.machine()
    head = (f"PV formats against float64 attention: N={args.n} D={args.d}, {args.heads} heads, Q x {args.sharpness}, "
            f"QK exact, inputs rounded to float16; torch {torch.__version__}, {where}, "
            f"{time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s")
    text = f"{head}\n\n{table(rows)}\n"
    print(text)
    if args.out:
        with open(f"{args.out}.md", "w") as f:
            f.write(f"# {text}")
        with open(f"{args.out}.json", "w") as f:
            json.dump({"config": vars(args), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
