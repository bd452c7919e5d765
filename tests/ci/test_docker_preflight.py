"""`python -m ci docker-preflight`: the builder's first step refuses bad ARGs with the reason.

Run as the Dockerfile runs it: a subprocess reading the build ARGs from its environment.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from ci import docker_local as dl
from ci import flavors
from ci.errors import PipelineError

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT = flavors.FLAVORS[flavors.DOCKER_DEFAULT_FLAVOR]
HOST_PY = "{}.{}".format(*sys.version_info[:2])


def preflight(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("CUDA_VERSION", "PYTHON_VERSION", "TORCH_CUDA_ARCH_LIST", "TORCH_INDEX_URL")}
    return subprocess.run([sys.executable, "-m", "ci", "docker-preflight", *argv], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("arch_list", ["7.5", "8.0;7.0", "7.0;7.5;8.0;8.6;8.9;9.0"])
def test_a_7x_arch_fails_early_with_the_reason(arch_list: str) -> None:
    p = preflight(TORCH_CUDA_ARCH_LIST=arch_list)
    assert p.returncode == 2
    assert "below sm_80" in p.stderr and "INT8" in p.stderr
    assert DEFAULT.arch_list_str in p.stderr  # and says what would work


def test_an_arch_the_cuda_version_cannot_compile_is_refused() -> None:
    # The Dockerfile's default list (cu129's) with only CUDA_VERSION lowered: nvcc 12.6 has no sm_100/sm_120.
    p = preflight(CUDA_VERSION="12.6.3", TORCH_CUDA_ARCH_LIST=DEFAULT.arch_list_str)
    assert p.returncode == 2
    assert "12.8" in p.stderr and "'8.0;8.6;8.9;9.0'" in p.stderr


def test_a_cuda_version_without_a_flavor_is_refused() -> None:
    p = preflight("--print", "flavor", CUDA_VERSION="11.8.0")
    assert p.returncode == 2 and "no flavor for CUDA 11.8.0" in p.stderr


def test_a_python_below_the_floor_is_refused() -> None:
    p = preflight(PYTHON_VERSION="3.9")
    assert p.returncode == 2 and f"CPython >= {flavors.PYTHON_FLOOR}" in p.stderr


@pytest.mark.parametrize("flavor", sorted(flavors.FLAVORS))
def test_print_answers_from_the_flavor_data(flavor: str) -> None:
    f = flavors.FLAVORS[flavor]
    assert preflight("--print", "flavor", CUDA_VERSION=f.cuda_full).stdout.strip() == f.name
    assert preflight("--print", "torch-index", CUDA_VERSION=f.cuda_full).stdout.strip() == f.torch_index
    mirror = "https://mirror.example.invalid/simple"
    got = preflight("--print", "torch-index", CUDA_VERSION=f.cuda_full, TORCH_INDEX_URL=mirror).stdout.strip()
    assert got == mirror
    assert preflight("--print", "torch-floor").stdout.strip() == flavors.TORCH_FLOOR


def test_defaults_without_any_arg_are_the_docker_default_flavor() -> None:
    assert preflight("--print", "flavor").stdout.strip() == DEFAULT.name


def _host_nvcc() -> str | None:
    try:
        return dl._image_nvcc(os.environ)
    except PipelineError:  # the toolkit's nvcc cannot be run here
        return None


def test_the_image_toolchain_must_match_the_args() -> None:
    nvcc = _host_nvcc()
    if nvcc is None:
        pytest.skip("no CUDA toolkit on this machine to stand in for the image's")
    flavor = flavors.flavor_for_cuda(nvcc)
    ok = preflight(CUDA_VERSION=flavor.cuda_full, PYTHON_VERSION=HOST_PY, TORCH_CUDA_ARCH_LIST=flavor.arch_list_str)
    assert ok.returncode == 0, ok.stderr
    assert f"flavor {flavor.name}" in ok.stdout
    other = next(f for f in flavors.FLAVORS.values() if f.cuda != flavor.cuda)
    bad = preflight(CUDA_VERSION=other.cuda_full, PYTHON_VERSION=HOST_PY, TORCH_CUDA_ARCH_LIST="8.0")
    assert bad.returncode == 2 and f"nvcc is {nvcc}" in bad.stderr
    wrong_py = "3.10" if HOST_PY != "3.10" else "3.11"
    bad = preflight(CUDA_VERSION=flavor.cuda_full, PYTHON_VERSION=wrong_py, TORCH_CUDA_ARCH_LIST="8.0")
    assert bad.returncode == 2 and f"runs CPython {HOST_PY}" in bad.stderr


def test_apt_mirror_reads_deb822_and_legacy_sources(tmp_path: pathlib.Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.test/debian/\nSuites: bookworm-updates bookworm\nComponents: main\n"
    )
    assert dl.apt_mirror(tmp_path) == ("http://mirror.test/debian", "bookworm")
    (d / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("# comment\ndeb http://old.test/debian trixie main\n")
    assert dl.apt_mirror(tmp_path) == ("http://old.test/debian", "trixie")
    (tmp_path / "sources.list").write_text("")
    with pytest.raises(dl.ConfigError, match="no Debian archive"):
        dl.apt_mirror(tmp_path)
