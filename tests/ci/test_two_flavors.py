"""Two flavors for real: a CUDA 12 wheel and a CUDA 13 wheel, each on its own index, and pip taking
each index's label.

- cu130: SAGEATTENTION_TEST_WHEEL (what .ci/run builds) or a fresh build with the local nvcc 13.0.
- cu126: built here with nvcc 12.4 (`python -m ci toolkit --cuda 12.4`: the compiler from the
  machine's Debian mirror, headers and cudart from pip; fixture `cuda124_home`), sm_90a only,
  same public version. SAGEATTENTION_TEST_WHEEL_CU126 reuses one built earlier.

Both are repaired, verified (sm_90a SASS; libcudart.so.12 vs .so.13), published to whl/cu126/ and
whl/cu130/, served on 127.0.0.1, downloaded and smoke-installed per index. torch here is CUDA 13,
so the cu126 wheel installs and imports but its kernels cannot load: build_info() must name
the missing libcudart.so.12 for every family instead of failing. Skips, with the reason, where the
Debian mirror or the package index cannot provide CUDA 12.4.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

from ci import build, publish, repair, smoke, verify
from ci.serve import serving

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cu126_wheel(built_wheel: pathlib.Path, cuda124_home: pathlib.Path,
                tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    given = os.environ.get("SAGEATTENTION_TEST_WHEEL_CU126")
    if given:
        return pathlib.Path(given)
    public = build.parse_wheel_name(built_wheel.name)["version"].partition("+")[0]
    return build.build("cu126", tmp_path_factory.mktemp("dist-cu126"), copy_source=True, arch_list="9.0",
                       public_version=public, cuda_home=cuda124_home)


def pip_download(index: str, dest: pathlib.Path, *extra: str) -> list[str]:
    """Versions of the sageattention files pip downloads from `index` (config ignored: --isolated)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--isolated", "--no-cache-dir",
                    "--disable-pip-version-check", "--dest", str(dest), "--index-url", index, *extra,
                    "sageattention"], check=True, capture_output=True)
    return [build.parse_wheel_name(p.name)["version"] for p in dest.glob("*.whl")]


def build_config(wheel: pathlib.Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as zf:
        return verify.parse_build_config(zf.read("sageattention/_build_config.py").decode())


def test_cu126_and_cu130_each_from_its_own_index(built_wheel: pathlib.Path, built_arch_list: str,
                                                  cu126_wheel: pathlib.Path, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "whl"
    versions, reports = {}, {}
    for flavor, wheel, arch_list in (("cu130", built_wheel, built_arch_list), ("cu126", cu126_wheel, "9.0")):
        fixed = repair.repair(wheel, tmp_path / f"wh-{flavor}", "auto")
        report = verify.verify(fixed, flavor, plat=build.parse_wheel_name(fixed.name)["plat"], arch_list=arch_list)
        assert report.ok, [r for r in report.results if not r["ok"]]
        reports[flavor] = {r["check"]: r["detail"] for r in report.results}
        publish.publish_static([fixed], flavor, root)
        versions[flavor] = build.parse_wheel_name(fixed.name)["version"]

    # the cu126 wheel: built by nvcc 12.4, labelled cu126, sm_90a in every module, CUDA 12 runtime
    assert versions["cu126"].endswith("+cu126") and versions["cu130"].endswith("+cu130")
    assert versions["cu126"].partition("+")[0] == versions["cu130"].partition("+")[0]
    cfg = build_config(cu126_wheel)
    assert (cfg["cuda_version"], cfg["local_label"], cfg["archs"]) == ("12.4", "cu126", ["sm_90a"])
    assert "_C_sm90=sm_90a" in reports["cu126"]["archs"]
    assert reports["cu126"]["runtime"].startswith("NEEDED libcudart.so.12 ")
    assert reports["cu130"]["runtime"].startswith("NEEDED libcudart.so.13 ")

    with serving(root) as server:
        # each index gives its own label; both merged give the highest label, hence one index per flavor
        for flavor in ("cu126", "cu130"):
            assert pip_download(f"{server.url}/{flavor}/", tmp_path / f"dl-{flavor}") == [versions[flavor]]
        both = pip_download(f"{server.url}/cu126/", tmp_path / "dl-both", "--extra-index-url", f"{server.url}/cu130/")
        assert both == [versions["cu130"]]

        new = smoke.smoke(f"{server.url}/cu130/", "cu130")
        assert new["dist_version"] == versions["cu130"]
        assert new["build_info"]["cuda_version"] == "13.0"
        assert set(new["build_info"]["kernels"].values()) == {"loaded"}

        old = smoke.smoke(f"{server.url}/cu126/", "cu126")
        info = old["build_info"]
        assert old["dist_version"] == versions["cu126"]
        assert (info["local_label"], info["cuda_version"]) == ("cu126", "12.4")
        assert info["torch_cuda"].startswith("13.")
        # next to a CUDA 13 torch the cu126 kernels cannot load: each family says why, and what to install
        for family, status in info["kernels"].items():
            assert "libcudart.so.12" in status and "/whl/cu130/" in status, (family, status)
