"""Publish -> serve over HTTP on 127.0.0.1 -> pip install --index-url -> import: as a user would."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from ci import publish
from ci.serve import serving

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pip_download(index_url: str, dest: pathlib.Path, *extra: str) -> list[str]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--isolated",
                    "--disable-pip-version-check", "--dest", str(dest), "--index-url", index_url, *extra,
                    "sageattention"], check=True, capture_output=True, text=True)
    return sorted(p.name for p in dest.iterdir())


def test_each_flavor_index_resolves_its_own_label(tmp_path: pathlib.Path, wheel_factory) -> None:
    """One index per flavor: pip picks the label of the index it is pointed at; merged, the highest wins."""
    root = tmp_path / "whl"
    for flavor in ("cu128", "cu130"):
        publish.publish_static([wheel_factory(f"2.3.0+{flavor}")], flavor, root)
    with serving(root) as server:
        got128 = pip_download(f"{server.url}/cu128/", tmp_path / "d128")
        got130 = pip_download(f"{server.url}/cu130/", tmp_path / "d130")
        pinned = pip_download(f"{server.url}/cu128/", tmp_path / "pin", "--extra-index-url", f"{server.url}/cu130/")
    assert got128 == ["sageattention-2.3.0+cu128-cp310-abi3-manylinux_2_28_x86_64.whl"]
    assert got130 == ["sageattention-2.3.0+cu130-cp310-abi3-manylinux_2_28_x86_64.whl"]
    # why extra-index-url is wrong for flavors: +cu130 sorts above +cu128 and pip takes it
    assert pinned == got130


@pytest.mark.slow
def test_main_job_installs_the_built_wheel_from_its_own_index(built_wheel: pathlib.Path, built_arch_list: str,
                                                              tmp_path: pathlib.Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ci", "main-job", "--wheel", str(built_wheel), "--arch-list", built_arch_list,
         "--index-root", str(tmp_path / "whl"), "--wheelhouse", str(tmp_path / "wh"), "--port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    m = re.search(r"^  pip install sageattention --index-url (http://127\.0\.0\.1:\d+/cu130/)$", proc.stdout, re.M)
    assert m, proc.stdout
    assert "smoke ok: 2." in proc.stderr and "+cu130 from http://127.0.0.1:" in proc.stderr
    assert "main job passed" in proc.stdout
    page = (tmp_path / "whl" / "cu130" / "sageattention" / "index.html").read_text()
    assert "%2Bcu130" in page


@pytest.mark.slow
def test_test_wheel_runs_pytest_against_the_installed_wheel(built_wheel: pathlib.Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ci", "test-wheel", str(built_wheel), "--system-site-packages", "-m", "not gpu",
         "--tests", str(ROOT / "tests" / "ci" / "wheel_probe.py"), "--", "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 passed" in proc.stdout
