"""`python -m ci toolkit`: assemble a CUDA_HOME that can build a flavor, without a system install.

    python -m ci toolkit --cuda 12.4 --dest .toolkits/cuda-12.4   # CUDA_HOME is the dest itself
    python -m ci build --flavor cu126 --cuda-home .toolkits/cuda-12.4 --arch-list 9.0 --copy-source
    python -m ci toolkit --cuda 13.2 --dest .toolkits/cuda-13.2   # prints CUDA_HOME (dest/nvidia/cu13)

CUDA 13.x: NVIDIA's pip wheels (nvidia-cuda-nvcc, -crt, nvidia-nvvm, -runtime, -cccl, ...) carry the
whole compiler driver and share one prefix (nvidia/cu13), so `pip install --target` yields a usable
tree; this adds the lib64 link and the unversioned libcudart.so the linker wants.

CUDA 12.x: the cu12 wheels carry no compiler (nvidia-cuda-nvcc-cu12 ships ptxas and libnvvm only,
checked 12.1.105 to 12.9.86). The one CUDA 12 compiler obtainable here is 12.4, from the Debian
archive this machine's apt uses (read from /etc/apt; --mirror overrides it): suite trixie, non-free,
package nvidia-cuda-toolkit (nvcc, cicc, cudafe++, ptxas, fatbinary, nvlink, libdevice). It is
fetched with `apt-get download` against a private sources list and unpacked with `dpkg-deb -x`:
nothing is installed and /etc/apt is only read. Headers (crt/ included), CCCL and libcudart.so.12
come from the small pip wheels nvidia-cuda-runtime-cu12, nvidia-cuda-nvcc-cu12 and
nvidia-cuda-cccl-cu12 of the same version (Debian's nvidia-cuda-dev has them too, but is ~930 MB).
The tree:

    bin/         nvcc, cudafe++, ptxas, fatbinary, nvlink, cuobjdump, nvprune, bin2c, cu++filt,
                 crt/*.stub, nvcc.profile (every path relative to bin/, none into /usr)
    nvvm/        bin/cicc, libdevice/libdevice.10.bc
    include/     cuda_runtime.h, cuda.h, crt/, cub/, thrust/, cuda/ ...
    lib64/       libcudart.so.12, libcudart.so -> libcudart.so.12
    .downloads/  the .deb and apt's private lists (everything fetched lands under the dest)
    toolkit.json what was assembled, from which packages; a re-run with the same --cuda reuses it

nvcc 12.4 builds the cu126 flavor (ci/flavors.py: same major, minor <= 6, new enough for sm_89 FP8);
the host compiler is the system g++ (CUDA 12.4 takes gcc <= 13).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from ci import apt
from ci._util import log, run
from ci.errors import ConfigError, ToolError

# Wheels that together make the toolkit the extension build needs (compiler, headers, cudart).
_CU13 = ("nvidia-cuda-nvcc", "nvidia-cuda-crt", "nvidia-nvvm", "nvidia-cuda-runtime", "nvidia-cuda-cccl",
         "nvidia-cuda-culibos", "nvidia-cuda-profiler-api", "nvidia-nvtx")
# CUDA 12: headers, crt/ and libcudart only; the compiler comes from Debian (DEBIAN below).
_CU12 = ("nvidia-cuda-runtime-cu12", "nvidia-cuda-nvcc-cu12", "nvidia-cuda-cccl-cu12")
_MARKER = ".ci-toolkit"  # written first: a dest holding it was made by this command
_STAMP = "toolkit.json"  # written last: the tree is complete


class SourceUnavailable(ToolError):
    """The mirror or the package index cannot provide the toolkit here (unreachable, or no such package)."""


@dataclasses.dataclass(frozen=True)
class DebianToolkit:
    suite: str
    component: str
    package: str


# CUDA 12 compilers obtainable from a Debian archive. trixie (Debian 13) non-free has 12.4.1.
DEBIAN: dict[str, DebianToolkit] = {"12.4": DebianToolkit("trixie", "non-free", "nvidia-cuda-toolkit")}

# What the CUDA_HOME needs from the .deb (its paths) -> where it goes in the tree.
_DEB_FILES = {
    "usr/lib/nvidia-cuda-toolkit/bin/nvcc": "bin/nvcc",
    "usr/lib/nvidia-cuda-toolkit/bin/crt": "bin/crt",
    "usr/lib/nvidia-cuda-toolkit/bin/cicc": "nvvm/bin/cicc",
    "usr/lib/nvidia-cuda-toolkit/libdevice": "nvvm/libdevice",
    **{f"usr/bin/{t}": f"bin/{t}"
       for t in ("cudafe++", "ptxas", "fatbinary", "nvlink", "cuobjdump", "nvprune", "bin2c", "cu++filt")},
}
# ... and from the pip wheels (installed with --target).
_PIP_FILES = {
    "nvidia/cuda_runtime/include": "include",
    "nvidia/cuda_nvcc/include/crt": "include/crt",
    "nvidia/cuda_nvcc/include/fatbinary_section.h": "include/fatbinary_section.h",
    "nvidia/cuda_cccl/include/cub": "include/cub",
    "nvidia/cuda_cccl/include/cuda": "include/cuda",
    "nvidia/cuda_cccl/include/nv": "include/nv",
    "nvidia/cuda_cccl/include/thrust": "include/thrust",
    "nvidia/cuda_runtime/lib/libcudart.so.12": "lib64/libcudart.so.12",
}

# Read by nvcc from its own directory. _HERE_ is bin/; the Debian package's profile points into /usr.
NVCC_PROFILE = """\
# Written by `python -m ci toolkit`: every path is relative to this file's directory (_HERE_).
TOP                = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH   += $(TOP)/lib64:
PATH              += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES          += "-I$(TOP)/include" $(_SPACE_)
LIBRARIES          =+ $(_SPACE_) "-L$(TOP)/lib64"
CUDAFE_FLAGS      +=
PTXAS_FLAGS       +=
"""

# A kernel that needs cicc, libdevice (sinf), cudafe++, ptxas, fatbinary, the headers and cudart.
_PROBE_CU = """\
#include <cuda_runtime.h>
#include <cuda_fp16.h>
__global__ void probe(float* x) { x[threadIdx.x] = sinf(__half2float(__float2half(x[threadIdx.x]))); }
int main() { int n = 0; return cudaGetDeviceCount(&n) == cudaSuccess ? 0 : 1; }
"""


def parse_cuda(cuda: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\.(\d+)", cuda)
    if not m:
        raise ConfigError(f"--cuda wants MAJOR.MINOR such as 12.4 or 13.2, not {cuda!r}")
    return int(m.group(1)), int(m.group(2))


def requirements(cuda: str) -> list[str]:
    """The pip wheels of a toolkit: all of it for 13.x, headers and cudart for 12.x."""
    major, _ = parse_cuda(cuda)
    names = {13: _CU13, 12: _CU12}.get(major)
    if names is None:
        raise ConfigError(f"no pip wheels of CUDA {major}.x are known; use 12.4 or 13.x")
    return [f"{n}=={cuda}.*" for n in names]


def pip_target(cuda: str, target: pathlib.Path, python: str = sys.executable) -> None:
    cmd = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-cache-dir",
           "--upgrade", "--target", str(target), *requirements(cuda)]
    try:
        run(cmd, what="pip install (toolkit wheels)", capture=True)
    except ToolError as exc:
        raise SourceUnavailable(f"{exc}\nthis machine's package index must serve {requirements(cuda)}; "
                                f"check pip's index configuration and network access") from exc


def assemble(cuda: str, dest: pathlib.Path, python: str = sys.executable, mirror: str | None = None) -> pathlib.Path:
    """Make (or reuse) a toolkit of CUDA `cuda` under dest; return its CUDA_HOME."""
    major, _ = parse_cuda(cuda)
    dest = dest.resolve()
    if major == 13:
        return assemble_pip(cuda, dest, python)
    if cuda in DEBIAN:
        return assemble_debian(cuda, dest, python, mirror)
    raise ConfigError(
        f"CUDA {cuda} cannot be assembled here: pip has no CUDA 12 compiler, and the Debian archive has "
        f"{', '.join(DEBIAN)} ({', '.join(f'{d.suite} {d.component}' for d in DEBIAN.values())}). "
        f"Use --cuda {next(iter(DEBIAN))} (it builds flavor cu126), --cuda 13.x, or a builder image (ci/flavors.py)"
    )


def assemble_pip(cuda: str, dest: pathlib.Path, python: str = sys.executable) -> pathlib.Path:
    pip_target(cuda, dest, python)
    nvidia = dest / "nvidia"
    homes = [p.parent.parent for p in nvidia.glob("*/bin/nvcc")]
    if not homes:
        found = sorted(str(p.relative_to(dest)) for p in nvidia.glob("*/bin/*"))
        raise ToolError(f"the CUDA {cuda} wheels contain no nvcc driver (only {found})")
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


def nvcc_release(home: pathlib.Path) -> str | None:
    """'12.4' from `bin/nvcc --version`, or None when it does not run."""
    try:
        out = subprocess.run([str(home / "bin" / "nvcc"), "--version"], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else None


def _prepare(dest: pathlib.Path, cuda: str) -> bool:
    """True when dest already holds a complete toolkit of `cuda`; else make it ready for a fresh one."""
    stamp = dest / _STAMP
    if stamp.exists() and json.loads(stamp.read_text()).get("cuda") == cuda and nvcc_release(dest) == cuda:
        return True
    if dest.exists() and any(dest.iterdir()) and not (dest / _MARKER).exists():
        raise ConfigError(f"{dest} is not empty and was not made by `python -m ci toolkit`; pass an empty or new --dest")
    for name in ("bin", "nvvm", "include", "lib64", _STAMP):
        path = dest / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / _MARKER).write_text("made by python -m ci toolkit\n")
    return False


def fetch_deb(spec: DebianToolkit, cuda: str, downloads: pathlib.Path, mirror: str | None) -> tuple[pathlib.Path, str]:
    """apt-get download the toolkit .deb from the machine's Debian mirror (or --mirror)."""
    try:
        source = apt.Source(mirror.rstrip("/"), spec.suite) if mirror else apt.debian_archive()
    except ConfigError as exc:  # not a Debian machine: nothing to fetch from, unless --mirror says where
        raise SourceUnavailable(f"{exc}: the CUDA 12 compiler comes from a Debian archive; "
                                f"pass --mirror URL of one") from exc
    try:
        private = apt.PrivateApt(downloads / "apt", source, spec.suite, spec.component)
        private.update()
        version = private.candidate(spec.package)
        if not version.startswith(f"{cuda}."):
            raise SourceUnavailable(f"{private.where} offers {spec.package} {version}, not CUDA {cuda}")
        deb = private.download(spec.package, version, downloads / "debs")
    except apt.AptUnavailable as exc:
        raise SourceUnavailable(str(exc)) from exc
    log(f"{spec.package} {version} from the Debian mirror ({spec.suite}/{spec.component}): {deb.name}")
    return deb, version


def _move(src: pathlib.Path, dst: pathlib.Path) -> None:
    if not src.exists():
        raise ToolError(f"{src} is missing from the downloaded packages; the toolkit cannot be assembled")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))


def lay_out(deb_root: pathlib.Path, pip_root: pathlib.Path, home: pathlib.Path) -> None:
    """Move the needed files of the unpacked .deb and pip wheels into the CUDA_HOME layout."""
    for rel, to in _DEB_FILES.items():
        _move(deb_root / rel, home / to)
    for rel, to in _PIP_FILES.items():
        _move(pip_root / rel, home / to)
    for marker in (home / "include").rglob("__init__.py"):  # pip package markers, not headers
        marker.unlink()
    (home / "lib64" / "libcudart.so").symlink_to("libcudart.so.12")
    (home / "bin" / "nvcc.profile").write_text(NVCC_PROFILE)


def check_compiles(home: pathlib.Path, arch: str = "sm_90a") -> None:
    """Compile a probe with this tree alone (cicc, libdevice, headers), then link it to its cudart
    with the host compiler, as torch's extension build does."""
    with tempfile.TemporaryDirectory(prefix="sage-nvcc-") as tmp:
        src = pathlib.Path(tmp) / "probe.cu"
        src.write_text(_PROBE_CU)
        obj = src.with_suffix(".o")
        run([home / "bin" / "nvcc", f"-arch={arch}", "-c", src, "-o", obj], what=f"nvcc probe ({home})", capture=True)
        run(["g++", obj, f"-L{home / 'lib64'}", "-lcudart", "-o", src.with_suffix("")],
            what="g++ probe link against lib64/libcudart.so", capture=True)


def assemble_debian(cuda: str, dest: pathlib.Path, python: str = sys.executable,
                    mirror: str | None = None) -> pathlib.Path:
    if _prepare(dest, cuda):
        log(f"CUDA {cuda} toolkit already assembled at {dest}")
        return dest
    spec = DEBIAN[cuda]
    downloads = dest / ".downloads"
    deb, version = fetch_deb(spec, cuda, downloads, mirror)
    pip_root, deb_root = downloads / "pip", downloads / "deb-root"
    for d in (pip_root, deb_root):
        shutil.rmtree(d, ignore_errors=True)
    pip_target(cuda, pip_root, python)
    run(["dpkg-deb", "-x", deb, deb_root], what="dpkg-deb -x (unpack only, nothing is installed)")
    lay_out(deb_root, pip_root, dest)
    wheels = sorted(p.name.removesuffix(".dist-info") for p in pip_root.glob("*.dist-info"))
    shutil.rmtree(deb_root)
    shutil.rmtree(pip_root)
    got = nvcc_release(dest)
    if got != cuda:
        raise ToolError(f"{dest}/bin/nvcc does not run or is not CUDA {cuda} (got {got}); see the log above")
    check_compiles(dest)
    (dest / _STAMP).write_text(json.dumps({"cuda": cuda, "cuda_home": str(dest), "deb": f"{spec.package} {version}",
                                           "suite": f"{spec.suite}/{spec.component}", "wheels": wheels}, indent=2) + "\n")
    log(f"CUDA {cuda} toolkit at {dest} (nvcc {got}; {spec.package} {version} + {', '.join(wheels)})")
    return dest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci toolkit", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuda", required=True, help=f"toolkit MAJOR.MINOR: {', '.join(DEBIAN)} or 13.x")
    p.add_argument("--dest", type=pathlib.Path, required=True, help="directory to assemble it in")
    p.add_argument("--mirror", help="Debian archive URL for CUDA 12 (default: the one in this machine's apt sources)")
    args = p.parse_args(argv)
    print(assemble(args.cuda, args.dest, mirror=args.mirror))
    return 0


if __name__ == "__main__":
    sys.exit(main())
