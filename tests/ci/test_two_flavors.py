"""Two flavors for real: two toolkits, two wheels, two indexes, and pip taking each index's label.

Opt-in (it compiles the extension with a second toolkit): SAGEATTENTION_TWO_FLAVOR_PROOF=1.
The cu130 wheel is SAGEATTENTION_TEST_WHEEL or a fresh build with the local nvcc 13.0. The second
toolkit is CUDA 13.2 assembled from NVIDIA's pip wheels (`python -m ci toolkit`), because no CUDA
12 nvcc is on PyPI (docs/pipeline.md). Its flavor, cu132, is registered for this test only.
SAGEATTENTION_TEST_WHEEL_CU132 reuses a cu132 wheel built earlier.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from ci import build, flavors, publish, repair, smoke, toolkit, verify
from ci.serve import serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SAGEATTENTION_TWO_FLAVOR_PROOF") != "1",
                       reason="opt-in: set SAGEATTENTION_TWO_FLAVOR_PROOF=1 (builds the extension twice)"),
]


def test_two_flavors_two_indexes(built_wheel: pathlib.Path, built_arch_list: str, tmp_path: pathlib.Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cu130 = flavors.FLAVORS["cu130"]
    monkeypatch.setitem(flavors.FLAVORS, "cu132",
                        flavors.Flavor("cu132", "13.2", "13.2.1", cu130.arch_list, cu130.torch_index))
    given = os.environ.get("SAGEATTENTION_TEST_WHEEL_CU132")
    if given:
        wheel132 = pathlib.Path(given)
    else:
        home = toolkit.assemble("13.2", tmp_path / "toolkit")
        public = build.parse_wheel_name(built_wheel.name)["version"].partition("+")[0]
        wheel132 = build.build("cu132", tmp_path / "dist", copy_source=True, arch_list="9.0",
                               public_version=public, cuda_home=home)
    root = tmp_path / "whl"
    versions = {}
    for flavor, wheel, arch_list in (("cu130", built_wheel, built_arch_list), ("cu132", wheel132, "9.0")):
        fixed = repair.repair(wheel, tmp_path / f"wh-{flavor}", "auto")
        report = verify.verify(fixed, flavor, plat=build.parse_wheel_name(fixed.name)["plat"], arch_list=arch_list)
        assert report.ok, [r for r in report.results if not r["ok"]]
        publish.publish_static([fixed], flavor, root)
        versions[flavor] = build.parse_wheel_name(fixed.name)["version"]
    assert versions["cu130"].endswith("+cu130") and versions["cu132"].endswith("+cu132")
    with serving(root) as server:
        for flavor in ("cu130", "cu132"):
            result = smoke.smoke(f"{server.url}/{flavor}/", flavor)
            assert result["dist_version"] == versions[flavor]
            assert result["build_info"]["local_label"] == flavor
            assert result["build_info"]["cuda_version"] == flavors.FLAVORS[flavor].cuda
            dest = tmp_path / f"dl-{flavor}"
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--isolated", "--no-cache-dir",
                            "--dest", str(dest), "--index-url", f"{server.url}/{flavor}/", "sageattention"],
                           check=True, capture_output=True)
            assert [p.name.split("-")[1] for p in dest.iterdir()] == [versions[flavor]]
