"""Versions and local labels (ci/version.py, ci/flavors.py)."""

from __future__ import annotations

import pytest

from ci import flavors, version


@pytest.mark.parametrize(("cuda", "label"), [("13.0", "cu130"), ("12.8", "cu128"), ("12.8.1", "cu128"), ("12.6.3", "cu126"), ("13.0.88", "cu130")])
def test_label_from_nvcc(cuda: str, label: str) -> None:
    assert version.local_label(cuda) == label


def test_override_wins_and_empty_means_no_label() -> None:
    assert version.local_label("13.0", "") == ""
    assert version.local_label("13.0", "+cu999") == "cu999"
    assert version.full_version("2.3.0", "") == "2.3.0"
    assert version.full_version("2.3.0", "cu128") == "2.3.0+cu128"


@pytest.mark.parametrize("bad", ["CU128", "cu 128", "cu128!", "-x"])
def test_bad_override_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        version.local_label("13.0", bad)


def test_tags_and_describe() -> None:
    assert version.from_tag("v2.3.0") == "2.3.0"
    assert version.from_tag("v2.3.0rc1") == "2.3.0rc1"
    with pytest.raises(ValueError):
        version.from_tag("2.3.0")
    with pytest.raises(ValueError):
        version.from_tag("v2.3-beta")
    assert version.from_describe("v2.2.0-0-gabc1234", "2.3.0") == "2.2.0"
    assert version.from_describe("v2.2.0-7-gabc1234", "2.3.0") == "2.3.0.dev7"
    assert version.from_describe("garbage", "2.3.0") == "2.3.0.dev0"


def test_base_version_continues_upstream_series() -> None:
    # diffusers enables its sage backends only for sageattention >= 2.1.1.
    major, minor, patch = (int(x) for x in version.base_version().split(".")[:3])
    assert (major, minor, patch) >= (2, 1, 1)


def test_flavor_lookup() -> None:
    assert flavors.flavor_for_cuda("12.9.1").name == "cu129"
    with pytest.raises(ValueError, match="supported flavors"):
        flavors.flavor_for_cuda("11.8")
    for f in flavors.FLAVORS.values():
        assert f.name == version.local_label(f.cuda)
        assert not any(a.startswith("7.") for a in f.arch_list)
