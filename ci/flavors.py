"""CUDA flavors: the one list every build, workflow, Docker target and test reads.

A flavor is one CUDA major.minor that wheels are built for (the torch CUDA they go with). Each
flavor gets its own index (``…/whl/<name>/``) because PEP 440 local labels (``2.3.0+cu128``) make
pip pick the highest label across merged indexes; one index per flavor pins the user to the CUDA
their torch uses.

Why these four:
- cu126: the oldest CUDA torch 2.10 still publishes; covers sm_80…sm_90a (no sm_100/sm_120 in 12.6).
- cu128: first toolkit with sm_100/sm_120 and the f16-accumulating FP8 MMA; torch's main cu12 flavor.
- cu129: what the contributor Docker guide defaults to (12.9.1); adds sm_121 (DGX Spark).
- cu130: torch's CUDA 13 flavor and the toolkit on our GPU host.
The extension links the CUDA runtime of its major version only, which torch's nvidia-* wheels bring:
a cu12x wheel needs a cu12x torch, a cu130 wheel a cu13x torch.

Which toolkits may build a flavor (`Flavor.toolkit_problem`): the flavor's own CUDA, or an older
minor of the same major that still compiles everything the flavor promises (`Flavor.oldest_cuda`:
its whole arch list, and from 12.8 on the f16-accumulating FP8 MMA). CUDA's minor-version
compatibility makes such a binary run on the flavor's runtime; build_info() still reports the nvcc
that compiled it. That is how cu126 is built here: no nvcc newer than 12.4 of CUDA 12 can be
obtained on this machine (docs/pipeline.md).
"""

from __future__ import annotations

import dataclasses
import re

from ci import archs

# The oldest torch the stable-ABI extension targets (TORCH_TARGET_VERSION) and that wheels declare.
TORCH_FLOOR = "2.10"
# abi3 floor: torch >= 2.9 itself needs CPython >= 3.10.
PYTHON_FLOOR = "3.10"
# CPython versions the abi3 wheel is tested on.
PYTHON_VERSIONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
PLATFORMS = ("linux/amd64", "linux/arm64")
# glibc floor: torch's own wheels are manylinux_2_28, so ours need be no older.
MANYLINUX = "manylinux_2_28"

_MANYLINUX_ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
_BUILDER_IMAGE = {
    "linux/amd64": "pytorch/manylinux2_28-builder:cuda{cuda}",
    "linux/arm64": "pytorch/manylinuxaarch64-builder:cuda{cuda}",
}


@dataclasses.dataclass(frozen=True)
class Flavor:
    name: str  # local label without '+', e.g. "cu128"
    cuda: str  # toolkit major.minor
    cuda_full: str  # full toolkit version used for build images
    arch_list: tuple[str, ...]  # default TORCH_CUDA_ARCH_LIST entries, "X.Y" form
    # pip index of a torch build with the same CUDA major, used by test legs and smoke tests.
    torch_index: str

    @property
    def cuda_major(self) -> int:
        return int(self.cuda.split(".")[0])

    @property
    def arch_list_str(self) -> str:
        return ";".join(self.arch_list)

    @property
    def oldest_cuda(self) -> str:
        """The oldest toolkit of this major that compiles all the flavor promises (see the module doc)."""
        need = max(archs.min_nvcc(self.arch_list_str), (self.cuda_major, 0))
        if archs.parse_version(self.cuda) >= archs.FP8_F16_ACCUM_MIN_NVCC:
            need = max(need, archs.FP8_F16_ACCUM_MIN_NVCC)
        return f"{need[0]}.{need[1]}"

    @property
    def toolkits(self) -> str:
        """The accepted toolkit versions in words: '12.4 to 12.6', or '13.0'."""
        return self.cuda if self.oldest_cuda == self.cuda else f"{self.oldest_cuda} to {self.cuda}"

    def toolkit_problem(self, cuda_version: object) -> str | None:
        """Why nvcc `cuda_version` ("12.4", a build_info() value) may not build this flavor, or None."""
        try:
            have = archs.parse_version(str(cuda_version))
        except ValueError:
            return f"{cuda_version!r} is not a CUDA version (flavor {self.name} is built with CUDA {self.toolkits})"
        if have[0] == self.cuda_major and archs.parse_version(self.oldest_cuda) <= have <= archs.parse_version(self.cuda):
            return None
        why = " only" if self.oldest_cuda == self.cuda else " (same major, no newer minor, new enough for its archs)"
        return f"flavor {self.name} is built with CUDA {self.toolkits}{why}, not {have[0]}.{have[1]}"

    def builder_image(self, platform: str) -> str:
        return _BUILDER_IMAGE[platform].format(cuda=self.cuda)

    def platform_tag(self, platform: str) -> str:
        return f"{MANYLINUX}_{_MANYLINUX_ARCH[platform]}"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cuda": self.cuda,
            "cuda_full": self.cuda_full,
            "arch_list": self.arch_list_str,
            "torch_index": self.torch_index,
            "torch_floor": TORCH_FLOOR,
        }


_BASE_ARCHS = ("8.0", "8.6", "8.9", "9.0")

FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        Flavor("cu126", "12.6", "12.6.3", _BASE_ARCHS, "https://download.pytorch.org/whl/cu126"),
        Flavor("cu128", "12.8", "12.8.1", _BASE_ARCHS + ("10.0", "12.0"), "https://download.pytorch.org/whl/cu128"),
        Flavor("cu129", "12.9", "12.9.1", _BASE_ARCHS + ("10.0", "12.0", "12.1"), "https://download.pytorch.org/whl/cu129"),
        Flavor("cu130", "13.0", "13.0.2", _BASE_ARCHS + ("10.0", "12.0", "12.1"), "https://download.pytorch.org/whl/cu130"),
    )
}

# The flavor contributors' Docker builds default to (the seed guide's CUDA 12.9.1).
DOCKER_DEFAULT_FLAVOR = "cu129"
DEFAULT_PYTHON = "3.12"
DEFAULT_PLATFORM = "linux/amd64"


def _major_minor(cuda_version: str) -> tuple[int, int]:
    m = re.match(r"^(\d+)\.(\d+)", cuda_version.strip())
    if not m:
        raise ValueError(f"CUDA version {cuda_version!r} is not of the form MAJOR.MINOR[.PATCH]")
    return int(m.group(1)), int(m.group(2))


def flavor_for_cuda(cuda_version: str) -> Flavor:
    """The flavor a toolkit ("12.8", "12.8.1", "12.4.131") builds: its own, else the one that accepts
    it (12.4 -> cu126, see Flavor.toolkit_problem); or explain what exists."""
    major, minor = _major_minor(cuda_version)
    exact = FLAVORS.get(f"cu{major}{minor}")
    if exact is not None:
        return exact
    for f in FLAVORS.values():
        if f.toolkit_problem(f"{major}.{minor}") is None:
            return f
    known = ", ".join(f"{f.name} (CUDA {f.toolkits})" for f in FLAVORS.values())
    raise ValueError(f"no flavor for CUDA {cuda_version}; supported flavors: {known}")


def label_for_cuda(cuda_version: str) -> str:
    """The local label a toolkit produces: its flavor's (13.0 -> cu130, 12.4 -> cu126), else cuXY."""
    major, minor = _major_minor(cuda_version)
    try:
        return flavor_for_cuda(cuda_version).name
    except ValueError:
        return f"cu{major}{minor}"
