"""`python -m ci smoke`: install from an index into a fresh venv, the way a user would, and check it.

1. `python -m venv` a new environment (with --system-site-packages by default, so the installed
   torch (~5 GB) is reused instead of installed again; --isolated makes a bare venv, which then
   needs --extra-index-url for torch).
2. `pip install sageattention[==VERSION] --index-url URL` with the cache off, so the wheel really
   comes over HTTP from that index.
3. From a directory outside the checkout: import sageattention, check it was imported from the
   venv, the installed distribution's version, and that build_info() reports the flavor's label
   and a CUDA version the flavor accepts (its own, or e.g. 12.4 for cu126: ci.flavors). When
   torch's CUDA major matches the flavor's, every compiled kernel module must also load (CPU only:
   loading needs no GPU); otherwise they cannot load, and build_info() must give the reason for
   each family instead of failing.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

from ci import flavors
from ci._util import log, run
from ci.errors import CheckFailed, ConfigError
from ci.version_cli import get_flavor

_PROBE = r"""
import importlib.metadata as md, json, sys
import sageattention
info = sageattention.build_info()
print("SMOKE-JSON " + json.dumps({
    "file": sageattention.__file__,
    "dist_version": md.version("sageattention"),
    "version": sageattention.__version__,
    "build_info": info,
    "prefix": sys.prefix,
}, default=str))
"""


def install_line(index_url: str, version: str | None = None) -> str:
    spec = f"sageattention=={version}" if version else "sageattention"
    return f"pip install {spec} --index-url {index_url}"


def make_venv(path: pathlib.Path, system_site_packages: bool = True, python: str = sys.executable) -> pathlib.Path:
    cmd = [python, "-m", "venv", str(path)]
    if system_site_packages:
        cmd.insert(3, "--system-site-packages")
    run(cmd, what="python -m venv")
    if system_site_packages:
        _see_parent_venv(path, python)
    return path / "bin" / "python"


_SITE_DIRS = "import site, sys; print(int(sys.prefix != sys.base_prefix)); print(*site.getsitepackages(), sep='\\n')"


def _see_parent_venv(venv: pathlib.Path, python: str) -> None:
    """--system-site-packages exposes the *base* interpreter's packages only. When `python` itself runs
    in a venv (GPU hosts keep torch in one), the new venv must also see that venv's site-packages, or
    torch and pytest would be fetched again (impossible offline)."""
    out = subprocess.run([python, "-c", _SITE_DIRS], capture_output=True, text=True, check=True).stdout.split("\n")
    if out[0].strip() != "1":
        return
    dirs = [d for d in out[1:] if d.strip()]
    for site_packages in (venv / "lib").glob("python*/site-packages"):
        (site_packages / "_sageattention_parent_venv.pth").write_text("\n".join(dirs) + "\n")


def probe(venv_python: pathlib.Path, cwd: pathlib.Path) -> dict[str, Any]:
    proc = subprocess.run([str(venv_python), "-c", _PROBE], cwd=cwd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("SMOKE-JSON "):
            return dict(json.loads(line[len("SMOKE-JSON "):]))
    raise CheckFailed(f"import sageattention failed in the fresh venv:\n{proc.stdout}{proc.stderr}")


def downloaded_from(report: dict[str, Any]) -> str:
    """The URL pip installed sageattention from, per its `--report` JSON."""
    for item in report.get("install", []):
        if item.get("metadata", {}).get("name", "").lower() == "sageattention":
            return str(item.get("download_info", {}).get("url", ""))
    return ""


def check(result: dict[str, Any], flavor: flavors.Flavor, venv: pathlib.Path, version: str | None) -> list[str]:
    problems = []
    info = result["build_info"]
    if not pathlib.Path(result["file"]).resolve().is_relative_to(venv.resolve()):
        problems.append(f"sageattention was imported from {result['file']}, not from the venv {venv}")
    if version and result["dist_version"] != version:
        problems.append(f"installed version {result['dist_version']} != {version}")
    if not result["dist_version"].endswith(f"+{flavor.name}"):
        problems.append(f"installed version {result['dist_version']} lacks +{flavor.name}")
    if info.get("local_label") != flavor.name:
        problems.append(f"build_info()['local_label'] = {info.get('local_label')!r}, expected {flavor.name!r}")
    toolkit = flavor.toolkit_problem(info.get("cuda_version"))
    if toolkit:
        problems.append(f"build_info()['cuda_version'] = {info.get('cuda_version')!r}: {toolkit}")
    kernels = info.get("kernels") or {}
    torch_cuda = info.get("torch_cuda") or ""
    if torch_cuda.split(".")[0] == str(flavor.cuda_major):
        bad = {k: v for k, v in kernels.items() if v != "loaded" and "not compiled" not in str(v)}
        if bad:
            problems.append(f"kernel modules failed to load: {bad}")
        return problems
    # Another CUDA major than torch's: the modules cannot load (their libcudart is not torch's), and
    # that must be said, not hidden: build_info() names a reason for every family it did not load.
    silent = sorted(k for k, v in kernels.items() if not v)
    if not kernels or silent:
        problems.append(f"build_info()['kernels'] gives no load status or reason for {silent or 'any family'}")
    not_loaded = {k: v for k, v in kernels.items() if v != "loaded"}
    log(f"torch here is CUDA {torch_cuda or 'none'}, the wheel is {flavor.name} (needs a CUDA {flavor.cuda_major}.x "
        f"torch): kernels not judged; build_info() reports {len(not_loaded)} of {len(kernels)} families unloaded, "
        f"e.g. {next(iter(not_loaded.values()), 'none')!s:.160}")
    return problems


def smoke(index_url: str, flavor_name: str, *, version: str | None = None, venv: pathlib.Path | None = None,
          system_site_packages: bool = True, extra_index_url: str | None = None) -> dict[str, Any]:
    flavor = get_flavor(flavor_name)
    with tempfile.TemporaryDirectory(prefix="sage-smoke-") as tmp:
        venv_dir = venv or pathlib.Path(tmp) / "venv"
        if venv_dir.exists() and any(venv_dir.iterdir()):
            raise ConfigError(f"{venv_dir} exists and is not empty; smoke tests need a fresh venv")
        py = make_venv(venv_dir, system_site_packages)
        cmd = [str(py), "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
               "--index-url", index_url]
        if extra_index_url:
            cmd += ["--extra-index-url", extra_index_url]
        report_path = pathlib.Path(tmp) / "pip-report.json"
        cmd += ["--report", str(report_path), f"sageattention=={version}" if version else "sageattention"]
        run(cmd, what="pip install from the index", capture=True)
        result = probe(py, pathlib.Path(tmp))
        problems = check(result, flavor, venv_dir, version)
        # pip config may add extra indexes or find-links: prove the wheel came from this index.
        source = downloaded_from(json.loads(report_path.read_text()))
        result["downloaded_from"] = source
        if not source.startswith(index_url.rstrip("/")):
            problems.append(f"pip took sageattention from {source}, not from {index_url}")
    if problems:
        raise CheckFailed("smoke test failed:\n  " + "\n  ".join(problems))
    log(f"smoke ok: {result['dist_version']} from {result['downloaded_from']}")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci smoke", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-url", required=True, help="the flavor's index, e.g. http://127.0.0.1:8000/cu130/")
    p.add_argument("--flavor", required=True, choices=sorted(flavors.FLAVORS))
    p.add_argument("--version", help="exact version to install, e.g. 2.3.0+cu130 (default: newest)")
    p.add_argument("--venv", type=pathlib.Path, help="venv directory to create (default: a temporary one)")
    p.add_argument("--isolated", action="store_true", help="bare venv without the system site-packages")
    p.add_argument("--extra-index-url", help="where torch comes from in an --isolated venv")
    args = p.parse_args(argv)
    result = smoke(args.index_url, args.flavor, version=args.version, venv=args.venv,
                   system_site_packages=not args.isolated, extra_index_url=args.extra_index_url)
    print(json.dumps(result["build_info"], indent=2, default=str))
    print(install_line(args.index_url, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
