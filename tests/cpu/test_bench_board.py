"""sageattention.bench.gpu_board's fallbacks: nvidia-smi that cannot select this process's GPU by UUID, and no
nvidia-smi at all (the GPU test test_gpu_board_reads_this_gpu reads a real board)."""

from __future__ import annotations

import subprocess

import pytest

from sageattention import bench


class _Props:
    uuid = "abcd-1234"


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench.torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(bench.torch.cuda, "get_device_properties", lambda index: _Props())


def test_board_falls_back_to_the_first_gpu_when_the_uuid_query_fails(one_gpu, monkeypatch) -> None:
    seen: list[list[str]] = []

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        seen.append(cmd)
        if "-i" in cmd:
            return subprocess.CompletedProcess(cmd, 6, stdout="No devices were found\n", stderr="")
        return subprocess.CompletedProcess(cmd, 0, stdout="580.159.04, 700.00, 1980\n", stderr="")

    monkeypatch.setattr(bench.subprocess, "run", run)
    assert bench.gpu_board() == {"driver": "580.159.04", "power_limit_w": "700.00", "sm_clock_max_mhz": "1980"}
    assert seen[0][-2:] == ["-i", "GPU-abcd-1234"] and "-i" not in seen[1]


def test_board_says_unknown_without_nvidia_smi(one_gpu, monkeypatch) -> None:
    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        raise FileNotFoundError(cmd[0])

    monkeypatch.setattr(bench.subprocess, "run", run)
    assert bench.gpu_board() == {"driver": "unknown", "power_limit_w": "unknown", "sm_clock_max_mhz": "unknown"}
