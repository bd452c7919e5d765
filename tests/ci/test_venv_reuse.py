"""ci.smoke.make_venv on a GPU host: the test venv must reuse the torch of the venv it is made from."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from ci._util import ROOT

_MAKE = "import pathlib, sys; from ci.smoke import make_venv; print(make_venv(pathlib.Path(sys.argv[1]), sys.argv[2] == '1'))"


def _venv_from(parent_python: pathlib.Path, dest: pathlib.Path, system_site: bool) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([str(parent_python), "-c", _MAKE, str(dest), "1" if system_site else "0"], env=env,
                         check=True, capture_output=True, text=True)
    return out.stdout.split()[-1]


def test_a_venv_made_inside_a_venv_sees_that_venvs_packages(tmp_path: pathlib.Path) -> None:
    parent = tmp_path / "parent"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(parent)], check=True)
    site_packages = next((parent / "lib").glob("python*/site-packages"))
    (site_packages / "only_in_parent_venv.py").write_text("WHERE = 'parent'\n")
    probe = ["-c", "import only_in_parent_venv as m; print(m.WHERE)"]

    shared = _venv_from(parent / "bin" / "python", tmp_path / "shared", system_site=True)
    seen = subprocess.run([shared, *probe], capture_output=True, text=True)
    assert seen.stdout.strip() == "parent", seen.stderr

    isolated = _venv_from(parent / "bin" / "python", tmp_path / "isolated", system_site=False)
    assert subprocess.run([isolated, *probe], capture_output=True, text=True).returncode != 0
