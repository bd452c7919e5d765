"""TORCH_CUDA_ARCH_LIST parsing, nvcc gates and which kernel family is compiled for which arch.

Pure functions of (arch-list string, nvcc version): setup.py, the pipeline and the tests share them.
"""

from __future__ import annotations

import dataclasses
import re

# INT8 tensor-core MMA (mma.sync m16n8k32 s8) exists from sm_80 on; every kernel here needs it.
MIN_ARCH = (8, 0)

# Archs we know how to build, with the oldest nvcc that can target them.
_KNOWN_ARCHS: dict[tuple[int, int], tuple[int, int]] = {
    (8, 0): (12, 0),
    (8, 6): (12, 0),
    (8, 7): (12, 0),
    (8, 9): (12, 4),  # FP8 (e4m3) mma.sync on sm_89 needs 12.4
    (9, 0): (12, 3),  # sm_90a (wgmma, setmaxnreg) needs 12.3
    (10, 0): (12, 8),
    (12, 0): (12, 8),
    (12, 1): (12, 9),
}
SUPPORTED_ARCHS = tuple(f"{a}.{b}" for a, b in _KNOWN_ARCHS)

# The f16-accumulating FP8 MMA (pv_accum_dtype="fp32+fp16") needs nvcc >= 12.8.
FP8_F16_ACCUM_MIN_NVCC = (12, 8)

_ARCH_RE = re.compile(r"^(?:sm_?|compute_?)?(\d+)(?:\.(\d+))?([af]?)(\+ptx)?$", re.IGNORECASE)


class ArchListError(ValueError):
    """TORCH_CUDA_ARCH_LIST names something we cannot build."""


@dataclasses.dataclass(frozen=True, order=True)
class Arch:
    major: int
    minor: int
    ptx: bool = False

    @property
    def dotted(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def sm(self) -> str:
        """The SASS target: 9.0 always becomes sm_90a so the Hopper-only instructions are allowed."""
        suffix = "a" if (self.major, self.minor) == (9, 0) else ""
        return f"sm_{self.major}{self.minor}{suffix}"


def parse_arch_list(text: str) -> list[Arch]:
    """Parse TORCH_CUDA_ARCH_LIST: ';', ',' or spaces; '8.0', '80', 'sm_90', '9.0a', '8.6+PTX'."""
    tokens = [t for t in re.split(r"[;,\s]+", text.strip()) if t]
    if not tokens:
        raise ArchListError("TORCH_CUDA_ARCH_LIST is empty; set e.g. TORCH_CUDA_ARCH_LIST='8.0;9.0'")
    archs: dict[tuple[int, int], Arch] = {}
    for tok in tokens:
        m = _ARCH_RE.match(tok)
        if not m:
            raise ArchListError(
                f"TORCH_CUDA_ARCH_LIST entry {tok!r} is not an arch; use forms like 8.0, 8.6+PTX, 9.0a or sm_90"
            )
        digits, minor, _suffix, ptx = m.groups()
        if minor is None:  # "80", "sm_90", "120"
            if len(digits) < 2:
                raise ArchListError(f"TORCH_CUDA_ARCH_LIST entry {tok!r} is ambiguous; write it as MAJOR.MINOR")
            major_i, minor_i = int(digits[:-1]), int(digits[-1])
        else:
            major_i, minor_i = int(digits), int(minor)
        key = (major_i, minor_i)
        if key < MIN_ARCH:
            raise ArchListError(
                f"TORCH_CUDA_ARCH_LIST entry {tok!r} is below sm_80: these kernels use INT8 tensor-core MMA "
                f"(mma m16n8k32), which needs compute capability 8.0 or newer. Supported: {', '.join(SUPPORTED_ARCHS)}"
            )
        if key not in _KNOWN_ARCHS:
            raise ArchListError(
                f"TORCH_CUDA_ARCH_LIST entry {tok!r} is not a known GPU arch. Supported: {', '.join(SUPPORTED_ARCHS)}"
            )
        prev = archs.get(key)
        archs[key] = Arch(major_i, minor_i, ptx=bool(ptx) or (prev.ptx if prev else False))
    return sorted(archs.values())


def parse_version(text: str) -> tuple[int, int]:
    m = re.match(r"^\s*(\d+)\.(\d+)", text)
    if not m:
        raise ValueError(f"not a MAJOR.MINOR version: {text!r}")
    return int(m.group(1)), int(m.group(2))


# Kernel families, each a separate extension module compiled only for the archs it runs on.
FAMILIES = ("core", "mma_fp16", "mma_fp8", "sm90")


def family_archs(family: str, archs: list[Arch]) -> list[Arch]:
    keys = {
        "core": lambda a: True,  # quantization kernels: any sm_80+
        "mma_fp16": lambda a: True,  # INT8 QK + FP16 PV mma.sync: any sm_80+
        "mma_fp8": lambda a: (a.major, a.minor) >= (8, 9),  # FP8 mma.sync exists from sm_89 on
        "sm90": lambda a: (a.major, a.minor) == (9, 0),  # wgmma: sm_90a only
    }
    if family not in keys:
        raise KeyError(f"unknown kernel family {family!r}; known: {FAMILIES}")
    return [a for a in archs if keys[family](a)]


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    archs: tuple[Arch, ...]
    nvcc: tuple[int, int]
    fp8_f16_accum: bool

    def family_archs(self, family: str) -> list[Arch]:
        return family_archs(family, list(self.archs))

    def gencode_flags(self, family: str) -> list[str]:
        flags: list[str] = []
        for a in self.family_archs(family):
            num = a.sm[3:]
            flags.append(f"-gencode=arch=compute_{num},code={a.sm}")
            # Arch-specific ("a") targets have no forward-compatible PTX; +PTX means the plain one.
            if a.ptx and family != "sm90":
                flags.append(f"-gencode=arch=compute_{a.major}{a.minor},code=compute_{a.major}{a.minor}")
        return flags

    def macros(self) -> dict[str, str]:
        return {"SAGE_FP8_F16_ACCUM": "1" if self.fp8_f16_accum else "0"}

    def as_dict(self) -> dict[str, object]:
        return {
            "archs": [a.sm for a in self.archs],
            "nvcc": f"{self.nvcc[0]}.{self.nvcc[1]}",
            "fp8_f16_accum": self.fp8_f16_accum,
            "families": {f: [a.sm for a in self.family_archs(f)] for f in FAMILIES},
        }


def min_nvcc(arch_list: str) -> tuple[int, int]:
    """The oldest nvcc that can compile every arch of the list (the newest of their gates)."""
    return max(_KNOWN_ARCHS[(a.major, a.minor)] for a in parse_arch_list(arch_list))


def make_plan(arch_list: str, nvcc_version: str | tuple[int, int]) -> BuildPlan:
    """Check every arch against the nvcc in use and decide the optional features."""
    nvcc = parse_version(nvcc_version) if isinstance(nvcc_version, str) else nvcc_version
    archs = parse_arch_list(arch_list)
    for a in archs:
        need = _KNOWN_ARCHS[(a.major, a.minor)]
        if nvcc < need:
            what = {
                (8, 9): "FP8 mma on sm_89",
                (9, 0): "sm_90a (wgmma/setmaxnreg)",
            }.get((a.major, a.minor), a.sm)
            raise ArchListError(
                f"{what} needs nvcc >= {need[0]}.{need[1]}, but nvcc is {nvcc[0]}.{nvcc[1]}. "
                f"Install CUDA {need[0]}.{need[1]}+ (or point CUDA_HOME at it), or remove {a.dotted} "
                f"from TORCH_CUDA_ARCH_LIST."
            )
    return BuildPlan(tuple(archs), nvcc, fp8_f16_accum=nvcc >= FP8_F16_ACCUM_MIN_NVCC)
