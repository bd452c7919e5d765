"""`python -m ci repair`: auditwheel repair with the excludes a torch extension needs.

torch brings libtorch*/libc10* and, through its nvidia-* wheels, the CUDA runtime; the driver
(libcuda.so.1) comes from the host. None of them may be copied into our wheel, or two copies of
libtorch would be loaded in one process. Release builds run in the manylinux_2_28 builder image and
must come out tagged manylinux_2_28_<arch>; `--plat auto` (the local main job) takes the best tag
this machine's glibc allows, as reported by `auditwheel show`.
"""

from __future__ import annotations

import argparse
import pathlib
import platform as _platform
import re
import sys

from ci import flavors
from ci._util import ROOT, log, python_tool, run
from ci.build import parse_wheel_name
from ci.errors import CheckFailed, ConfigError

AUDITWHEEL_MIN = (6, 2)
EXCLUDES = ("libtorch*.so", "libc10*.so", "libcudart.so.*", "libcuda.so.1")


def expected_plat(machine: str | None = None) -> str:
    arch = machine or _platform.machine()
    return f"{flavors.MANYLINUX}_{arch}"


def auditwheel_version() -> tuple[int, int]:
    out = run([*python_tool("auditwheel"), "--version"], capture=True, what="auditwheel").stdout
    m = re.search(r"auditwheel (\d+)\.(\d+)", out)
    if not m:
        raise CheckFailed(f"cannot read the auditwheel version from {out!r}")
    return int(m.group(1)), int(m.group(2))


def best_plat(wheel: pathlib.Path) -> str:
    """The most compatible tag `auditwheel show` allows for this wheel (local builds)."""
    out = run([*python_tool("auditwheel"), "show", str(wheel)], capture=True, what="auditwheel show").stdout
    m = re.search(r'constrains the platform tag to\s+"([^"]+)"', out.replace("\n", " "))
    if not m:
        raise CheckFailed(f"auditwheel show gave no platform tag for {wheel.name}:\n{out}")
    return m.group(1)


def repair_command(wheel: pathlib.Path, out: pathlib.Path, plat: str) -> list[str]:
    cmd = [*python_tool("auditwheel"), "repair", "--plat", plat, "--wheel-dir", str(out)]
    for pattern in EXCLUDES:
        cmd += ["--exclude", pattern]
    return cmd + [str(wheel)]


def repair(wheel: pathlib.Path, out: pathlib.Path, plat: str | None = None) -> pathlib.Path:
    if not wheel.is_file():
        raise ConfigError(f"no such wheel: {wheel}")
    have = auditwheel_version()
    if have < AUDITWHEEL_MIN:
        raise ConfigError(f"auditwheel {have[0]}.{have[1]} is too old; need >= 6.2 (pip install 'auditwheel>=6.2')")
    plat = plat or expected_plat()
    if plat == "auto":
        plat = best_plat(wheel)
        log(f"--plat auto: this machine's glibc allows {plat} (release builds use {expected_plat()})")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in out.glob("*.whl")}
    run(repair_command(wheel, out, plat), what="auditwheel repair")
    src = parse_wheel_name(wheel.name)
    made = [p for p in out.glob("*.whl")
            if p.name not in before and parse_wheel_name(p.name)["version"] == src["version"]]
    if not made:  # re-running over an existing output replaces the file in place
        made = [p for p in out.glob("*.whl") if parse_wheel_name(p.name)["version"] == src["version"]
                and plat in parse_wheel_name(p.name)["plat"].split(".")]
    if len(made) != 1:
        raise CheckFailed(f"auditwheel produced {[p.name for p in made]} in {out}; expected one wheel")
    repaired = made[0]
    tags = parse_wheel_name(repaired.name)["plat"].split(".")
    if plat not in tags:
        raise CheckFailed(f"{repaired.name} is tagged {'.'.join(tags)}, expected {plat}")
    log(f"repaired: {repaired.name}")
    return repaired


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci repair", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wheel", type=pathlib.Path)
    p.add_argument("--out", type=pathlib.Path, default=ROOT / ".wheelhouse", help="default: .wheelhouse/")
    p.add_argument("--plat", help=f"platform tag to require (default: {expected_plat()}; 'auto': best local)")
    args = p.parse_args(argv)
    print(repair(args.wheel, args.out, args.plat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
