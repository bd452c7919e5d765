"""bench/ncu_source_summary.py on a small hand-made ncu source-page table: totals against ideal, the rows that carry
the excess, stall reasons and samples per opcode, and a clear error for a file that is not such a table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

COLUMNS = ["Address", "Source", "Warp Stall Sampling (All Samples)", "Instructions Executed",
           "L1 Wavefronts Shared", "L1 Wavefronts Shared Ideal", "L1 Wavefronts Shared Excessive",
           "L2 Theoretical Sectors Global", "L2 Theoretical Sectors Global Ideal",
           "L2 Theoretical Sectors Global Excessive", "stall_long_sb", "stall_math", "stall_long_sb (Not Issued)"]


@pytest.fixture(scope="module")
def summary(bench_module):
    return bench_module("ncu_source_summary")


def write_table(path: Path, rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Kernel Name", "void k<64>(P)"])
        w.writerow(COLUMNS)
        w.writerows(rows)
    return path


def test_totals_excess_rows_and_stalls(summary, tmp_path: Path) -> None:
    table = write_table(tmp_path / "t.csv", [
        ["0x7f0000000010", "LDGSTS.E.BYPASS.128 desc[UR16][R88.64], [R101]", 10, 100, 1500, 400, 1100, 2400, 1600, 800,
         8, 2, 99],
        ["0x7f0000000020", "@P0 HMMA.16816.F32 R76, R120, R90, R76", 30, 1000, 0, 0, 0, 0, 0, 0, 0, 30, 0],
        ["0x7f0000000030", "LDSM.16.M88.4 R44, [R250]", "1,000", 200, 800, 800, 0, 0, 0, 0, 600, 400, 0],
    ])
    lines = summary.summarize(str(table), top=4)
    text = "\n".join(lines)
    assert lines[0] == "# void k<64>(P)"
    assert "instructions executed 1300, stall samples 1040" in text
    assert "L1 Wavefronts Shared: 2300 (ideal 1200, excess 1100 = 47.8 %)" in text
    assert "15.00 per instruction (ideal 4.00)" in text  # the LDGSTS row, per executed instruction
    assert "L2 Theoretical Sectors Global: 2400 (ideal 1600, excess 800 = 33.3 %)" in text
    # "(Not Issued)" columns are not counted again; 608 of 1040 stall samples are long-scoreboard.
    assert "stall reasons: long_sb 58.5 %, math 41.5 %" in text
    assert "samples per opcode: LDSM 96.2 %, HMMA 2.9 %, LDGSTS 1.0 %" in text  # a predicate is not the opcode
    hottest = lines[lines.index("instructions with the most stall samples:") + 1]
    assert hottest.startswith("  00030 LDSM.16.M88.4") and "long_sb 60 %, math 40 %" in hottest


def test_not_a_source_table_is_an_error(summary, tmp_path: Path) -> None:
    bad = tmp_path / "details.txt"
    bad.write_text("==PROF== Connected to process\n  Section: Source Counters\n")
    with pytest.raises(SystemExit, match="not an ncu source-page CSV"):
        summary.summarize(str(bad), top=3)
    table = tmp_path / "t.csv"
    with open(table, "w", newline="") as f:
        csv.writer(f).writerows([["Kernel Name", "k"], ["Address", "Source"], ["0x10", "NOP"]])
    with pytest.raises(SystemExit, match="column 'L1 Wavefronts Shared' missing; profile with --section=SourceCounters"):
        summary.summarize(str(table), top=3)
