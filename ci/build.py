"""`python -m ci build`: one wheel for one flavor, through the one build entry point (`pip wheel .`).

This module only prepares the environment setup.py reads (TORCH_CUDA_ARCH_LIST,
SAGEATTENTION_VERSION, SAGEATTENTION_LOCAL_VERSION, CUDA_HOME, MAX_JOBS, NVCC_THREADS, and
SAGEATTENTION_SKIP_CUDA_VERSION_CHECK when nvcc's CUDA major differs from torch's) and then runs
`python -m pip wheel <src> --no-deps`. There is no other recipe: Docker and the workflows call this.
The toolkit must be one the flavor accepts (ci.flavors: its own CUDA, or an older minor of the same
major that compiles all its archs, e.g. nvcc 12.4 for cu126); the wheel is labelled with the flavor.

Each flavor gets its own setuptools build directory (build/ci-<flavor>) through DIST_EXTRA_CONFIG,
so objects of one toolkit are never reused by another and rebuilds stay incremental.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from ci import archs, flavors
from ci import version as ci_version
from ci._util import ROOT, log, run
from ci.errors import CheckFailed, ConfigError, ToolError
from ci.version_cli import get_flavor, resolve_public

_WHEEL_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)(-(?P<build>\d[^-]*))?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$"
)


def detect_cuda_home(env: dict[str, str]) -> pathlib.Path | None:
    """CUDA_HOME / CUDA_PATH, else the toolkit of the nvcc on PATH, else /usr/local/cuda."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if env.get(var):
            return pathlib.Path(env[var])
    nvcc = shutil.which("nvcc", path=env.get("PATH"))
    candidates = [pathlib.Path(os.path.realpath(nvcc)).parent.parent] if nvcc else []
    candidates.append(pathlib.Path("/usr/local/cuda"))
    for home in candidates:  # nvcc on PATH may be a wrapper script: require the headers too
        if (home / "bin" / "nvcc").exists() and (home / "include" / "cuda_runtime.h").exists():
            return home
    return None


def nvcc_version(cuda_home: pathlib.Path) -> str:
    nvcc = cuda_home / "bin" / "nvcc"
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"cannot run {nvcc} --version: {exc}") from exc
    m = re.search(r"release (\d+\.\d+)", out)
    if not m:
        raise ToolError(f"could not read the CUDA release from `{nvcc} --version`:\n{out}")
    return m.group(1)


def torch_cuda(python: str = sys.executable) -> str | None:
    """torch.version.cuda of the torch the build will compile against (None for a CPU torch)."""
    try:
        out = subprocess.run([python, "-c", "import torch; print(torch.version.cuda or '')"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out or None


def build_env(
    flavor: flavors.Flavor,
    *,
    public_version: str,
    cuda_home: pathlib.Path,
    nvcc: str,
    torch_cuda_version: str | None,
    arch_list: str | None = None,
    max_jobs: int | None = None,
    nvcc_threads: int | None = None,
    build_base: pathlib.Path | None = None,
    base_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment setup.py gets for this flavor. Pure: the tests call it directly."""
    problem = flavor.toolkit_problem(nvcc)
    if problem:
        raise ConfigError(
            f"{problem} ({cuda_home}/bin/nvcc). Point CUDA_HOME (or --cuda-home) at a CUDA "
            f"{flavor.toolkits} toolkit (`python -m ci toolkit --help` says which it can assemble), "
            f"or build flavor {flavors.label_for_cuda(nvcc)}"
        )
    arch_list = arch_list or flavor.arch_list_str
    try:
        archs.make_plan(arch_list, nvcc)  # fail here, with setup.py's own message, before pip starts
    except archs.ArchListError as exc:
        raise ConfigError(str(exc)) from exc
    env = dict(os.environ if base_env is None else base_env)
    env.update(
        TORCH_CUDA_ARCH_LIST=arch_list,
        SAGEATTENTION_VERSION=ci_version.check_public(public_version),
        SAGEATTENTION_LOCAL_VERSION=flavor.name,
        CUDA_HOME=str(cuda_home),
    )
    env["PATH"] = f"{cuda_home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if max_jobs:
        env["MAX_JOBS"] = str(max_jobs)
    if nvcc_threads:
        env["NVCC_THREADS"] = str(nvcc_threads)
    if torch_cuda_version and archs.parse_version(torch_cuda_version)[0] != flavor.cuda_major:
        # The extension uses only torch's stable C shim and headers: any CUDA major of torch works
        # at build time; the wheel needs a torch of the flavor's major at run time.
        env["SAGEATTENTION_SKIP_CUDA_VERSION_CHECK"] = "1"
    if build_base is not None:
        env["DIST_EXTRA_CONFIG"] = str(_write_build_cfg(build_base))
    return env


def _write_build_cfg(build_base: pathlib.Path) -> pathlib.Path:
    build_base.mkdir(parents=True, exist_ok=True)
    cfg = build_base / "setuptools.cfg"
    cfg.write_text(f"[build]\nbuild_base = {build_base}\n")
    return cfg


def pip_wheel_command(source: pathlib.Path, out: pathlib.Path, *, isolation: bool,
                      python: str = sys.executable) -> list[str]:
    cmd = [python, "-m", "pip", "wheel", str(source), "--no-deps", "--wheel-dir", str(out), "-v"]
    if not isolation:
        # The build requirements (torch, setuptools, ninja) are already installed: torch is ~5 GB
        # and an isolated environment would install it again for every build.
        cmd.append("--no-build-isolation")
    return cmd


def stage_source(dest: pathlib.Path, source: pathlib.Path = ROOT) -> pathlib.Path:
    """Copy the tracked and untracked-but-not-ignored files (no build outputs) to dest."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=source, capture_output=True, check=True).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        src = source / rel
        if not src.is_file():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    return dest


def parse_wheel_name(filename: str) -> dict[str, str]:
    m = _WHEEL_RE.match(filename)
    if not m:
        raise CheckFailed(f"{filename!r} is not a wheel file name (name-version-py-abi-plat.whl)")
    return {k: v for k, v in m.groupdict().items() if v is not None}


def build(
    flavor_name: str,
    out: pathlib.Path,
    *,
    source: pathlib.Path = ROOT,
    copy_source: bool = False,
    arch_list: str | None = None,
    public_version: str | None = None,
    cuda_home: pathlib.Path | None = None,
    max_jobs: int | None = None,
    nvcc_threads: int | None = None,
    isolation: bool = False,
) -> pathlib.Path:
    flavor = get_flavor(flavor_name)
    home = cuda_home or detect_cuda_home(dict(os.environ))
    if home is None or not (home / "bin" / "nvcc").exists():
        raise ConfigError("no CUDA toolkit: set CUDA_HOME or pass --cuda-home (a dir with bin/nvcc)")
    home = home.absolute()  # the build may run in a copy of the source, elsewhere
    nvcc = nvcc_version(home)
    public = public_version or resolve_public()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.whl"))
    with tempfile.TemporaryDirectory(prefix="sage-src-") as tmp:
        src = stage_source(pathlib.Path(tmp), source) if copy_source else source
        env = build_env(flavor, public_version=public, cuda_home=home, nvcc=nvcc,
                        torch_cuda_version=torch_cuda(), arch_list=arch_list, max_jobs=max_jobs,
                        nvcc_threads=nvcc_threads, build_base=src / "build" / f"ci-{flavor.name}")
        log(f"building {flavor.name}: CUDA {nvcc} at {home}, archs {env['TORCH_CUDA_ARCH_LIST']}, "
            f"version {public}+{flavor.name}")
        t0 = time.monotonic()
        run(pip_wheel_command(src, out, isolation=isolation), env=env, cwd=src, what="pip wheel")
        seconds = time.monotonic() - t0
    expected = f"{public}+{flavor.name}"
    made = [w for w in set(out.glob("sageattention-*.whl")) - before
            if parse_wheel_name(w.name)["version"] == expected]
    if not made:
        made = [w for w in out.glob("sageattention-*.whl") if parse_wheel_name(w.name)["version"] == expected]
    if len(made) != 1:
        raise CheckFailed(f"expected one wheel of version {expected} in {out}, found {[w.name for w in made]}")
    wheel = made[0]
    record = {"wheel": wheel.name, "flavor": flavor.name, "cuda": nvcc, "archs": env["TORCH_CUDA_ARCH_LIST"],
              "seconds": round(seconds, 1), "bytes": wheel.stat().st_size, "max_jobs": env.get("MAX_JOBS"),
              "cpus": os.cpu_count()}
    (out / f"{wheel.name}.build.json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"built {wheel.name} in {seconds:.0f}s ({wheel.stat().st_size / 2**20:.1f} MiB)")
    return wheel


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci build", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flavor", required=True, choices=sorted(flavors.FLAVORS))
    p.add_argument("--out", type=pathlib.Path, default=ROOT / "dist", help="wheel directory (default: dist/)")
    p.add_argument("--arch-list", help="TORCH_CUDA_ARCH_LIST (default: env, else the flavor's list)")
    p.add_argument("--version", dest="public_version", help="public version (default: tag / git describe)")
    p.add_argument("--cuda-home", type=pathlib.Path, help="toolkit dir with bin/nvcc (default: CUDA_HOME, PATH)")
    p.add_argument("--max-jobs", type=int, help="parallel compile jobs (default: setup.py's)")
    p.add_argument("--nvcc-threads", type=int, help="nvcc --threads (default: setup.py's)")
    p.add_argument("--source", type=pathlib.Path, default=ROOT, help="source tree (default: this checkout)")
    p.add_argument("--copy-source", action="store_true",
                   help="build from a clean copy of the tracked files (leaves the tree untouched)")
    p.add_argument("--build-isolation", action="store_true",
                   help="let pip install the build requirements in an isolated env (default: use installed torch)")
    args = p.parse_args(argv)
    wheel = build(args.flavor, args.out, source=args.source.resolve(), copy_source=args.copy_source,
                  arch_list=args.arch_list or os.environ.get("TORCH_CUDA_ARCH_LIST") or None,
                  public_version=args.public_version, cuda_home=args.cuda_home, max_jobs=args.max_jobs,
                  nvcc_threads=args.nvcc_threads, isolation=args.build_isolation)
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
