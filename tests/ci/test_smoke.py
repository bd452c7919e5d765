"""ci.smoke's verdicts (the installs themselves run in test_end_to_end and test_two_flavors)."""

from __future__ import annotations

import pathlib

import pytest

from ci import flavors, smoke


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


@pytest.mark.parametrize(("cuda", "ok"), [("12.4", True), ("12.6", True), ("12.3", False), ("12.8", False),
                                          ("13.0", False), (None, False)])
def test_cu126_may_report_an_older_cuda_12_minor(tmp_path: pathlib.Path, cuda: str | None, ok: bool) -> None:
    # build_info() reports the nvcc that compiled the wheel: 12.4 for our cu126; never newer, never another major
    r = result(tmp_path, local_label="cu126", cuda_version=cuda, torch_cuda="12.6")
    r["dist_version"] = "2.3.0+cu126"
    problems = smoke.check(r, flavors.FLAVORS["cu126"], tmp_path / "venv", None)
    assert (problems == []) is ok, problems
    if not ok:
        assert "12.4 to 12.6" in problems[0]


def test_a_wheel_of_another_major_must_say_why_its_kernels_did_not_load(tmp_path: pathlib.Path) -> None:
    f = flavors.FLAVORS["cu126"]
    reason = "sageattention._C failed to load: libcudart.so.12: cannot open shared object file"
    r = result(tmp_path, local_label="cu126", cuda_version="12.4", torch_cuda="13.0",
               kernels={"core": reason, "sm90": reason})
    r["dist_version"] = "2.3.0+cu126"
    assert smoke.check(r, f, tmp_path / "venv", None) == []
    r["build_info"]["kernels"] = {"core": reason, "sm90": None}  # neither loaded nor a reason
    assert any("no load status or reason for ['sm90']" in p for p in smoke.check(r, f, tmp_path / "venv", None))
    r["build_info"]["kernels"] = {}
    assert smoke.check(r, f, tmp_path / "venv", None) != []
