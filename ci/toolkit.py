"""`python -m ci toolkit`: assemble a CUDA_HOME from NVIDIA's pip wheels (no system install needed).

    python -m ci toolkit --cuda 13.2 --dest .toolkits/cuda-13.2
    CUDA_HOME=.toolkits/cuda-13.2 python -m ci build --flavor ...

The CUDA 13 wheels (nvidia-cuda-nvcc, -crt, nvidia-nvvm, -runtime, -cccl, ...) carry the whole
compiler driver and share one prefix (nvidia/cu13), so `pip install --target` yields a usable tree;
this adds the lib64 link and the unversioned libcudart.so the linker wants.
The CUDA 12 wheels do not: nvidia-cuda-nvcc-cu12 (checked 12.1.105 through 12.9.86) ships ptxas
and libnvvm only, no nvcc, cicc or cudafe++. A 12.x flavor therefore builds in its builder image
(ci/flavors.py) or with a system CUDA 12 toolkit; this command says so instead of failing later.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

from ci._util import log, run
from ci.errors import ConfigError, ToolError

# Wheels that together make the toolkit the extension build needs (compiler, headers, cudart).
_CU13 = ("nvidia-cuda-nvcc", "nvidia-cuda-crt", "nvidia-nvvm", "nvidia-cuda-runtime", "nvidia-cuda-cccl",
         "nvidia-cuda-culibos", "nvidia-cuda-profiler-api", "nvidia-nvtx")
_CU12 = ("nvidia-cuda-nvcc-cu12", "nvidia-cuda-runtime-cu12", "nvidia-cuda-cccl-cu12")


def requirements(cuda: str) -> list[str]:
    m = re.fullmatch(r"(\d+)\.(\d+)", cuda)
    if not m:
        raise ConfigError(f"--cuda wants MAJOR.MINOR such as 13.2, not {cuda!r}")
    major = int(m.group(1))
    names = {13: _CU13, 12: _CU12}.get(major)
    if names is None:
        raise ConfigError(f"no pip wheels of CUDA {major}.x are known; use 12.x or 13.x")
    return [f"{n}=={cuda}.*" for n in names]


def assemble(cuda: str, dest: pathlib.Path, python: str = sys.executable) -> pathlib.Path:
    dest = dest.resolve()
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--upgrade", "--target", str(dest), *requirements(cuda)], what="pip install (toolkit wheels)")
    nvidia = dest / "nvidia"
    homes = [p.parent.parent for p in nvidia.glob("*/bin/nvcc")]
    if not homes:
        found = sorted(str(p.relative_to(dest)) for p in nvidia.glob("*/bin/*"))
        raise ToolError(
            f"the CUDA {cuda} wheels contain no nvcc driver (only {found}); NVIDIA ships the full compiler "
            f"on pip from CUDA 13 on. Build this flavor in its builder image or with a system toolkit."
        )
    home = homes[0]
    lib = home / "lib"
    if not (home / "lib64").exists():
        (home / "lib64").symlink_to("lib")
    sonames = sorted(lib.glob("libcudart.so.*"))
    if sonames and not (lib / "libcudart.so").exists():
        (lib / "libcudart.so").symlink_to(sonames[0].name)
    if not (home / "include" / "cuda_runtime.h").exists():
        raise ToolError(f"{home}/include/cuda_runtime.h missing after installing {requirements(cuda)}")
    log(f"CUDA {cuda} toolkit from wheels at {home}")
    return home


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci toolkit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuda", required=True, help="toolkit MAJOR.MINOR, e.g. 13.2")
    p.add_argument("--dest", type=pathlib.Path, required=True, help="directory to install the wheels into")
    args = p.parse_args(argv)
    print(assemble(args.cuda, args.dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
