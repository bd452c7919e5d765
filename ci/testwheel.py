"""`python -m ci test-wheel`: run the test suite against an installed wheel, as the CPU and GPU legs do.

    python -m ci test-wheel wheelhouse/sageattention-*.whl -m gpu --torch-index <flavor's torch index>
    python -m ci test-wheel W -m gpu --system-site-packages      # reuse the installed torch

1. a fresh venv (optionally seeing the system site-packages, so an installed torch is reused);
2. `pip install [torch from --torch-index] pytest numpy <wheel>`;
3. `pytest <tests> -m <marker>` on a copy of tests/, ci/, pyproject.toml, VERSION and setup.py in a
   temporary directory, so `import sageattention` is the wheel, never the checkout (some tests read
   the flavor table from `ci` and import helpers from `tests.conftest`). The run fails if the
   imported package is not the venv's.
The GPU legs of release.yml run exactly this; so can a GPU host with a wheel carried to it.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile

from ci._util import ROOT, log, run
from ci.errors import CheckFailed, ConfigError
from ci.smoke import make_venv

_WHERE = "import sageattention, sys; print(sageattention.__file__); print(sys.prefix)"


def test_wheel(wheel: pathlib.Path, marker: str, tests: pathlib.Path, *, torch_index: str | None = None,
               system_site_packages: bool = False, pytest_args: list[str] | None = None) -> int:
    if not wheel.is_file():
        raise ConfigError(f"no such wheel: {wheel}")
    if not tests.exists():
        raise ConfigError(f"no such test path: {tests}")
    with tempfile.TemporaryDirectory(prefix="sage-testwheel-") as tmp:
        work = pathlib.Path(tmp)
        py = make_venv(work / "venv", system_site_packages)
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
        if torch_index:
            run([*pip, "torch", "--index-url", torch_index], what="pip install torch")
        run([*pip, "pytest", "numpy", str(wheel.resolve())], what="pip install the wheel")
        # A copy of the tests, the pure-Python `ci` package and pyproject.toml (markers, and its
        # pythonpath=["."], which then points at the copy): no sageattention/ next to them.
        suite = work / "suite"
        for name in ("ci", "tests"):
            shutil.copytree(ROOT / name, suite / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        for name in ("pyproject.toml", "VERSION", "setup.py"):  # read by ci.version / ci.verify
            shutil.copy2(ROOT / name, suite / name)
        target = suite / tests.resolve().relative_to(ROOT)
        env = {**_clean_env(), "PYTHONPATH": str(suite)}
        where = subprocess.run([str(py), "-c", _WHERE], cwd=suite, env=env, capture_output=True, text=True)
        if where.returncode != 0:
            raise CheckFailed(f"the installed wheel does not import:\n{where.stdout}{where.stderr}")
        module_file, prefix = where.stdout.split()[:2]
        if not pathlib.Path(module_file).resolve().is_relative_to(pathlib.Path(prefix).resolve()):
            raise CheckFailed(f"sageattention was imported from {module_file}, not from the venv {prefix}")
        log(f"testing {wheel.name} installed at {module_file}")
        cmd = [str(py), "-m", "pytest", str(target), "-m", marker, "-p", "no:cacheprovider", *(pytest_args or [])]
        log("$ " + " ".join(cmd))
        return subprocess.run(cmd, cwd=suite, env=env).returncode


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci test-wheel", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wheel", type=pathlib.Path)
    p.add_argument("-m", dest="marker", default="gpu", help="pytest marker expression (default: gpu)")
    p.add_argument("--tests", type=pathlib.Path, default=ROOT / "tests", help="default: tests/")
    p.add_argument("--torch-index", help="install torch from this index first (the flavor's torch index)")
    p.add_argument("--system-site-packages", action="store_true", help="reuse the installed torch")
    p.epilog = "Arguments after -- go to pytest."
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    return test_wheel(args.wheel, args.marker, args.tests, torch_index=args.torch_index,
                      system_site_packages=args.system_site_packages, pytest_args=extra)


if __name__ == "__main__":
    sys.exit(main())
