"""Which toolkits build which flavor (ci.flavors), and assembling them (ci.toolkit, ci.apt).

The unit tests need nothing. The slow ones assemble real toolkits: CUDA 12.4 from the machine's
Debian mirror plus pip wheels (the `cuda124_home` fixture, shared with test_two_flavors), and CUDA
13.2 from pip. Either skips with the reason where its sources cannot be reached.
"""

from __future__ import annotations

import pathlib
import subprocess

import pytest

from ci import apt, flavors, toolkit, verify
from ci.errors import ConfigError

# --- the flavor rule: same major, a minor no newer than the flavor's, new enough for its archs ---


def test_oldest_toolkit_of_each_flavor() -> None:
    oldest = {name: f.oldest_cuda for name, f in flavors.FLAVORS.items()}
    # cu126: FP8 mma on sm_89 needs 12.4; cu128: sm_100/120 and the f16-accumulating FP8 MMA need 12.8
    assert oldest == {"cu126": "12.4", "cu128": "12.8", "cu129": "12.9", "cu130": "13.0"}
    assert flavors.FLAVORS["cu126"].toolkits == "12.4 to 12.6"
    assert flavors.FLAVORS["cu130"].toolkits == "13.0"


@pytest.mark.parametrize("nvcc", ["12.4", "12.5", "12.6", "12.4.131"])
def test_cu126_accepts_older_cuda_12_minors(nvcc: str) -> None:
    assert flavors.FLAVORS["cu126"].toolkit_problem(nvcc) is None


@pytest.mark.parametrize("nvcc", ["12.3", "12.8", "13.0", "11.8", None, "garbage"])
def test_cu126_refuses_the_rest(nvcc: object) -> None:
    problem = flavors.FLAVORS["cu126"].toolkit_problem(nvcc)
    assert problem is not None and "12.4 to 12.6" in problem


def test_flavor_and_label_of_a_toolkit() -> None:
    assert flavors.flavor_for_cuda("12.4.131").name == "cu126"  # the flavor a 12.4 nvcc builds
    assert flavors.flavor_for_cuda("12.6.3").name == "cu126"
    assert flavors.label_for_cuda("12.4") == "cu126"
    assert flavors.label_for_cuda("13.2") == "cu132"  # no flavor: the toolkit's own label
    with pytest.raises(ValueError, match=r"cu126 \(CUDA 12.4 to 12.6\)"):
        flavors.flavor_for_cuda("12.7")


# --- ci.apt: the machine's mirror, and apt kept private ---


def test_sources_deb822_and_one_line(tmp_path: pathlib.Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.test/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/k.gpg\n"
    )
    (d / "extra.list").write_text("deb [arch=amd64 signed-by=/k2.gpg] http://other.test/debian trixie main\n")
    assert apt.debian_archive(tmp_path) == apt.Source("http://mirror.test/debian", "bookworm", "/usr/share/keyrings/k.gpg")
    assert apt.Source("http://other.test/debian", "trixie", "/k2.gpg") in apt.read_sources(tmp_path)
    (d / "debian.sources").unlink()
    (d / "extra.list").unlink()
    with pytest.raises(ConfigError, match="no Debian archive"):
        apt.debian_archive(tmp_path)


def test_private_apt_never_points_at_the_system_state(tmp_path: pathlib.Path) -> None:
    p = apt.PrivateApt(tmp_path / "apt", apt.Source("http://mirror.test/debian", "bookworm", "/k.gpg"),
                       "trixie", "non-free")
    assert (tmp_path / "apt" / "sources.list").read_text() == "deb [signed-by=/k.gpg] http://mirror.test/debian trixie non-free\n"
    opts = dict(o.split("=", 1) for o in p.options() if "=" in o)
    assert opts["Dir::Etc::SourceParts"] == "-"
    for key in ("Dir::Etc::SourceList", "Dir::State::Lists", "Dir::Cache"):
        assert opts[key].startswith(str(tmp_path / "apt")), key


# --- ci.toolkit: what it refuses, what it writes ---


def test_toolkit_wheels_per_major() -> None:
    assert toolkit.requirements("13.2")[0] == "nvidia-cuda-nvcc==13.2.*"
    assert "nvidia-cuda-runtime==13.2.*" in toolkit.requirements("13.2")
    # CUDA 12: headers, crt/ and cudart only (the compiler is not on pip)
    assert toolkit.requirements("12.4") == ["nvidia-cuda-runtime-cu12==12.4.*", "nvidia-cuda-nvcc-cu12==12.4.*",
                                            "nvidia-cuda-cccl-cu12==12.4.*"]
    with pytest.raises(ConfigError):
        toolkit.requirements("13")
    with pytest.raises(ConfigError):
        toolkit.requirements("11.8")


def test_a_cuda_12_it_cannot_get_is_refused_before_downloading(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="Use --cuda 12.4 .it builds flavor cu126"):
        toolkit.assemble("12.8", tmp_path / "tk")
    assert not (tmp_path / "tk").exists()


def test_a_foreign_non_empty_dest_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "bin").mkdir()
    with pytest.raises(ConfigError, match="not empty and was not made by"):
        toolkit.assemble("12.4", tmp_path)
    assert (tmp_path / "bin").is_dir()


def test_nvcc_profile_is_relative_to_the_tree() -> None:
    assert "/usr" not in toolkit.NVCC_PROFILE
    assert "NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice" in toolkit.NVCC_PROFILE
    assert "$(_HERE_)" in toolkit.NVCC_PROFILE


# --- the real toolkits ---


@pytest.mark.slow
def test_cuda_12_4_tree_compiles_sm90a_against_cudart_12(cuda124_home: pathlib.Path, tmp_path: pathlib.Path) -> None:
    home = cuda124_home
    assert toolkit.nvcc_release(home) == "12.4"
    for rel in ("nvvm/bin/cicc", "nvvm/libdevice/libdevice.10.bc", "include/cuda_runtime.h",
                "include/crt/host_config.h", "include/cudaTypedefs.h", "include/cuda_fp8.h", "bin/cudafe++"):
        assert (home / rel).is_file(), rel
    assert (home / "lib64" / "libcudart.so").resolve() == (home / "lib64" / "libcudart.so.12").resolve()
    assert "/usr" not in (home / "bin" / "nvcc.profile").read_text()
    src = tmp_path / "k.cu"
    src.write_text("__global__ void k(float* x) { x[0] = expf(x[0]); }\nint main() { k<<<1, 1>>>(nullptr); }\n")
    obj = tmp_path / "k.o"
    subprocess.run([home / "bin" / "nvcc", "-arch=sm_90a", "-c", src, "-o", obj], check=True, cwd=tmp_path)
    sass, _ = verify.sass_and_ptx(str(home / "bin" / "cuobjdump"), obj)
    assert sass == {"sm_90a"}
    exe = tmp_path / "k"
    subprocess.run(["g++", obj, f"-L{home / 'lib64'}", "-lcudart", "-o", exe], check=True)
    assert [lib for lib in verify.needed_libs(exe) if "cudart" in lib] == ["libcudart.so.12"]
    # a second run reuses the tree
    assert toolkit.assemble("12.4", home) == home


@pytest.mark.slow
def test_cuda_13_from_pip_still_assembles(tmp_path: pathlib.Path) -> None:
    try:
        home = toolkit.assemble("13.2", tmp_path / "tk")
    except toolkit.SourceUnavailable as exc:
        pytest.skip(f"no CUDA 13.2 wheels obtainable here: {exc}")
    assert toolkit.nvcc_release(home) == "13.2"
    assert (home / "include" / "cuda_runtime.h").is_file() and (home / "lib64").exists()
