"""Package version: base version from VERSION, a git tag or describe, plus the CUDA local label."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess

from ci import flavors

ROOT = pathlib.Path(__file__).resolve().parent.parent
# PEP 440 public version (the subset we produce: release, pre, post, dev).
_PEP440_PUBLIC = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
_LOCAL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")


def base_version() -> str:
    return (ROOT / "VERSION").read_text().strip()


def check_public(version: str) -> str:
    if not _PEP440_PUBLIC.match(version):
        raise ValueError(f"{version!r} is not a PEP 440 version (expected e.g. 2.3.0, 2.3.0rc1, 2.3.0.dev4)")
    return version


def from_tag(tag: str) -> str:
    """'v2.3.0' -> '2.3.0'; refuses tags that are not PEP 440."""
    if not tag.startswith("v"):
        raise ValueError(f"release tags look like v2.3.0; got {tag!r}")
    return check_public(tag[1:])


def from_describe(describe: str, base: str) -> str:
    """git describe --tags --long output ('v2.2.0-5-gabc123') -> '2.3.0.dev5' on top of VERSION."""
    m = re.match(r"^v?(.+)-(\d+)-g[0-9a-f]+$", describe.strip())
    if not m:
        return f"{check_public(base)}.dev0"
    tag_version, distance = m.group(1), int(m.group(2))
    if distance == 0:
        return check_public(tag_version)
    return f"{check_public(base)}.dev{distance}"


def git_version(root: pathlib.Path = ROOT) -> str:
    """The version of this checkout: exact tag, else a dev version; VERSION alone without git."""
    base = base_version()
    try:
        out = subprocess.run(
            ["git", "describe", "--tags", "--long", "--match", "v[0-9]*"],
            cwd=root, capture_output=True, text=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        try:
            count = subprocess.run(
                ["git", "rev-list", "--count", "HEAD"], cwd=root, capture_output=True, text=True, check=True
            ).stdout.strip()
            return f"{base}.dev{int(count)}"
        except (OSError, subprocess.CalledProcessError, ValueError):
            return base
    return from_describe(out, base)


def local_label(cuda_version: str | None, override: str | None = None) -> str:
    """Local label: SAGEATTENTION_LOCAL_VERSION wins (empty = none, for a default flavor), else the
    flavor of the nvcc (cu126 for 12.4), else cuXYZ."""
    if override is not None:
        label = override.strip().lstrip("+")
        if label and not _LOCAL.match(label):
            raise ValueError(f"local version label {override!r} must be lowercase letters, digits and dots")
        return label
    if not cuda_version:
        return ""
    return flavors.label_for_cuda(cuda_version)


def full_version(public: str, label: str) -> str:
    check_public(public)
    return f"{public}+{label}" if label else public


def package_version(cuda_version: str | None) -> str:
    """What setup.py stamps: SAGEATTENTION_VERSION (CI) or git, plus the label."""
    public = os.environ.get("SAGEATTENTION_VERSION") or git_version()
    label = local_label(cuda_version, os.environ.get("SAGEATTENTION_LOCAL_VERSION"))
    return full_version(check_public(public), label)
