"""sageattention.bench_models and its shape table: the table's arithmetic, the report's columns.
tests/gpu/test_bench_models_gpu.py runs one small shape on the GPU."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

import sageattention
from sageattention import bench, bench_models
from sageattention.model_shapes import MODEL_SHAPES, ModelShape, select


def test_every_shape_is_one_the_kernels_take() -> None:
    labels = [s.label for s in MODEL_SHAPES]
    assert len(set(labels)) == len(labels), "labels name the rows of the report, so they must differ"
    for s in MODEL_SHAPES:
        assert s.heads % s.kv_heads == 0, s.label
        assert 0 < s.headdim <= 256 and s.dtype in bench.DTYPES, s.label
        # SDPA's is_causal is top-left aligned, sageattn's bottom-right: they agree only for equal lengths
        assert not s.causal or s.q_len == s.kv_len, s.label


def test_token_counts_follow_their_derivation() -> None:
    by = {s.label: s for s in MODEL_SHAPES}
    wan = by["Wan2.1-T2V-14B, 832x480, 81 frames, self-attention"]
    assert wan.q_len == ((81 - 1) // 4 + 1) * (480 // 16) * (832 // 16)
    assert by["HunyuanVideo, 1280x720, 129 frames, joint attention"].q_len == ((129 - 1) // 4 + 1) * 45 * 80 + 256
    assert by["CogVideoX-5B, 720x480, 49 frames, joint attention"].q_len == ((49 - 1) // 4 + 1) * 30 * 45 + 226
    assert by["FLUX.1-dev, 1024x1024, joint attention"].q_len == (1024 // 16) ** 2 + 512
    assert by["SD3 medium, 1024x1024, joint attention"].q_len == (1024 // 16) ** 2 + 77 + 256


def test_causal_flops_count_the_kept_scores() -> None:
    full = ModelShape("m", "l", 1, 1, 1, 8, 8, 64, False, "fp16", "")
    causal = ModelShape("m", "l", 1, 1, 1, 8, 8, 64, True, "fp16", "")
    assert full.flops() == 4 * 64 * 64
    assert causal.flops() == 4 * 64 * (8 * 9 // 2)  # rows see 1..8 keys
    longer_kv = ModelShape("m", "l", 1, 1, 1, 2, 5, 64, True, "fp16", "")
    assert longer_kv.flops() == 4 * 64 * (4 + 5)  # bottom-right: the last row sees every key


def test_select_names_the_models_when_nothing_matches() -> None:
    assert select(None) == MODEL_SHAPES
    assert all("wan" in s.label.lower() for s in select("WAN"))
    with pytest.raises(ValueError, match="matches no model shape; models: .*Qwen2.5-7B"):
        select("no such model")


def _row(backend: str, ms: float | None, **extra: object) -> dict[str, object]:
    row = {"backend": backend, "kernel_only": False, "model": "M", "layer": "self", "device": "GPU", "dtype": "bf16",
           "batch": 1, "heads": 8, "kv_heads": 2, "seqlen": 100, "kv_len": 100, "headdim": 64, "causal": True,
           "layout": "HND", "capability": "sm_90", "driver": "1", "power_limit_w": "700", "torch": "2",
           "cuda": "13.0", "cudnn": "9", "sageattention": "x", "date": "today", **extra}
    if ms is not None:
        row.update(ms=ms, tops=1.0)
    return row


def test_report_takes_the_fastest_sdpa_that_ran(tmp_path) -> None:
    rows = [_row("sageattn", 1.0, rel_l1=0.031, cos=0.99951), _row("sdpa_cudnn", 1.5), _row("sdpa_flash", 2.0),
            _row("sdpa_efficient", None, skipped="No available kernel")]
    assert bench_models.speedups(rows) == [("M, self", 1.5, "sdpa_cudnn")]
    md = bench.write_outputs(rows, tmp_path, "m", bench_models.markdown)
    assert ("| M | self | B1 H8/2 N100 D64 causal bf16 | 1.0 | 1.5 | 2.0 | — | 1.50x (sdpa_cudnn) | 0.0310 "
            "| 0.99951 |") in md
    assert "- sdpa_efficient at M, self: No available kernel" in md
    assert "driver 1, board power limit 700 W, SM clock max unknown MHz, torch 2, CUDA 13.0, cuDNN 9" in md
    assert json.loads((tmp_path / "m.json").read_text())[3]["skipped"] == "No available kernel"


def test_plot_draws_the_speedups(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    rows = [_row("sageattn", 1.0), _row("sdpa_cudnn", 1.5)]
    assert bench_models.plot(rows, tmp_path / "m.png") and (tmp_path / "m.png").stat().st_size > 0
    assert not bench_models.plot([_row("sageattn", 1.0)], tmp_path / "none.png"), "nothing to compare against"


def test_list_needs_no_gpu(capsys) -> None:
    assert bench_models.main(["--list", "--only", "Llama"]) == 0
    out = capsys.readouterr().out
    assert "Nq=8192" in out and "GQA 4:1" in out


def test_rounds_flag_is_checked_before_any_gpu_work(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_models.main(["--rounds", "0"])
    assert exc.value.code == 2
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err


def test_report_says_how_rounds_were_combined() -> None:
    two = [_row("sageattn", 1.0, ms_rounds=[0.9, 1.1]), _row("sdpa_cudnn", 1.5, ms_rounds=[1.5, 1.5])]
    assert "the mean of 2 rounds with the backends timed in forward and reverse order by turns" in \
        bench_models.markdown(two)
    assert "rounds" not in bench_models.markdown([_row("sageattn", 1.0), _row("sdpa_cudnn", 1.5)])


def test_report_marks_shapes_where_sageattn_ran_sdpa() -> None:
    rows = [_row("sageattn", 1.0, path="sdpa"), _row("sdpa_cudnn", 1.0)]
    assert "| 1.00x (sdpa_cudnn; `sageattn` ran SDPA) |" in bench_models.markdown(rows)
    rows = [_row("sageattn", 1.0, path="sageattn_qk_int8_pv_fp8_cuda_sm90"), _row("sdpa_cudnn", 1.0)]
    assert "| 1.00x (sdpa_cudnn) |" in bench_models.markdown(rows)


def test_sageattn_path_reads_the_dispatch_log_line() -> None:
    q = torch.randn(1, 2, 8, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU fallback's one-time warning
        assert bench.sageattn_path(lambda: sageattention.sageattn(q, q, q)) == "sdpa"
    assert bench.sageattn_path(lambda: None) == "unknown"
