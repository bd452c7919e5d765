"""Every SAGEATTENTION_* environment variable that the package, its kernels, the build or the pipeline reads is named
in the README or docs/: a knob nobody can find is a silently ignored argument of its own kind."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the checkout: the test image holds tests/cpu, not csrc/ or docs/
# Where knobs are read: the extension's C++/CUDA, the Python package, the build entry point, the pipeline.
SOURCES = ("csrc", "sageattention", "setup.py", "ci")
SUFFIXES = {".py", ".cu", ".cuh", ".h", ".cpp", ".sh"}
KNOB = re.compile(r"\bSAGEATTENTION_[A-Z0-9_]+")


def knobs_read() -> dict[str, list[str]]:
    """Each knob named in the sources -> the files that name it."""
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        path = ROOT / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES)
        for f in files:
            for name in set(KNOB.findall(f.read_text(encoding="utf-8", errors="replace"))):
                found.setdefault(name, []).append(str(f.relative_to(ROOT)))
    return found


def documentation() -> str:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in docs)


def test_the_sources_read_knobs_at_all() -> None:
    # The scan itself must see the knobs it is about (a moved tree would make the next test pass vacuously).
    found = knobs_read()
    assert {"SAGEATTENTION_FAMILIES", "SAGEATTENTION_SM90_PDL", "SAGEATTENTION_MMA_PAIRED_QUANT"} <= set(found), found


def test_every_knob_is_documented() -> None:
    text = documentation()
    missing = {name: files for name, files in knobs_read().items() if name not in text}
    assert not missing, f"document these environment variables in README.md or docs/: {missing}"
