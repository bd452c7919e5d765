"""ci.verify: each rule catches what it is for, on real wheels and real ELF files."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

from ci import verify
from ci.errors import CheckFailed, ToolError

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_build_config_parses_python_and_json_forms() -> None:
    py = "# generated\nBUILD_CONFIG = {'archs': ['sm_90a'], 'fp8_f16_accum': True}\n"
    js = '# generated\nBUILD_CONFIG = {"archs": ["sm_90a"], "fp8_f16_accum": true}\n'
    want = {"archs": ["sm_90a"], "fp8_f16_accum": True}
    assert verify.parse_build_config(py) == verify.parse_build_config(js) == want
    with pytest.raises(CheckFailed):
        verify.parse_build_config("X = 1\n")


def test_family_modules_come_from_setup_py_and_agree_with_the_package() -> None:
    from sageattention import _lib

    assert verify.family_modules() == _lib.FAMILY_MODULES


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_imported_libtorch_cxx_symbols_are_found(tmp_path: pathlib.Path) -> None:
    src = tmp_path / "m.cpp"
    src.write_text(
        "namespace c10 { void warn_once(int); }\n"
        "extern \"C\" int aoti_torch_stable_call(int);\n"
        "extern \"C\" int use_both(int x) { c10::warn_once(x); return aoti_torch_stable_call(x); }\n"
    )
    bad = tmp_path / "bad.so"
    subprocess.run(["g++", "-shared", "-fPIC", str(src), "-o", str(bad)], check=True)
    assert verify.imported_cxx_symbols(bad) == ["c10::warn_once(int)"]
    src.write_text("extern \"C\" int aoti_torch_stable_call(int);\n"
                   "extern \"C\" int f(int x) { return aoti_torch_stable_call(x); }\n")
    good = tmp_path / "good.so"
    subprocess.run(["g++", "-shared", "-fPIC", str(src), "-o", str(good)], check=True)
    assert verify.imported_cxx_symbols(good) == []


def test_sass_and_ptx_are_read_from_a_real_fatbinary(tmp_path: pathlib.Path) -> None:
    from ci import build

    home = build.detect_cuda_home({"PATH": "/usr/local/bin:/usr/bin"})
    try:
        cuobjdump = verify.find_cuobjdump()
    except ToolError:
        pytest.skip("no cuobjdump")
    if home is None:
        pytest.skip("no nvcc")
    src = tmp_path / "k.cu"
    src.write_text("__global__ void k(float* x) { x[threadIdx.x] *= 2.f; }\n"
                   "void launch(float* x) { k<<<1, 32>>>(x); }\n")
    so = tmp_path / "k.so"
    subprocess.run([str(home / "bin" / "nvcc"), "-shared", "-Xcompiler", "-fPIC",
                    "-gencode=arch=compute_90a,code=sm_90a", "-gencode=arch=compute_80,code=compute_80",
                    str(src), "-o", str(so)], check=True)
    assert verify.sass_and_ptx(cuobjdump, so) == ({"sm_90a"}, {"sm_80"})


def test_rules_on_a_wheel_that_is_not_ours(wheel_factory) -> None:
    w = wheel_factory("2.3.0+cu128")
    report = verify.verify(w, "cu130", plat="manylinux_2_28_x86_64", tools=False)
    by = {r["check"]: r for r in report.results}
    assert not report.ok
    assert "local label 'cu128' != 'cu130'" in by["name"]["detail"]
    assert by["metadata"]["ok"]  # tags, Requires-Python and torch floor are right
    assert not by["build-config"]["ok"] and not by["archs"]["ok"]
    assert by["size"]["ok"]
    small = verify.verify(w, "cu128", plat="manylinux_2_28_x86_64", size_budget_mib=0.0001, tools=False)
    assert not {r["check"]: r for r in small.results}["size"]["ok"]
    wrong_plat = verify.verify(w, "cu128", plat="manylinux_2_28_aarch64", tools=False)
    assert "platform manylinux_2_28_x86_64 != manylinux_2_28_aarch64" in wrong_plat.results[0]["detail"]


@pytest.mark.slow
def test_a_built_and_repaired_wheel_passes_every_check(built_wheel: pathlib.Path, built_arch_list: str,
                                                       tmp_path: pathlib.Path) -> None:
    from ci import build, repair

    repaired = repair.repair(built_wheel, tmp_path, "auto")
    plat = build.parse_wheel_name(repaired.name)["plat"]
    report = verify.verify(repaired, "cu130", plat=plat, arch_list=built_arch_list)
    failed = [r for r in report.results if not r["ok"]]
    assert not failed, failed
    assert {r["check"] for r in report.results} >= {"name", "metadata", "build-config", "archs", "symbols",
                                                     "size", "twine", "abi3audit", "check-wheel-contents"}
    # the same wheel is not accepted as a build for another arch list
    other = "8.0" if built_arch_list != "8.0" else "9.0"
    wrong = verify.verify(repaired, "cu130", plat=plat, arch_list=other, tools=False)
    assert not {r["check"]: r for r in wrong.results}["archs"]["ok"]


def test_cli_infers_the_flavor_from_the_label_and_refuses_an_unrepaired_tag(wheel_factory) -> None:
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    unrepaired = wheel_factory("2.3.0+cu130", plat="linux_x86_64")
    proc = subprocess.run([sys.executable, "-m", "ci", "verify", str(unrepaired), "--plat", "auto", "--no-tools"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 4 and "was the wheel repaired?" in proc.stderr
    unlabeled = wheel_factory("2.3.0")
    proc = subprocess.run([sys.executable, "-m", "ci", "verify", str(unlabeled), "--no-tools"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 2 and "pass --flavor" in proc.stderr
    ours = wheel_factory("2.3.0+cu128")
    proc = subprocess.run([sys.executable, "-m", "ci", "verify", str(ours), "--no-tools"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode == 4 and "build-config" in proc.stderr  # judged as cu128, a synthetic wheel
