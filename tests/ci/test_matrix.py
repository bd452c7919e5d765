"""ci.matrix: the legs GitHub Actions runs, compared to golden JSON and checked for invariants."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ci import flavors, matrix
from ci.errors import ConfigError

GOLDEN = pathlib.Path(__file__).parent / "golden"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _golden(name: str, data: object) -> None:
    path = GOLDEN / name
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if os.environ.get("CI_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with CI_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), "matrix changed; review the diff and rerun with CI_UPDATE_GOLDEN=1"


def test_release_matrix_for_a_tag_matches_golden() -> None:
    _golden("matrix-release-v2.3.0.json", matrix.matrix("2.3.0", "release"))


def test_pr_matrix_matches_golden() -> None:
    _golden("matrix-pr.json", matrix.matrix("2.3.0.dev7", "pr"))


def test_release_covers_every_flavor_and_platform_once() -> None:
    m = matrix.matrix("2.3.0")
    legs = m["build"]["include"]
    pairs = {(leg["flavor"], leg["platform"]) for leg in legs}
    assert pairs == {(f, p) for f in flavors.FLAVORS for p in flavors.PLATFORMS}
    assert len(pairs) == len(legs) == 8
    # upload-artifact v4 refuses two uploads of one name in a run
    assert len({leg["artifact"] for leg in legs}) == len(legs)
    for leg in legs:
        assert leg["full_version"] == f"2.3.0+{leg['flavor']}"
        assert leg["plat_tag"].startswith("manylinux_2_28_")
        assert leg["image"].startswith("pytorch/manylinux")
        assert leg["arch_list"] == flavors.FLAVORS[leg["flavor"]].arch_list_str


def test_test_legs_are_every_python_on_every_platform_with_one_wheel() -> None:
    m = matrix.matrix("2.3.0")
    legs = m["test"]["include"]
    assert {(leg["python"], leg["platform"]) for leg in legs} == {
        (py, p) for py in flavors.PYTHON_VERSIONS for p in flavors.PLATFORMS
    }
    built = {leg["artifact"] for leg in m["build"]["include"]}
    assert {leg["artifact"] for leg in legs} <= built
    assert len({leg["flavor"] for leg in legs}) == 1  # one abi3 wheel serves every CPython


def test_gpu_legs_use_self_hosted_labels_for_archs_the_flavor_builds() -> None:
    legs = matrix.matrix("2.3.0")["gpu"]["include"]
    assert [leg["flavor"] for leg in legs] == list(flavors.FLAVORS)
    for leg in legs:
        assert leg["labels"] == ["self-hosted", "linux", "x64", "gpu", "sm90"]
    # a runner whose arch a flavor does not build gets no leg
    only_sm120 = matrix.gpu_legs(list(flavors.FLAVORS), list(flavors.PLATFORMS), (("linux/amd64", "12.0"),))
    assert [leg["flavor"] for leg in only_sm120] == ["cu128", "cu129", "cu130"]
    arm = matrix.gpu_legs(["cu130"], ["linux/arm64"], (("linux/arm64", "9.0"),))
    assert arm[0]["labels"] == ["self-hosted", "linux", "arm64", "gpu", "sm90"]


def test_pull_requests_never_get_gpu_legs_and_build_one_leg() -> None:
    m = matrix.matrix("2.3.0.dev1", "pr")
    assert m["gpu"]["include"] == []
    assert len(m["build"]["include"]) == 1
    assert m["build"]["include"][0]["arch_list"] == matrix.PR_ARCH_LIST


def test_subsets_and_bad_names() -> None:
    m = matrix.matrix("2.3.0", flavor_names=["cu128"], platforms=["linux/arm64"])
    assert [leg["name"] for leg in m["build"]["include"]] == ["cu128-aarch64"]
    with pytest.raises(ConfigError, match="unknown flavor"):
        matrix.matrix("2.3.0", flavor_names=["cu999"])
    with pytest.raises(ConfigError, match="unknown platform"):
        matrix.matrix("2.3.0", platforms=["windows/amd64"])


def test_cli_writes_github_outputs_for_a_tag_push(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "GITHUB_OUTPUT": str(out), "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v2.4.0rc1"}
    env.pop("SAGEATTENTION_VERSION", None)
    proc = subprocess.run([sys.executable, "-m", "ci", "matrix", "--github-output"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["version"] == "2.4.0rc1"
    lines = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert lines["version"] == "2.4.0rc1"
    build = json.loads(lines["build"])
    assert build["include"][0]["full_version"] == "2.4.0rc1+cu126"
    assert "\n" not in lines["gpu"]


def test_cli_rejects_a_non_pep440_tag() -> None:
    proc = subprocess.run([sys.executable, "-m", "ci", "matrix", "--tag", "v2.3-final"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "PEP 440" in proc.stderr
