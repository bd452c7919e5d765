"""End to end: `python -m ci docker-local` builds the bake targets with buildah and verifies the wheel.

Minutes long (a torch install and an nvcc build inside buildah), so it runs only when asked:
SAGEATTENTION_DOCKER_LOCAL=1 (needs root and ci.docker_local.APT_PACKAGES: see docs/docker.md).
SAGEATTENTION_DOCKER_LOCAL_ARCHS picks the arch list (default 9.0, one arch, to keep it short).
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from ci import archs as archs_mod
from ci.docker_local import INSTALL_HINT

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SAGEATTENTION_DOCKER_LOCAL") != "1",
                       reason="builds images for minutes; set SAGEATTENTION_DOCKER_LOCAL=1 to run"),
]


def test_docker_local_builds_verifies_and_tests_the_wheel(tmp_path: pathlib.Path) -> None:
    for tool in ("buildah", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"SAGEATTENTION_DOCKER_LOCAL=1 but {tool} is missing: {INSTALL_HINT}")
    work = pathlib.Path(os.environ.get("SAGEATTENTION_DOCKER_LOCAL_WORK", "/var/tmp/sageattention-docker-local"))
    out = tmp_path / "dist"
    archs = os.environ.get("SAGEATTENTION_DOCKER_LOCAL_ARCHS", "9.0")
    proc = subprocess.run([sys.executable, "-m", "ci", "docker-local", "--work", str(work), "--out", str(out),
                           "--arch-list", archs], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-6000:]
    report = json.loads(proc.stdout)
    (wheel,) = out.glob("*.whl")
    assert [p.name for p in out.iterdir()] == [wheel.name]  # the wheel target exports nothing else
    assert report["wheel"] == wheel.name and f"+{report['flavor']}-cp310-abi3-" in wheel.name
    with zipfile.ZipFile(wheel) as zf:
        tree = ast.parse(zf.read("sageattention/_build_config.py").decode())
    (assign,) = [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "BUILD_CONFIG"]
    config = ast.literal_eval(assign.value)
    assert config["local_label"] == report["flavor"]
    assert config["archs"] == [a.sm for a in archs_mod.parse_arch_list(archs)]
    verify = json.loads((work / "verify.json").read_text())
    assert verify["ok"] is True and verify["wheel"] == wheel.name
    assert {"bud_wheel_s", "bud_full_s", "verify_s", "total_s"} <= set(report["timings_s"])
    assert {"dev", "latest"} <= set(report["image_bytes"])
