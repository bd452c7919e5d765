"""Small helpers shared by the commands: running tools, hashing, finding executables."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence

from ci.errors import ToolError

ROOT = pathlib.Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(f"[ci] {msg}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    capture: bool = False,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a tool; on failure raise ToolError with the command line and its output tail.

    Uncaptured output goes to stderr: a command's stdout carries only its result (a wheel path).
    """
    argv = [str(c) for c in cmd]
    log("$ " + shlex.join(argv))
    try:
        if capture:
            proc = subprocess.run(argv, env=dict(env) if env is not None else None, cwd=cwd,
                                  capture_output=True, text=True)
        else:
            sys.stderr.flush()
            proc = subprocess.run(argv, env=dict(env) if env is not None else None, cwd=cwd,
                                  stdout=2, text=True)  # fd 2, also under pytest capture
    except FileNotFoundError as exc:
        raise ToolError(f"{what or argv[0]}: command not found ({exc.filename}); install it first") from exc
    if proc.returncode != 0:
        tail = ""
        if capture:
            tail = "\n" + "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-40:])
        raise ToolError(f"{what or argv[0]} failed with exit code {proc.returncode}: {shlex.join(argv)}{tail}")
    return proc


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def python_tool(name: str) -> list[str]:
    """A console script installed with this Python, else one on PATH."""
    scripts = pathlib.Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / name, pathlib.Path(sys.executable).parent / name):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which(name)
    if found:
        return [found]
    raise ToolError(f"{name} is not installed; run: {sys.executable} -m pip install {name}")
