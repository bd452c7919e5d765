"""Bank and line check of the mma.sync kernels' shared-memory tile layouts, by enumeration (no GPU).

A Python replica of `SmemTile::at` and `col_order_row` (csrc/common/mma/tile.cuh) for each layout, fed with the row
and byte addresses that the kernels' ldmatrix calls (common/mma/attn_mainloop.cuh) and cp.async copies
(SmemTile::load / load_full) use. Reports, per tile and layout (FP8 PV's K tile in key order or in S-column order):
  - ldmatrix: the worst number of distinct 16-byte bank groups missed by one 8-address phase (0 = conflict-free);
  - copies: the worst number of 128-byte lines that one quarter-warp's eight 16-byte writes touch (1 = ideal).
It checks a design before it is built; what the GPU does is measured by ncu (bench/ncu_source_summary.py).
usage: python bench/mma_smem_layout_check.py
"""
from __future__ import annotations

from typing import Callable, Iterable

THREADS = 128  # MmaTile::kThreads
CTA_K = 64


def key_of_col(fp8: bool, j: int, c: int) -> int:
    if fp8:
        return (j // 4) * 32 + ((j % 4) // 2) * 16 + (c // 2) * 4 + (j % 2) * 2 + (c % 2)
    return j * 8 + c


def col_order_row(k: int) -> int:
    return (k & ~15) | ((k & 2) << 2) | ((k >> 1) & 6) | (k & 1)


def make_at(row_bytes: int, layout: str) -> Callable[[int, int], int]:
    """Byte offset of (row, byte) in a tile of `row_bytes`-byte rows under `layout`: pad or rows (swizzled)."""
    chunks = row_bytes // 16
    if layout == "pad":
        return lambda r, b: r * (row_bytes + 16) + b
    rows_per_line = 1 if chunks >= 8 else 8 // chunks
    mask = min(8, chunks) - 1

    if layout != "rows":
        raise ValueError(f"layout must be pad or rows, got {layout!r}")
    return lambda r, b: r * row_bytes + (((b >> 4) ^ ((r // rows_per_line) & mask)) * 16) + (b & 15)


def phase_conflicts(addrs: list[int]) -> int:
    return 8 - len({(a // 16) % 8 for a in addrs})


def ldmatrix_worst(at: Callable[[int, int], int], lanes: Callable[[int], Iterable[tuple[int, int]]],
                   calls: Iterable[int]) -> int:
    worst = 0
    for call in calls:
        rb = list(lanes(call))
        for p in range(4):
            worst = max(worst, phase_conflicts([at(r, b) for r, b in rb[8 * p:8 * p + 8]]))
    return worst


def copy_worst(at: Callable[[int, int], int], rows: int, row_bytes: int, col_order: bool = False) -> int:
    chunks = row_bytes // 16
    step = THREADS // chunks
    dest = col_order_row if col_order else (lambda r: r)
    worst = 0
    for k in range(rows // step):
        for q in range(THREADS // 8):
            lines = {at(dest(i // chunks + k * step), (i % chunks) * 16) // 128 for i in range(8 * q, 8 * q + 8)}
            worst = max(worst, len(lines))
    return worst


def check(d: int, fp8: bool, layout: str, k_col_order: bool = False) -> list[str]:
    mt_rows = 16 * (2 if d <= 128 else 1)
    sub_k = 32 if (fp8 or d > 128) else 64
    ns = sub_k // 8
    out = []
    q_at = make_at(d, layout)
    q_calls = [(w, mt, ks) for w in range(4) for mt in range(mt_rows // 16) for ks in range(d // 32)]
    out.append(("Q", ldmatrix_worst(q_at, lambda c: [(c[0] * mt_rows + c[1] * 16 + (l % 8) + ((l // 8) % 2) * 8,
                                                      c[2] * 32 + (l // 16) * 16) for l in range(32)], q_calls),
                copy_worst(q_at, 4 * mt_rows, d)))
    k_at = make_at(d, layout)
    k_order = fp8 and not k_col_order
    k_calls = [(key0, j, ks) for key0 in range(0, CTA_K, sub_k) for j in range(0, ns, 2) for ks in range(d // 32)]
    out.append(("K", ldmatrix_worst(k_at, lambda c: [(c[0] + key_of_col(k_order, c[1] + l // 16, l % 8),
                                                      c[2] * 32 + ((l // 8) % 2) * 16) for l in range(32)], k_calls),
                copy_worst(k_at, CTA_K, d, k_col_order)))
    if fp8:
        v_at = make_at(CTA_K, layout)
        v_calls = [(key0, nt) for key0 in range(0, CTA_K, sub_k) for nt in range(0, d // 8, 2)]
        out.append(("V^T", ldmatrix_worst(v_at, lambda c: [(c[1] * 8 + (l // 16) * 8 + l % 8,
                                                            c[0] + ((l // 8) % 2) * 16) for l in range(32)], v_calls),
                    copy_worst(v_at, d, CTA_K)))
    else:
        v_at = make_at(2 * d, layout)
        v_calls = [(key0, ks, np_) for key0 in range(0, CTA_K, sub_k) for ks in range(sub_k // 16)
                   for np_ in range(d // 16)]
        out.append(("V", ldmatrix_worst(v_at, lambda c: [(c[0] + c[1] * 16 + (l % 8) + ((l // 8) % 2) * 8,
                                                          (c[2] * 16 + (l // 16) * 8) * 2) for l in range(32)], v_calls),
                    copy_worst(v_at, CTA_K, 2 * d)))
    k_desc = "K in S-column order" if k_col_order else "K in key order     "
    return [f"{'FP8' if fp8 else 'FP16'} PV D={d:<3} {layout:<4} {k_desc} {name:<3}: "
            f"ldmatrix conflicts {lc}, lines per quarter-warp copy {cl}" for name, lc, cl in out]


def main() -> None:
    cases = [(d, False, layout) for d in (64, 128) for layout in ("pad", "rows")]
    cases += [(d, True, layout, col) for d in (64, 128) for layout in ("pad", "rows") for col in (False, True)]
    for case in cases:
        print("\n".join(check(*case)))


if __name__ == "__main__":
    main()
