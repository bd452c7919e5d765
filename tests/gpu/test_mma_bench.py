"""sageattention.bench: report formatting (runs anywhere) and a tiny GPU sweep (gpu marker)."""

from __future__ import annotations

import json

import pytest

from sageattention import bench

REQUIRED = {"backend", "device", "dtype", "batch", "heads", "seqlen", "headdim", "causal", "kernel_only", "tops"}


def _row(backend, n, tops, kernel_only=False, causal=False):
    env = {"device": "GPU", "capability": "sm_90", "driver": "1", "torch": "2", "cuda": "13.0", "cudnn": "9",
           "sageattention": "x", "python": "3.12", "date": "today"}
    return {"backend": backend, "dtype": "fp16", "batch": 1, "heads": 2, "seqlen": n, "headdim": 64,
            "causal": causal, "layout": "HND", "kernel_only": kernel_only, "ms": 1.0, "tops": tops, **env}


def test_registry_has_the_documented_backends():
    for name in ("sdpa_flash", "sdpa_cudnn", "sdpa_efficient", "sageattn", "sage_fp16_cuda", "sage_fp16_cuda_kernel",
                 "sage_fp8_cuda", "sage_fp8_cuda_kernel", "sage_fp8_cuda_fp32", "sage_fp8_cuda_fp32f16_kernel",
                 "sage_fp16_cuda_fp16f32", "sage_fp16_cuda_fp16_kernel"):
        assert name in bench.BACKENDS
    assert bench.BACKENDS["sage_fp16_cuda_kernel"].kernel_only
    bench.register("dummy_for_test", lambda q, k, v, causal, layout: (lambda: None))
    try:
        assert "dummy_for_test" in bench.BACKENDS
    finally:
        del bench.BACKENDS["dummy_for_test"]


def test_markdown_tables_and_skips(tmp_path):
    rows = [_row("a", 1024, 100.0), _row("a", 2048, 110.0), _row("b_kernel", 1024, 90.0, kernel_only=True),
            {"backend": "c", "skipped": "not built"}]
    md = bench.write_outputs(rows, tmp_path, "t")
    assert "| a | 100.0 | 110.0 |" in md and "| b_kernel | 90.0 |  |" in md
    assert "skipped c: not built" in md
    assert json.loads((tmp_path / "t.json").read_text())[0]["backend"] == "a"
    pytest.importorskip("matplotlib")
    assert bench.plot(rows, tmp_path / "t.png") and (tmp_path / "t.png").stat().st_size > 0


def test_rounds_alternate_the_order_and_drop_what_cannot_be_timed():
    seen = []

    def timer(name, fn):
        seen.append(name)
        return None if name == "c" and len(seen) > 3 else float(len(seen))

    calls = {"a": lambda: None, "b": lambda: None, "c": lambda: None}
    times = bench.time_rounds(calls, 3, timer)
    # forward, reverse (c fails there and drops out), forward without c
    assert seen == ["a", "b", "c", "c", "b", "a", "a", "b"]
    assert times == {"a": [1.0, 6.0, 7.0], "b": [2.0, 5.0, 8.0]}
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        bench.time_rounds(calls, 0, timer)


def test_rounds_flag_is_checked_before_any_gpu_work(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--rounds", "0"])
    assert exc.value.code == 2
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err


def test_markdown_header_says_how_rounds_were_combined():
    one = _row("a", 1024, 100.0)
    two = {**one, "ms_rounds": [1.0, 1.0]}
    assert "rounds" not in bench.markdown([one])
    assert "the mean of 2 rounds with the backends timed in forward and reverse order by turns" in bench.markdown([two])


def test_markdown_header_names_the_board_power_limit():
    row = {**_row("a", 1024, 100.0), "power_limit_w": "700.00", "sm_clock_max_mhz": "1980"}
    assert "board power limit 700.00 W, SM clock max 1980 MHz" in bench.markdown([row])
    # rows written before the board fields existed still render
    assert "board power limit unknown W" in bench.markdown([_row("a", 1024, 100.0)])


@pytest.mark.gpu
def test_gpu_board_reads_this_gpu():
    board = bench.gpu_board()
    assert board["driver"] != "unknown", board
    assert float(board["power_limit_w"]) > 0 and float(board["sm_clock_max_mhz"]) > 0, board


@pytest.mark.gpu
def test_tiny_sweep_writes_rows(tmp_path):
    rc = bench.main(["--seqlens", "256", "--headdims", "64", "--causal", "0,1", "--batch", "1", "--heads", "2",
                     "--backends", "sdpa_flash,sage_fp16_cuda,sage_fp16_cuda_kernel", "--warmup-ms", "2",
                     "--rep-ms", "5", "--out", str(tmp_path), "--name", "tiny"])
    assert rc == 0
    rows = [r for r in json.loads((tmp_path / "tiny.json").read_text()) if "tops" in r]
    assert rows and all(REQUIRED <= set(r) and r["tops"] > 0 for r in rows)
    # the default two rounds: a row's time is the mean of both
    assert all(len(r["ms_rounds"]) == 2 and r["ms"] == pytest.approx(sum(r["ms_rounds"]) / 2, abs=1e-3) for r in rows)


def test_markdown_stars_the_cells_where_sageattn_ran_sdpa():
    routed = {**_row("sageattn", 1024, 100.0), "path": "sdpa"}
    kernel = {**_row("sageattn", 4096, 300.0), "path": "sageattn_qk_int8_pv_fp8_cuda_sm90"}
    md = bench.markdown([routed, kernel])
    assert "| sageattn | 100.0* | 300.0 |" in md
    assert "`sageattn` ran SDPA" in md
    assert "ran SDPA" not in bench.markdown([kernel])
