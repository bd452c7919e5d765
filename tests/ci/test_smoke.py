"""ci.smoke's verdicts and ci.toolkit's package lists (the installs themselves run in test_end_to_end)."""

from __future__ import annotations

import pathlib

import pytest

from ci import flavors, smoke, toolkit
from ci.errors import ConfigError


def result(tmp: pathlib.Path, **info: object) -> dict[str, object]:
    base = {"local_label": "cu130", "cuda_version": "13.0", "torch_cuda": "13.0", "kernels": {"core": "loaded"}}
    base.update(info)
    return {"file": str(tmp / "venv/lib/site-packages/sageattention/__init__.py"),
            "dist_version": "2.3.0+cu130", "build_info": base}


def test_a_good_install_passes(tmp_path: pathlib.Path) -> None:
    assert smoke.check(result(tmp_path), flavors.FLAVORS["cu130"], tmp_path / "venv", "2.3.0+cu130") == []


def test_wrong_label_source_tree_and_broken_kernels_are_reported(tmp_path: pathlib.Path) -> None:
    f = flavors.FLAVORS["cu130"]
    r = result(tmp_path, local_label="cu128", kernels={"core": "sageattention._C failed to load: libcudart.so.12"})
    r["file"] = "/work/main/sageattention/__init__.py"
    problems = smoke.check(r, f, tmp_path / "venv", "2.3.0+cu130")
    assert any("not from the venv" in p for p in problems)
    assert any("local_label" in p for p in problems)
    assert any("failed to load" in p for p in problems)
    # a wheel for another CUDA major than the torch here: kernels are not judged, the label still is
    other = result(tmp_path, torch_cuda="12.8", kernels={"core": "libcudart.so.13 missing"})
    assert smoke.check(other, f, tmp_path / "venv", None) == []


def test_download_source_comes_from_pips_report() -> None:
    report = {"install": [
        {"metadata": {"name": "torch"}, "download_info": {"url": "file:///opt/wheels/torch.whl"}},
        {"metadata": {"name": "sageattention"}, "download_info": {"url": "http://127.0.0.1:9/cu130/sageattention/x.whl"}},
    ]}
    assert smoke.downloaded_from(report) == "http://127.0.0.1:9/cu130/sageattention/x.whl"
    assert smoke.downloaded_from({"install": []}) == ""
    assert smoke.install_line("http://h/cu128/") == "pip install sageattention --index-url http://h/cu128/"


def test_toolkit_wheels_per_major() -> None:
    assert toolkit.requirements("13.2")[0] == "nvidia-cuda-nvcc==13.2.*"
    assert "nvidia-cuda-runtime==13.2.*" in toolkit.requirements("13.2")
    assert toolkit.requirements("12.8")[0] == "nvidia-cuda-nvcc-cu12==12.8.*"
    with pytest.raises(ConfigError):
        toolkit.requirements("13")
    with pytest.raises(ConfigError):
        toolkit.requirements("11.8")
