"""`python -m ci <command> [args]`: the release pipeline's commands (see docs/pipeline.md).

Each command is a module with `main(argv) -> int`; errors print one line and exit with the
code of their kind (ci.errors).
"""

from __future__ import annotations

import importlib
import sys

from ci.errors import PipelineError

COMMANDS = {
    "matrix": ("ci.matrix", "JSON build/test/GPU legs for fromJson()"),
    "version": ("ci.version_cli", "public version and local label"),
    "build": ("ci.build", "build one wheel for a flavor (pip wheel .)"),
    "repair": ("ci.repair", "auditwheel repair with the libtorch/CUDA excludes"),
    "verify": ("ci.verify", "check a wheel: tags, label, archs, symbols, size, twine/abi3audit"),
    "index": ("ci.index", "regenerate a static PEP 503 index for a flavor"),
    "publish": ("ci.publish", "publish wheels to a flavor's index (static and/or twine)"),
    "smoke": ("ci.smoke", "fresh venv, pip install from an index, import, check build_info()"),
    "serve": ("ci.serve", "serve a static index over HTTP on 127.0.0.1"),
    "toolkit": ("ci.toolkit", "assemble a CUDA_HOME (13.x: pip wheels; 12.4: Debian mirror + pip)"),
    "test-wheel": ("ci.testwheel", "pytest -m MARKER against a wheel installed in a fresh venv"),
    "main-job": ("ci.main_job", "local build -> repair -> verify -> publish -> install"),
    "docker-preflight": ("ci.docker_preflight", "dockerfile.builder's early checks of its build ARGs"),
    "docker-local": ("ci.docker_local", "build the bake targets with buildah here, verify the wheel"),
}


def usage() -> str:
    lines = ["usage: python -m ci <command> [--help]", "", "commands:"]
    lines += [f"  {name:<10} {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
