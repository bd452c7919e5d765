"""`python -m ci version`: tags, GitHub's ref variables, git describe, labels."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ci.errors import ConfigError
from ci.version_cli import describe, resolve_public

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("tag", "want"),
                         [("v2.3.0", "2.3.0"), ("v2.3.0rc1", "2.3.0rc1"), ("v3.0.0.post1", "3.0.0.post1")])
def test_tags(tag: str, want: str) -> None:
    assert resolve_public(tag, env={}) == want


@pytest.mark.parametrize("tag", ["2.3.0", "v2.3", "v2.3.0-beta", "v2.3.0+cu128", "vfoo"])
def test_bad_tags_are_config_errors(tag: str) -> None:
    if tag == "v2.3":  # two components are valid PEP 440
        assert resolve_public(tag, env={}) == "2.3"
        return
    with pytest.raises(ConfigError):
        resolve_public(tag, env={})


def test_github_tag_push_wins_over_git_and_branch_push_does_not() -> None:
    assert resolve_public(env={"GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v9.1.0"}) == "9.1.0"
    # a branch named like a tag is not a release
    branch = resolve_public(env={"GITHUB_REF_TYPE": "branch", "GITHUB_REF_NAME": "v9.1.0"})
    assert branch != "9.1.0" and branch.startswith(open(ROOT / "VERSION").read().strip())
    assert resolve_public(env={"SAGEATTENTION_VERSION": "2.3.0.dev5"}) == "2.3.0.dev5"
    with pytest.raises(ConfigError):
        resolve_public(env={"SAGEATTENTION_VERSION": "latest"})


def test_labels() -> None:
    assert describe("2.3.0", "cu128") == {"version": "2.3.0", "label": "cu128", "full": "2.3.0+cu128"}
    assert describe("2.3.0", "cu128", no_label=True)["full"] == "2.3.0"
    with pytest.raises(ConfigError, match="unknown flavor"):
        describe("2.3.0", "cu118")


def test_cli_json() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SAGEATTENTION_"))}
    out = subprocess.run([sys.executable, "-m", "ci", "version", "--tag", "v2.3.0", "--flavor", "cu130", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {"version": "2.3.0", "label": "cu130", "full": "2.3.0+cu130"}
    proc = subprocess.run([sys.executable, "-m", "ci", "nonsense"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown command" in proc.stderr
