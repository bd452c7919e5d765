"""ci.publish: idempotent, refuses changed bytes, and leaves the index alone when anything fails."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from ci import index, publish
from ci.errors import CheckFailed, ConfigError, PublishConflict

ROOT = pathlib.Path(__file__).resolve().parents[2]


def snapshot(root: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_static_publish_is_idempotent(tmp_path: pathlib.Path, wheel_factory) -> None:
    w = wheel_factory("2.3.0+cu130")
    assert publish.publish_static([w], "cu130", tmp_path) == [w.name]
    before = snapshot(tmp_path)
    assert publish.publish_static([w], "cu130", tmp_path) == []
    assert snapshot(tmp_path) == before
    assert index.check(tmp_path / "cu130") == []
    # a second version joins the first; the page is regenerated from both
    w2 = wheel_factory("2.3.1+cu130")
    assert publish.publish_static([w, w2], "cu130", tmp_path) == [w2.name]
    assert set(index.parse_project_page((tmp_path / "cu130/sageattention/index.html").read_text())) == {w.name, w2.name}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_same_name_different_bytes_is_refused_and_nothing_changes(tmp_path: pathlib.Path, wheel_factory) -> None:
    w = wheel_factory("2.3.0+cu130")
    publish.publish_static([w], "cu130", tmp_path)
    before = snapshot(tmp_path)
    changed = wheel_factory("2.3.0+cu130", payload=b"rebuilt")
    assert changed.name == w.name and changed.read_bytes() != w.read_bytes()
    new = wheel_factory("2.4.0+cu130")
    with pytest.raises(PublishConflict, match="different bytes"):
        publish.publish_static([new, changed], "cu130", tmp_path)
    assert snapshot(tmp_path) == before


def test_partial_failure_leaves_the_index_as_it_was(tmp_path: pathlib.Path, wheel_factory) -> None:
    publish.publish_static([wheel_factory("2.3.0+cu130")], "cu130", tmp_path)
    before = snapshot(tmp_path)
    good = wheel_factory("2.3.1+cu130")
    broken = wheel_factory("2.3.2+cu130")
    broken.write_bytes(b"not a zip file")
    with pytest.raises(CheckFailed, match="not a valid wheel"):
        publish.publish_static([good, broken], "cu130", tmp_path)
    assert snapshot(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_wrong_label_is_refused(tmp_path: pathlib.Path, wheel_factory) -> None:
    with pytest.raises(ConfigError, match="does not belong on the cu130 index"):
        publish.publish_static([wheel_factory("2.3.0+cu128")], "cu130", tmp_path)
    with pytest.raises(ConfigError):
        publish.publish_static([wheel_factory("2.3.0")], "cu130", tmp_path)
    assert not (tmp_path / "cu130").exists()


def test_cli_exit_codes(tmp_path: pathlib.Path, wheel_factory) -> None:
    w = wheel_factory("2.3.0+cu130")
    cmd = [sys.executable, "-m", "ci", "publish", "--flavor", "cu130", "--index-root", str(tmp_path)]
    assert subprocess.run([*cmd, str(w)], cwd=ROOT, capture_output=True).returncode == 0
    again = subprocess.run([*cmd, str(w)], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and "0 new file(s)" in again.stdout
    changed = wheel_factory("2.3.0+cu130", payload=b"other")
    bad = subprocess.run([*cmd, str(changed)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 5 and "different bytes" in bad.stderr


def test_twine_upload_to_a_real_repository(pypiserver: str, wheel_factory) -> None:
    w = wheel_factory("2.3.0+cu130")
    env_before = dict(os.environ)
    os.environ.setdefault("TWINE_USERNAME", "ci")
    os.environ.setdefault("TWINE_PASSWORD", "unused")
    try:
        assert publish.publish_twine([w], "cu130", pypiserver) == [w.name]
        assert publish.fetch_existing(pypiserver + "simple/", "sageattention")[w.name]
        assert publish.publish_twine([w], "cu130", pypiserver) == []  # identical: skipped
        changed = wheel_factory("2.3.0+cu130", payload=b"other bytes")
        with pytest.raises(PublishConflict):
            publish.publish_twine([changed], "cu130", pypiserver)
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def test_repository_url_per_flavor_from_env() -> None:
    env = {"SAGEATTENTION_REPOSITORY_URL_CU128": "http://127.0.0.1:9/cu128/"}
    assert publish.repository_url_for("cu128", env) == "http://127.0.0.1:9/cu128/"
    assert publish.repository_url_for("cu130", env) is None


def test_release_merges_into_the_live_site(tmp_path: pathlib.Path, wheel_factory) -> None:
    """Pages replaces the whole site: mirror what is live, add the new wheel, regenerate from all."""
    from ci.serve import serving

    live = tmp_path / "live"
    old = wheel_factory("2.3.0+cu130")
    publish.publish_static([old], "cu130", live)
    fresh_root = tmp_path / "site"
    with serving(live) as server:
        assert publish.mirror(server.url, "cu130", fresh_root) == 1
        assert publish.mirror(server.url, "cu128", fresh_root) == 0  # nothing published yet
        new = wheel_factory("2.4.0+cu130")
        changed = wheel_factory("2.3.0+cu130", payload=b"rebuilt")
        with pytest.raises(PublishConflict):
            publish.publish_static([changed], "cu130", fresh_root)
        assert publish.publish_static([old, new], "cu130", fresh_root) == [new.name]
    page = (fresh_root / "cu130" / "sageattention" / "index.html").read_text()
    assert set(index.parse_project_page(page)) == {old.name, new.name}
    assert (fresh_root / "cu130" / "sageattention" / old.name).read_bytes() == old.read_bytes()
    assert index.check(fresh_root / "cu130") == []
