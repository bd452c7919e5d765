"""`python -m ci matrix`: the job legs of a release (or a pull request) as JSON for `fromJSON()`.

Three matrices, each `{"include": [leg, ...]}` so a workflow writes `matrix: ${{ fromJSON(...) }}`:
- build: flavor x platform. The wheel is abi3 (cp310), so Python is not an axis here, and the
  stable ABI (TORCH_TARGET_VERSION = the torch floor) means torch is not an axis either.
- test:  every supported CPython x platform, all installing the same abi3 wheel (CPU checks).
- gpu:   flavor x self-hosted GPU runner whose arch the flavor compiles for.

Every field a job needs is in its leg (image, runner, arch list, artifact name, install index), so
the YAML never recomputes anything. Golden files in tests/ci/golden/ show each change as a JSON
diff; regenerate them with `CI_UPDATE_GOLDEN=1 python -m pytest tests/ci/test_matrix.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ci import flavors
from ci.errors import ConfigError
from ci.version_cli import describe, resolve_public

# GitHub-hosted runners per platform (arm64: native runners, no emulation).
HOSTED_RUNNERS = {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04-arm"}
# Runner labels use GitHub's own arch names.
RUNNER_ARCH = {"linux/amd64": "x64", "linux/arm64": "arm64"}
WHEEL_ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}

# Self-hosted GPU runners the project has registered: (platform, compute capability). Add a row
# when a runner with the matching labels joins; a leg for a runner that does not exist would wait
# in the queue forever. Today: one H100 host (sm_90).
GPU_RUNNERS: tuple[tuple[str, str], ...] = (("linux/amd64", "9.0"),)

# Hosted runners have 4 vCPU and 16 GiB: 2 ninja jobs x 2 nvcc threads keeps 4 compilers busy
# with ~4 GiB each, which the template-heavy attention kernels need.
HOSTED_MAX_JOBS = 2
HOSTED_NVCC_THREADS = 2

# Pull requests build one flavor for one arch: enough to prove the recipe, cheap on 4 vCPU.
PR_FLAVOR = "cu130"
PR_ARCH_LIST = "9.0"
PR_PYTHONS = (flavors.PYTHON_VERSIONS[0], flavors.PYTHON_VERSIONS[-1])


def sm_label(dotted: str) -> str:
    major, minor = dotted.split(".")
    return f"sm{major}{minor}"


def artifact_name(flavor: str, platform: str) -> str:
    """Unique per run (upload-artifact v4 refuses duplicates): one wheel per flavor x arch."""
    return f"wheel-{flavor}-{WHEEL_ARCH[platform]}"


def build_legs(version: str, flavor_names: list[str], platforms: list[str],
               arch_list: str | None = None) -> list[dict[str, object]]:
    legs = []
    for name in flavor_names:
        f = flavors.FLAVORS[name]
        v = describe(version, name)
        for platform in platforms:
            legs.append({
                "name": f"{name}-{WHEEL_ARCH[platform]}",
                "flavor": name,
                "cuda": f.cuda,
                "cuda_full": f.cuda_full,
                "platform": platform,
                "arch": WHEEL_ARCH[platform],
                "runner": HOSTED_RUNNERS[platform],
                "image": f.builder_image(platform),
                "arch_list": arch_list or f.arch_list_str,
                "plat_tag": f.platform_tag(platform),
                "torch_index": f.torch_index,
                "torch_floor": flavors.TORCH_FLOOR,
                "version": v["version"],
                "full_version": v["full"],
                "artifact": artifact_name(name, platform),
                "max_jobs": HOSTED_MAX_JOBS,
                "nvcc_threads": HOSTED_NVCC_THREADS,
            })
    return legs


def test_legs(flavor_name: str, platforms: list[str], pythons: list[str]) -> list[dict[str, object]]:
    f = flavors.FLAVORS[flavor_name]
    return [
        {
            "name": f"py{py}-{WHEEL_ARCH[platform]}",
            "python": py,
            "platform": platform,
            "arch": WHEEL_ARCH[platform],
            "runner": HOSTED_RUNNERS[platform],
            "flavor": flavor_name,
            "torch_index": f.torch_index,
            "artifact": artifact_name(flavor_name, platform),
        }
        for platform in platforms
        for py in pythons
    ]


def gpu_legs(flavor_names: list[str], platforms: list[str],
             runners: tuple[tuple[str, str], ...] = GPU_RUNNERS) -> list[dict[str, object]]:
    legs = []
    for name in flavor_names:
        f = flavors.FLAVORS[name]
        for platform, cc in runners:
            if platform not in platforms or cc not in f.arch_list:
                continue
            legs.append({
                "name": f"{name}-{WHEEL_ARCH[platform]}-{sm_label(cc)}",
                "flavor": name,
                "platform": platform,
                "sm": sm_label(cc),
                "labels": ["self-hosted", "linux", RUNNER_ARCH[platform], "gpu", sm_label(cc)],
                "python": flavors.DEFAULT_PYTHON,
                "torch_index": f.torch_index,
                "artifact": artifact_name(name, platform),
            })
    return legs


def matrix(version: str, event: str = "release", flavor_names: list[str] | None = None,
           platforms: list[str] | None = None) -> dict[str, object]:
    """All three matrices for one pipeline run. event: 'release' (tag) or 'pr'."""
    if event not in ("release", "pr"):
        raise ConfigError(f"event must be 'release' or 'pr', not {event!r}")
    pr = event == "pr"
    names = flavor_names or ([PR_FLAVOR] if pr else list(flavors.FLAVORS))
    plats = platforms or ([flavors.DEFAULT_PLATFORM] if pr else list(flavors.PLATFORMS))
    for n in names:
        if n not in flavors.FLAVORS:
            raise ConfigError(f"unknown flavor {n!r}; known: {', '.join(flavors.FLAVORS)}")
    for p in plats:
        if p not in flavors.PLATFORMS:
            raise ConfigError(f"unknown platform {p!r}; known: {', '.join(flavors.PLATFORMS)}")
    # CPU test legs install the newest flavor's wheel: its torch index carries every CPython we test.
    test_flavor = names[-1]
    return {
        "version": version,
        "event": event,
        "flavors": names,
        "build": {"include": build_legs(version, names, plats, PR_ARCH_LIST if pr else None)},
        "test": {"include": test_legs(test_flavor, plats, list(PR_PYTHONS if pr else flavors.PYTHON_VERSIONS))},
        # Pull requests never get GPU legs: fork code must not reach self-hosted runners.
        "gpu": {"include": [] if pr else gpu_legs(names, plats)},
    }


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci matrix", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tag", help="release tag (default: GITHUB_REF_NAME on tag pushes, else git describe)")
    p.add_argument("--event", choices=("release", "pr"), default="release")
    p.add_argument("--flavors", help="comma-separated subset, e.g. cu128,cu130 (default: all; pr: one)")
    p.add_argument("--platforms", help="comma-separated subset of linux/amd64,linux/arm64")
    p.add_argument("--github-output", action="store_true",
                   help="also append version=, build=, test=, gpu= lines to $GITHUB_OUTPUT")
    args = p.parse_args(argv)
    m = matrix(resolve_public(args.tag), args.event, _csv(args.flavors), _csv(args.platforms))
    print(json.dumps(m, indent=2))
    if args.github_output:
        out = os.environ.get("GITHUB_OUTPUT")
        if not out:
            raise ConfigError("--github-output needs GITHUB_OUTPUT set (it is, inside GitHub Actions)")
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(f"version={m['version']}\n")
            fh.write(f"flavors={json.dumps(m['flavors'])}\n")
            for key in ("build", "test", "gpu"):
                fh.write(f"{key}={json.dumps(m[key], separators=(',', ':'))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
