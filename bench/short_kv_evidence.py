"""The measurements behind sageattention/_short_kv.py's regions, read back from bench/results.

For each region of a family: how many measured calls it holds, and the range of the kernel's time over SDPA's among
them (a ratio above 1: SDPA was faster); then the measured calls that no region holds although SDPA was faster by
more than --show-missed. tests/cpu/test_short_kv.py checks the shipped regions against the same numbers.

    python bench/short_kv_evidence.py [--family sm90] [--show-missed 1.1]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import dataclass

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from sageattention import _short_kv  # noqa: E402
from sageattention._validate import Shapes  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# bench/short_kv_route.py runs on the lent H100 (sm90): up to 2 048 keys (thirty-sixth session), then the grid past
# 1 024 keys, the regions' edges and decode steps (thirty-seventh).
SM90_FILES = (
    "short_kv_route_h100_s36.json", "short_kv_route_long_h100_s36.json", "short_kv_route_self_h100_s36.json",
    "short_kv_route_bf16_h100_s36.json", "short_kv_route_gqa_h100_s36.json", "short_kv_route_check_h100_s36.json",
    "short_kv_grid_first_h100_s37.json", "short_kv_grid_h100_s37.json", "short_kv_edges_draft_h100_s37.json",
    "short_kv_edges_h100_s37.json", "short_kv_edges_final_h100_s37.json", "short_kv_decode_h100_s37.json",
    "short_kv_decode_queries_h100_s37.json",
)
FILES = {"sm90": SM90_FILES}


@dataclass(frozen=True)
class Measured:
    shapes: Shapes
    causal: bool
    layout: str
    dtype: str
    ratio: float  # the kernel's time over SDPA's
    source: str

    def label(self) -> str:
        s = self.shapes
        return (f"D{s.head_dim} B{s.batch} H{s.heads_q}/{s.heads_kv} {s.qo_len}x{s.kv_len}"
                f"{' causal' if self.causal else ''} {self.layout} {self.dtype}")


def measured(family: str) -> list[Measured]:
    """Every measured call of the family's files. SDPA's time is the route's own function (`sdpa_fallback`) where a
    file has it, else `sageattn` forced onto the route (the thirty-sixth session's first files, no GQA among them)."""
    calls = []
    for name in FILES[family]:
        by_call: dict[tuple, dict[str, float]] = {}
        for row in json.loads((RESULTS / name).read_text()):
            key = (row["batch"], row["heads"], row.get("kv_heads", row["heads"]), row["seqlen"], row["kv_len"],
                   row["headdim"], bool(row["causal"]), row["layout"], row["dtype"])
            by_call.setdefault(key, {})[row["backend"]] = row["us"]
        for (b, h, hkv, nq, nkv, d, causal, layout, dtype), us in by_call.items():
            sdpa = us.get("sdpa_fallback", us.get("sageattn_route"))
            calls.append(Measured(Shapes(b, h, hkv, nq, nkv, d), causal, layout, dtype, us["sageattn_kernel"] / sdpa,
                                  name))
    return calls


def routable(call: Measured) -> bool | None:
    """SDPA's causal flag for the call where the route may take it (sageattention/_short_kv.plain_causal)."""
    return _short_kv.plain_causal(call.shapes, call.causal)


def held(region: _short_kv.Region, calls: list[Measured]) -> list[Measured]:
    return [c for c in calls if (causal := routable(c)) is not None and region.holds(c.shapes, causal)]


def ratio_range(calls: list[Measured]) -> str:
    """How a region's `evidence` reads: the lowest and highest ratio, two decimals."""
    ratios = [c.ratio for c in calls]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="sm90", choices=sorted(FILES))
    ap.add_argument("--show-missed", type=float, default=1.1, help="list calls outside every region above this ratio")
    args = ap.parse_args()
    calls = measured(args.family)
    regions = _short_kv.MEASURED_REGIONS.get(args.family, ())
    print(f"{len(calls)} measured calls ({args.family})")
    for region in regions:
        inside = held(region, calls)
        print(f"{region.describe()}: {len(inside)} calls, {ratio_range(inside) if inside else 'none'} "
              f"(evidence in the table: {region.evidence})")
    missed = sorted((c for c in calls if c.ratio > args.show_missed and not any(held(r, [c]) for r in regions)),
                    key=lambda c: -c.ratio)
    print(f"outside every region, SDPA faster by more than {args.show_missed}x: {len(missed)}")
    for c in missed:
        print(f"  {c.ratio:.2f}  {c.label()}  ({c.source})")


if __name__ == "__main__":
    main()
