"""ci.build: the environment handed to setup.py, and the one command that builds."""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from ci import build, flavors
from ci.errors import CheckFailed, ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOME = pathlib.Path("/opt/cuda-x")


def env_for(flavor: str, nvcc: str, torch_cuda: str | None = "13.0", **kw: object) -> dict[str, str]:
    return build.build_env(flavors.FLAVORS[flavor], public_version="2.3.0", cuda_home=HOME, nvcc=nvcc,
                           torch_cuda_version=torch_cuda, base_env={"PATH": "/usr/bin"}, **kw)  # type: ignore[arg-type]


def test_flavor_environment() -> None:
    env = env_for("cu130", "13.0")
    assert env["TORCH_CUDA_ARCH_LIST"] == flavors.FLAVORS["cu130"].arch_list_str
    assert env["SAGEATTENTION_VERSION"] == "2.3.0"
    assert env["SAGEATTENTION_LOCAL_VERSION"] == "cu130"
    assert env["CUDA_HOME"] == str(HOME)
    assert env["PATH"].startswith(f"{HOME}/bin:")
    assert "SAGEATTENTION_SKIP_CUDA_VERSION_CHECK" not in env


def test_nvcc_of_another_major_than_torch_skips_torchs_check() -> None:
    env = env_for("cu128", "12.8", torch_cuda="13.0")
    assert env["SAGEATTENTION_SKIP_CUDA_VERSION_CHECK"] == "1"
    assert "SAGEATTENTION_SKIP_CUDA_VERSION_CHECK" not in env_for("cu128", "12.8", torch_cuda="12.9")


def test_toolkit_must_match_the_flavor() -> None:
    with pytest.raises(ConfigError, match=r"flavor cu128 is built with CUDA 12.8 only, not 13.0 \(/opt/cuda-x/bin"):
        env_for("cu128", "13.0")
    with pytest.raises(ConfigError, match="CUDA 12.8 only, not 12.4.*or build flavor cu126"):
        env_for("cu128", "12.4")


@pytest.mark.parametrize("nvcc", ["12.4", "12.5", "12.6"])
def test_cu126_builds_with_an_older_cuda_12_minor(nvcc: str) -> None:
    # minor-version compatibility: a 12.4 binary runs on the 12.6 runtime; the label stays the flavor's
    env = env_for("cu126", nvcc, torch_cuda="13.0")
    assert env["SAGEATTENTION_LOCAL_VERSION"] == "cu126"
    assert env["TORCH_CUDA_ARCH_LIST"] == flavors.FLAVORS["cu126"].arch_list_str
    assert env["SAGEATTENTION_SKIP_CUDA_VERSION_CHECK"] == "1"


@pytest.mark.parametrize(("nvcc", "why"), [("12.3", "not 12.3"), ("12.8", "not 12.8"), ("13.0", "not 13.0")])
def test_cu126_refuses_other_toolkits(nvcc: str, why: str) -> None:
    # 12.3 cannot compile FP8 on sm_89, 12.8 is newer than the flavor's runtime, 13.0 is another major
    with pytest.raises(ConfigError, match=f"flavor cu126 is built with CUDA 12.4 to 12.6 .*{why}"):
        env_for("cu126", nvcc)


def test_arch_list_checked_against_nvcc_before_pip_runs() -> None:
    assert env_for("cu130", "13.0", arch_list="9.0")["TORCH_CUDA_ARCH_LIST"] == "9.0"
    with pytest.raises(ConfigError, match="sm_80"):
        env_for("cu130", "13.0", arch_list="7.5")
    with pytest.raises(ConfigError, match="needs nvcc >= 12.8"):
        env_for("cu126", "12.6", arch_list="12.0")


def test_parallelism_and_per_flavor_build_dir(tmp_path: pathlib.Path) -> None:
    env = env_for("cu130", "13.0", max_jobs=2, nvcc_threads=3, build_base=tmp_path / "b")
    assert (env["MAX_JOBS"], env["NVCC_THREADS"]) == ("2", "3")
    cfg = pathlib.Path(env["DIST_EXTRA_CONFIG"]).read_text()
    assert f"build_base = {tmp_path / 'b'}" in cfg


def test_the_build_command_is_pip_wheel_no_deps() -> None:
    cmd = build.pip_wheel_command(ROOT, pathlib.Path("/tmp/out"), isolation=False, python="py")
    assert cmd[:4] == ["py", "-m", "pip", "wheel"]
    assert "--no-deps" in cmd and "--no-build-isolation" in cmd
    assert "--no-build-isolation" not in build.pip_wheel_command(ROOT, pathlib.Path("/o"), isolation=True)


def test_stage_source_copies_tracked_files_only(tmp_path: pathlib.Path) -> None:
    build.stage_source(tmp_path)
    assert (tmp_path / "setup.py").read_bytes() == (ROOT / "setup.py").read_bytes()
    assert (tmp_path / "ci" / "build.py").exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", "build/"], cwd=ROOT).returncode == 0
    assert ignored and not (tmp_path / "build").exists()
    assert not list(tmp_path.rglob("*.so"))


def test_wheel_names() -> None:
    p = build.parse_wheel_name("sageattention-2.3.0+cu128-cp310-abi3-manylinux_2_28_x86_64.whl")
    assert (p["name"], p["version"], p["py"], p["abi"], p["plat"]) == (
        "sageattention", "2.3.0+cu128", "cp310", "abi3", "manylinux_2_28_x86_64")
    with pytest.raises(CheckFailed):
        build.parse_wheel_name("sageattention-2.3.0.tar.gz")


def test_local_toolkit_is_found() -> None:
    home = build.detect_cuda_home({"PATH": "/usr/local/bin:/usr/bin"})
    if home is None:
        pytest.skip("no CUDA toolkit on this machine")
    assert (home / "include" / "cuda_runtime.h").exists()
    assert build.nvcc_version(home).count(".") == 1
