"""CUDA flavors: the one list every build, workflow, Docker target and test reads.

A flavor is one CUDA toolkit major.minor that wheels are built with. Each flavor gets its own
index (``…/whl/<name>/``) because PEP 440 local labels (``2.3.0+cu128``) make pip pick the highest
label across merged indexes; one index per flavor pins the user to the CUDA their torch uses.

Why these four:
- cu126: the oldest CUDA torch 2.10 still publishes; covers sm_80…sm_90a (no sm_100/sm_120 in 12.6).
- cu128: first toolkit with sm_100/sm_120 and the f16-accumulating FP8 MMA; torch's main cu12 flavor.
- cu129: what the contributor Docker guide defaults to (12.9.1); adds sm_121 (DGX Spark).
- cu130: torch's CUDA 13 flavor and the toolkit on our GPU host.
The extension links the CUDA runtime of its major version only, which torch's nvidia-* wheels bring:
a cu12x wheel needs a cu12x torch, a cu130 wheel a cu13x torch.
"""

from __future__ import annotations

import dataclasses
import re

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


def flavor_for_cuda(cuda_version: str) -> Flavor:
    """Map a toolkit version ("12.8", "12.8.1", "13.0.88") to its flavor, or explain what exists."""
    m = re.match(r"^(\d+)\.(\d+)", cuda_version.strip())
    if not m:
        raise ValueError(f"CUDA version {cuda_version!r} is not of the form MAJOR.MINOR[.PATCH]")
    name = f"cu{m.group(1)}{m.group(2)}"
    if name not in FLAVORS:
        known = ", ".join(f"{f.name} (CUDA {f.cuda})" for f in FLAVORS.values())
        raise ValueError(f"no flavor for CUDA {cuda_version}; supported flavors: {known}")
    return FLAVORS[name]


def label_for_cuda(cuda_version: str) -> str:
    """The local label a toolkit produces, whether or not it is a published flavor: 13.0 -> cu130."""
    m = re.match(r"^(\d+)\.(\d+)", cuda_version.strip())
    if not m:
        raise ValueError(f"CUDA version {cuda_version!r} is not of the form MAJOR.MINOR[.PATCH]")
    return f"cu{m.group(1)}{m.group(2)}"
