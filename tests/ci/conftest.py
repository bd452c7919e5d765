"""Fixtures for the pipeline tests: real wheel files (synthetic or built), real servers on loopback."""

from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_wheel(
    out: pathlib.Path,
    version: str = "2.3.0+cu130",
    *,
    name: str = "sageattention",
    plat: str = "manylinux_2_28_x86_64",
    requires_python: str = ">=3.10",
    payload: bytes = b"",
) -> pathlib.Path:
    """A small but genuine wheel: dist-info METADATA/WHEEL/RECORD and one module (pip installs it)."""
    out.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    path = out / f"{dist}-{version}-cp310-abi3-{plat}.whl"
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}_probe/__init__.py": b"VALUE = " + repr(payload.decode() or version).encode() + b"\n",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            f"Requires-Python: {requires_python}\nRequires-Dist: torch>=2.10\n\nA test wheel.\n"
        ).encode(),
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\nTag: cp310-abi3-{plat}\n"
        ).encode(),
    }
    record = []
    for fname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{fname},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for fname, data in files.items():
            zf.writestr(fname, data)
    return path


@pytest.fixture
def wheel_factory(tmp_path_factory: pytest.TempPathFactory):
    """Makes wheels in their own temporary directories (never inside the test's tmp_path)."""

    def factory(version: str = "2.3.0+cu130", **kw: object) -> pathlib.Path:
        return make_wheel(tmp_path_factory.mktemp("wheel"), version, **kw)  # type: ignore[arg-type]

    return factory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pypiserver(tmp_path: pathlib.Path) -> Iterator[str]:
    """A real pypiserver on 127.0.0.1 accepting unauthenticated uploads; stopped after the test."""
    exe = shutil.which("pypi-server") or str(pathlib.Path(sys.executable).parent / "pypi-server")
    if not os.path.exists(exe):
        pytest.skip("pypiserver is not installed (pip install -r ci/requirements-tools.txt)")
    packages = tmp_path / "pypiserver-packages"
    packages.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--host", "127.0.0.1", "--port", str(port), "-a", ".", "-P", ".",
         "--disable-fallback", str(packages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "simple/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("pypiserver did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A real cu130 wheel of this tree, unrepaired (linux_x86_64).

    SAGEATTENTION_TEST_WHEEL reuses one built earlier (e.g. by `python -m ci build --flavor cu130
    --arch-list 9.0`, as .ci/run does); otherwise the extension is built here for sm_90a only.
    """
    given = os.environ.get("SAGEATTENTION_TEST_WHEEL")
    if given:
        path = pathlib.Path(given)
        assert path.is_file(), f"SAGEATTENTION_TEST_WHEEL={given} does not exist"
        return path
    from ci import build

    if build.detect_cuda_home(dict(os.environ)) is None:
        pytest.skip("no CUDA toolkit (nvcc) to build the extension with")
    out = tmp_path_factory.mktemp("built")
    return build.build("cu130", out, copy_source=True, arch_list="9.0")


@pytest.fixture(scope="session")
def built_arch_list(built_wheel: pathlib.Path) -> str:
    """The TORCH_CUDA_ARCH_LIST the built wheel was made for, from its _build_config ('9.0', ...)."""
    from ci import verify

    with zipfile.ZipFile(built_wheel) as zf:
        cfg = verify.parse_build_config(zf.read("sageattention/_build_config.py").decode())
    return ";".join(f"{sm[3:-1]}.{sm[-1]}" for sm in (a.rstrip("af") for a in cfg["archs"]))


@pytest.fixture(scope="session")
def cuda124_home(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A CUDA 12.4 CUDA_HOME from `python -m ci toolkit` (nvcc from the machine's Debian mirror, headers
    and cudart from pip), assembled once per session; SAGEATTENTION_CUDA124_HOME reuses one made earlier,
    SAGEATTENTION_DEBIAN_MIRROR names another Debian mirror. Skips, with the reason, where the mirror
    or the package index cannot provide it."""
    from ci import toolkit

    given = os.environ.get("SAGEATTENTION_CUDA124_HOME")
    dest = pathlib.Path(given) if given else tmp_path_factory.mktemp("cuda-12.4")
    try:
        return toolkit.assemble("12.4", dest, mirror=os.environ.get("SAGEATTENTION_DEBIAN_MIRROR") or None)
    except toolkit.SourceUnavailable as exc:
        pytest.skip(f"no CUDA 12.4 toolkit obtainable here: {exc}")
