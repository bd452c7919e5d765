"""`python -m ci verify`: every rule a wheel must pass before anyone can install it.

Checks (each reported by name, all run, any failure exits 4):
- name:       file name parses; dist sageattention; cp310-abi3; the expected platform tag;
              version is PEP 440 and carries the flavor's local label (`+cu128`).
- metadata:   WHEEL tags agree with the file name; METADATA version, Requires-Python and the
              torch floor in Requires-Dist.
- build-config: sageattention/_build_config.py says the flavor's label and arch list, and a CUDA
              version the flavor accepts (its own, or an older minor such as 12.4 for cu126).
- archs:      `cuobjdump --list-elf/--list-ptx` on every extension module shows exactly the SASS
              (and PTX) the flavor's arch list gives that kernel family (ci.archs).
- symbols:    `nm -D` shows no imported c10::/at::/torch:: C++ symbol: the modules use only the
              stable C shim, so one wheel works with every torch >= the floor.
- runtime:    `readelf -d`: the only CUDA runtime a module needs is the flavor's major
              (libcudart.so.12 for cu12x, .so.13 for cu130), the one its torch brings.
- size:       wheel size under the budget (GitHub Pages serves files up to 100 MB).
- twine, abi3audit, check-wheel-contents: the tools' own verdicts.
"""

from __future__ import annotations

import argparse
import ast
import email.parser
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from typing import Any

from ci import archs, flavors
from ci import version as ci_version
from ci._util import ROOT, log, python_tool
from ci.build import parse_wheel_name
from ci.errors import CheckFailed, ConfigError, ToolError
from ci.repair import expected_plat
from ci.version_cli import get_flavor

DIST = "sageattention"
# GitHub Pages refuses files over 100 MB; the index is served from there.
SIZE_BUDGET_MIB = 95.0
_CXX_NAMESPACES = re.compile(r"\b(c10|at|torch)::")


def find_cuobjdump(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    found = shutil.which("cuobjdump", path=env.get("PATH"))
    if found:
        return found
    if env.get("CUDA_HOME") and (pathlib.Path(env["CUDA_HOME"]) / "bin" / "cuobjdump").exists():
        return str(pathlib.Path(env["CUDA_HOME"]) / "bin" / "cuobjdump")
    site = sysconfig.get_paths()["purelib"]
    for pattern in ("nvidia/*/bin/cuobjdump", "nvidia/cuda_cuobjdump/bin/cuobjdump"):
        hits = sorted(glob.glob(os.path.join(site, pattern)))
        if hits:
            return hits[-1]
    if pathlib.Path("/usr/local/cuda/bin/cuobjdump").exists():
        return "/usr/local/cuda/bin/cuobjdump"
    raise ToolError("cuobjdump not found: install the CUDA toolkit's, or `pip install nvidia-cuda-cuobjdump`")


def family_modules(setup_py: pathlib.Path = ROOT / "setup.py") -> dict[str, str]:
    """setup.py's FAMILY_MODULES (family -> module), read without running setup.py."""
    tree = ast.parse(setup_py.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FAMILY_MODULES" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise ConfigError(f"FAMILY_MODULES not found in {setup_py}")


def parse_build_config(text: str) -> dict[str, Any]:
    m = re.search(r"^BUILD_CONFIG\s*=\s*", text, re.M)
    if not m:
        raise CheckFailed("_build_config.py has no BUILD_CONFIG")
    rhs = text[m.end():]
    try:
        return dict(ast.literal_eval(rhs.strip()))
    except (ValueError, SyntaxError):
        return dict(json.loads(rhs))


def sass_and_ptx(cuobjdump: str, so: pathlib.Path) -> tuple[set[str], set[str]]:
    def listing(flag: str) -> str:
        proc = subprocess.run([cuobjdump, flag, str(so)], capture_output=True, text=True)
        text = proc.stdout + proc.stderr
        if proc.returncode != 0 and "No " not in text:
            raise ToolError(f"cuobjdump {flag} {so.name} failed: {text.strip()}")
        return proc.stdout

    sass = set(re.findall(r"\.(sm_\d+[af]?)\.cubin", listing("--list-elf")))
    ptx = set(re.findall(r"\.(sm_\d+[af]?)\.ptx", listing("--list-ptx")))
    return sass, ptx


def imported_cxx_symbols(so: pathlib.Path) -> list[str]:
    try:
        out = subprocess.run(["nm", "-D", "--undefined-only", "-C", str(so)],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"nm -D failed on {so.name}: {exc}") from exc
    syms = [line.split(None, 1)[-1] for line in out.splitlines() if line.strip()]
    return [s for s in syms if _CXX_NAMESPACES.search(s)]


def needed_libs(so: pathlib.Path) -> list[str]:
    """The DT_NEEDED entries of a shared object (`readelf -d`)."""
    try:
        out = subprocess.run(["readelf", "-d", "--wide", str(so)], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"readelf -d failed on {so.name} (binutils installed?): {exc}") from exc
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def cudart_problems(module: str, needed: list[str], flavor: flavors.Flavor) -> list[str]:
    """A module may link only the CUDA runtime of the flavor's major (torch's nvidia wheels bring it)."""
    wrong = [lib for lib in needed if lib.startswith("libcudart.so") and lib != f"libcudart.so.{flavor.cuda_major}"]
    return [f"{module} needs {', '.join(wrong)}, not libcudart.so.{flavor.cuda_major}"] if wrong else []


def local_manylinux_tag(plat: str) -> str:
    """For --plat auto: the wheel's own tag, if it is a manylinux tag for this machine's arch."""
    import platform as _platform

    for tag in plat.split("."):
        if re.fullmatch(rf"manylinux_\d+_\d+_{re.escape(_platform.machine())}", tag):
            return tag
    raise CheckFailed(f"platform tag {plat} is not manylinux_X_Y_{_platform.machine()}: was the wheel repaired?")


class Report:
    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.results.append({"check": name, "ok": ok, "detail": detail})
        log(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.results)


def _tool(report: Report, name: str, cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = " ".join((proc.stdout + proc.stderr).split())
    report.add(name, proc.returncode == 0, out[-400:] or "passed")


def verify(
    wheel: pathlib.Path,
    flavor_name: str,
    *,
    plat: str | None = None,
    arch_list: str | None = None,
    public_version: str | None = None,
    size_budget_mib: float = SIZE_BUDGET_MIB,
    tools: bool = True,
) -> Report:
    flavor = get_flavor(flavor_name)
    if not wheel.is_file():
        raise ConfigError(f"no such wheel: {wheel}")
    plat = plat or expected_plat()
    arch_list = arch_list or flavor.arch_list_str
    report = Report()

    # name
    parts = parse_wheel_name(wheel.name)
    ver = parts["version"]
    public, _, label = ver.partition("+")
    problems = []
    if parts["name"] != DIST:
        problems.append(f"dist {parts['name']!r} != {DIST!r}")
    if (parts["py"], parts["abi"]) != ("cp310", "abi3"):
        problems.append(f"tags {parts['py']}-{parts['abi']} != cp310-abi3")
    if plat not in parts["plat"].split("."):
        problems.append(f"platform {parts['plat']} != {plat}")
    if label != flavor.name:
        problems.append(f"local label {label!r} != {flavor.name!r}")
    try:
        ci_version.check_public(public)
    except ValueError as exc:
        problems.append(str(exc))
    if public_version and public != public_version:
        problems.append(f"version {public} != expected {public_version}")
    report.add("name", not problems, "; ".join(problems) or wheel.name)

    with tempfile.TemporaryDirectory(prefix="sage-verify-") as tmp:
        root = pathlib.Path(tmp)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(root)
        dist_info = next(root.glob("*.dist-info"), None)
        problems = []
        if dist_info is None:
            report.add("metadata", False, "no .dist-info directory")
        else:
            wheel_meta = email.parser.Parser().parsestr((dist_info / "WHEEL").read_text())
            tags = set(wheel_meta.get_all("Tag") or [])
            want = {f"{parts['py']}-{parts['abi']}-{p}" for p in parts["plat"].split(".")}
            if tags != want:
                problems.append(f"WHEEL tags {sorted(tags)} != file name's {sorted(want)}")
            if wheel_meta.get("Root-Is-Purelib", "").lower() != "false":
                problems.append("Root-Is-Purelib is not false")
            meta = email.parser.Parser().parsestr((dist_info / "METADATA").read_text())
            if meta.get("Version") != ver:
                problems.append(f"METADATA Version {meta.get('Version')} != {ver}")
            if (meta.get("Requires-Python") or "").replace(" ", "") != f">={flavors.PYTHON_FLOOR}":
                problems.append(f"Requires-Python {meta.get('Requires-Python')!r} != >={flavors.PYTHON_FLOOR}")
            reqs = [r.replace(" ", "") for r in meta.get_all("Requires-Dist") or []]
            if not any(r.startswith(f"torch>={flavors.TORCH_FLOOR}") for r in reqs):
                problems.append(f"Requires-Dist {reqs} lacks torch>={flavors.TORCH_FLOOR}")
            report.add("metadata", not problems, "; ".join(problems) or f"Version {ver}, tags {sorted(tags)}")

        # build-config
        cfg_path = root / DIST / "_build_config.py"
        cfg: dict[str, Any] = {}
        problems = []
        nvcc = flavor.cuda
        if not cfg_path.exists():
            problems.append("sageattention/_build_config.py missing")
        else:
            cfg = parse_build_config(cfg_path.read_text())
            if cfg.get("local_label") != flavor.name:
                problems.append(f"local_label {cfg.get('local_label')!r} != {flavor.name!r}")
            toolkit = flavor.toolkit_problem(cfg.get("cuda_version"))
            if toolkit:
                problems.append(toolkit)
            else:
                nvcc = str(cfg["cuda_version"])  # the archs and features follow the nvcc that built it
        plan = archs.make_plan(arch_list, nvcc)
        if cfg_path.exists():
            if cfg.get("version") != ver:
                problems.append(f"version {cfg.get('version')!r} != {ver!r}")
            want_archs = [a.sm for a in plan.archs]
            if cfg.get("archs") != want_archs:
                problems.append(f"archs {cfg.get('archs')} != {want_archs}")
        report.add("build-config", not problems, "; ".join(problems) or
                   f"{cfg.get('local_label')} CUDA {cfg.get('cuda_version')} archs {cfg.get('archs')}")

        # archs and symbols, per extension module
        sos = sorted((root / DIST).glob("*.so"))
        mod_family = {m: f for f, m in family_modules().items()}
        problems, seen = [], []
        sym_problems, runtime_problems, runtimes = [], [], set()
        if not sos:
            problems.append("no extension module in the wheel")
        cuobjdump = find_cuobjdump()
        for so in sos:
            module = so.name.split(".")[0]
            family = mod_family.get(module)
            if not so.name.endswith(".abi3.so"):
                problems.append(f"{so.name} is not an abi3 module")
            if family is None:
                problems.append(f"{so.name}: no kernel family maps to module {module}")
                continue
            fam_archs = plan.family_archs(family)
            want_sass = {a.sm for a in fam_archs}
            want_ptx = {f"sm_{a.major}{a.minor}" for a in fam_archs if a.ptx and family != "sm90"}
            sass, ptx = sass_and_ptx(cuobjdump, so)
            seen.append(f"{module}={','.join(sorted(sass))}")
            if sass != want_sass:
                problems.append(f"{so.name} SASS {sorted(sass)} != {family}'s {sorted(want_sass)}")
            if ptx != want_ptx:
                problems.append(f"{so.name} PTX {sorted(ptx)} != {sorted(want_ptx)}")
            bad = imported_cxx_symbols(so)
            if bad:
                sym_problems.append(f"{so.name} imports {len(bad)} libtorch C++ symbols, e.g. {bad[:3]}")
            needed = needed_libs(so)
            runtime_problems += cudart_problems(so.name, needed, flavor)
            runtimes.update(lib for lib in needed if lib.startswith("libcudart"))
        if cfg.get("modules") is not None and sorted(cfg["modules"]) != sorted(s.name.split(".")[0] for s in sos):
            problems.append(f"modules in wheel {[s.name for s in sos]} != build config {cfg['modules']}")
        report.add("archs", not problems, "; ".join(problems) or " ".join(seen))
        report.add("symbols", not sym_problems and bool(sos), "; ".join(sym_problems) or
                   "no c10::/at::/torch:: imports (stable C shim only)")
        report.add("runtime", not runtime_problems and bool(sos), "; ".join(runtime_problems) or
                   f"NEEDED {', '.join(sorted(runtimes)) or 'no libcudart'} (CUDA {flavor.cuda_major} runtime)")

    size = wheel.stat().st_size / 2**20
    report.add("size", size <= size_budget_mib, f"{size:.1f} MiB (budget {size_budget_mib:.0f} MiB)")

    if tools:
        _tool(report, "twine", [*python_tool("twine"), "check", "--strict", str(wheel)])
        _tool(report, "abi3audit", [*python_tool("abi3audit"), "--strict", "--summary", str(wheel)])
        _tool(report, "check-wheel-contents", [*python_tool("check-wheel-contents"), str(wheel)])
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci verify", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wheel", type=pathlib.Path)
    p.add_argument("--flavor", choices=sorted(flavors.FLAVORS),
                   help="flavor the wheel must be (default: the one its +label names)")
    p.add_argument("--plat", help=f"expected platform tag (default: {expected_plat()}; "
                   "'auto': any manylinux tag of this machine's arch, for local builds)")
    p.add_argument("--arch-list", help="arch list the wheel was built for (default: the flavor's)")
    p.add_argument("--version", dest="public_version", help="expected public version, e.g. 2.3.0")
    p.add_argument("--size-budget-mib", type=float, default=SIZE_BUDGET_MIB)
    p.add_argument("--no-tools", action="store_true", help="skip twine/abi3audit/check-wheel-contents")
    p.add_argument("--json", type=pathlib.Path, help="write the report here")
    args = p.parse_args(argv)
    parts = parse_wheel_name(args.wheel.name)
    flavor = args.flavor or parts["version"].partition("+")[2]
    if not flavor:
        raise ConfigError(f"{args.wheel.name} has no local label; pass --flavor")
    plat = args.plat
    if plat == "auto":
        plat = local_manylinux_tag(parts["plat"])
    report = verify(args.wheel, flavor, plat=plat, arch_list=args.arch_list,
                    public_version=args.public_version, size_budget_mib=args.size_budget_mib,
                    tools=not args.no_tools)
    if args.json:
        args.json.write_text(json.dumps({"wheel": args.wheel.name, "ok": report.ok,
                                         "results": report.results}, indent=2) + "\n")
    if not report.ok:
        failed = [r["check"] for r in report.results if not r["ok"]]
        raise CheckFailed(f"{args.wheel.name} failed: {', '.join(failed)}")
    print(f"{args.wheel.name}: all {len(report.results)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
