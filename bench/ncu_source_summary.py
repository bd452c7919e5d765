"""Summary of Nsight Compute's per-instruction source table (`ncu --import R --page source --csv --print-source sass`,
as scripts/gpu_mma_d64_profile.sh writes it): totals of the L1 shared wavefronts and L2 global sectors against ncu's
ideal, the instructions that carry the excess, the warp-stall reasons, the stall samples per opcode, and the
instructions with the most stall samples (with their two main reasons).

    python bench/ncu_source_summary.py TABLE.csv [--top N]
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter

WAVEFRONTS = ("L1 Wavefronts Shared", "L1 Wavefronts Shared Ideal", "L1 Wavefronts Shared Excessive")
SECTORS = ("L2 Theoretical Sectors Global", "L2 Theoretical Sectors Global Ideal",
           "L2 Theoretical Sectors Global Excessive")
SAMPLES = "Warp Stall Sampling (All Samples)"
EXECUTED = "Instructions Executed"


def number(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return 0.0


def opcode(sass: str) -> str:
    words = sass.split()
    if not words:
        return "?"
    return (words[1] if words[0].startswith("@") and len(words) > 1 else words[0]).split(".")[0]


def summarize(path: str, top: int) -> list[str]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 3 or "Source" not in rows[1]:
        raise SystemExit(f"{path}: not an ncu source-page CSV (expected a 'Kernel Name' line, then a header with 'Source')")
    kernel, header, data = rows[0], rows[1], rows[2:]
    col = {h: i for i, h in enumerate(header)}
    for name in (*WAVEFRONTS, *SECTORS, SAMPLES, EXECUTED):
        if name not in col:
            raise SystemExit(f"{path}: column {name!r} missing; profile with --section=SourceCounters")

    def val(row: list[str], name: str) -> float:
        return number(row[col[name]])

    out = [f"# {kernel[1] if len(kernel) > 1 else kernel[0]}",
           f"instructions executed {sum(val(r, EXECUTED) for r in data):.4g}, stall samples "
           f"{sum(val(r, SAMPLES) for r in data):.4g}"]
    for names in (WAVEFRONTS, SECTORS):
        total, ideal, excess = (sum(val(r, n) for r in data) for n in names)
        out.append(f"{names[0]}: {total:.4g} (ideal {ideal:.4g}, excess {excess:.4g} = {100 * excess / max(total, 1):.1f} %)")
        for r in sorted(data, key=lambda r: -val(r, names[2]))[:top]:
            if val(r, names[2]) > 0:
                out.append(f"  {r[col['Address']][-5:]} {r[col['Source']].strip()[:64]:64s} "
                           f"{val(r, names[0]) / max(val(r, EXECUTED), 1):6.2f} per instruction "
                           f"(ideal {val(r, names[1]) / max(val(r, EXECUTED), 1):.2f})")
    stalls = [h for h in header if h.startswith("stall_") and "Not Issued" not in h]
    totals = Counter({h: sum(val(r, h) for r in data) for h in stalls})
    all_stalls = sum(totals.values()) or 1
    out.append("stall reasons: " + ", ".join(f"{h[6:]} {100 * v / all_stalls:.1f} %" for h, v in totals.most_common(8)))
    by_op: Counter[str] = Counter()
    for r in data:
        by_op[opcode(r[col["Source"]].strip())] += val(r, SAMPLES)
    all_samples = sum(by_op.values()) or 1
    out.append("samples per opcode: " + ", ".join(f"{op} {100 * v / all_samples:.1f} %" for op, v in by_op.most_common(10)))
    out.append("instructions with the most stall samples:")
    for r in sorted(data, key=lambda r: -val(r, SAMPLES))[:top]:
        reasons = sorted(((val(r, h), h[6:]) for h in stalls), reverse=True)[:2]
        out.append(f"  {r[col['Address']][-5:]} {r[col['Source']].strip()[:60]:60s} {100 * val(r, SAMPLES) / all_samples:5.1f} % "
                   + ", ".join(f"{name} {100 * v / max(val(r, SAMPLES), 1):.0f} %" for v, name in reasons))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    print("\n".join(summarize(args.table, args.top)))


if __name__ == "__main__":
    main()
