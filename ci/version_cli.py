"""`python -m ci version`: the public version and local label every step stamps, from one place.

Order: an explicit --tag, else GITHUB_REF_NAME when GitHub says the ref is a tag, else git describe
(a dev version on top of VERSION). The label is the flavor's name (`cu128`), or empty with
--no-label for a default flavor published without one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from ci import flavors, version
from ci.errors import ConfigError


def resolve_public(tag: str | None = None, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    try:
        if tag:
            return version.from_tag(tag)
        if env.get("SAGEATTENTION_VERSION"):
            return version.check_public(env["SAGEATTENTION_VERSION"])
        if env.get("GITHUB_REF_TYPE") == "tag" and env.get("GITHUB_REF_NAME"):
            return version.from_tag(env["GITHUB_REF_NAME"])
        return version.git_version()
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def get_flavor(name: str) -> flavors.Flavor:
    if name not in flavors.FLAVORS:
        raise ConfigError(f"unknown flavor {name!r}; known: {', '.join(flavors.FLAVORS)}")
    return flavors.FLAVORS[name]


def describe(public: str, flavor: str | None, no_label: bool = False) -> dict[str, str]:
    label = "" if (no_label or not flavor) else get_flavor(flavor).name
    return {"version": public, "label": label, "full": version.full_version(public, label)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci version", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tag", help="release tag such as v2.3.0 (default: GITHUB_REF_NAME on tag pushes, else git)")
    p.add_argument("--flavor", help="flavor whose label to add, e.g. cu128")
    p.add_argument("--no-label", action="store_true", help="publish without a local label")
    p.add_argument("--json", action="store_true", help="print {version, label, full} as JSON")
    args = p.parse_args(argv)
    info = describe(resolve_public(args.tag), args.flavor, args.no_label)
    print(json.dumps(info) if args.json else info["full"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
