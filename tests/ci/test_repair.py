"""ci.repair: auditwheel with the excludes, and the platform tag asserted."""

from __future__ import annotations

import pathlib
import platform
import zipfile

import pytest

from ci import build, repair
from ci.errors import ToolError


def test_excludes_keep_torch_cuda_runtime_and_driver_out() -> None:
    cmd = repair.repair_command(pathlib.Path("w.whl"), pathlib.Path("out"), "manylinux_2_28_x86_64")
    excluded = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--exclude"]
    assert excluded == ["libtorch*.so", "libc10*.so", "libcudart.so.*", "libcuda.so.1"]
    assert cmd[cmd.index("--plat") + 1] == "manylinux_2_28_x86_64"
    assert repair.expected_plat("aarch64") == "manylinux_2_28_aarch64"


def test_auditwheel_is_new_enough() -> None:
    assert repair.auditwheel_version() >= repair.AUDITWHEEL_MIN


@pytest.mark.slow
def test_repair_built_wheel(built_wheel: pathlib.Path, tmp_path: pathlib.Path) -> None:
    fixed = repair.repair(built_wheel, tmp_path, "auto")
    tag = build.parse_wheel_name(fixed.name)["plat"]
    assert tag.startswith("manylinux_2_") and tag.endswith(platform.machine())
    with zipfile.ZipFile(fixed) as zf:
        names = zf.namelist()
    # nothing of torch or CUDA was grafted into the wheel
    assert not [n for n in names if ".libs/" in n], names
    glibc = tuple(int(x) for x in platform.libc_ver()[1].split("."))
    if glibc > (2, 28):
        # built on a newer glibc than the release images: the release tag must be refused, not faked
        with pytest.raises(ToolError, match="auditwheel repair failed"):
            repair.repair(built_wheel, tmp_path / "strict", "manylinux_2_28_x86_64")
