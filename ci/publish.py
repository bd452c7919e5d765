"""`python -m ci publish`: put wheels on one flavor's index, idempotently.

Two targets, usable together:
- static (--index-root DIR): copies into DIR/<flavor>/<project>/ and regenerates the pages with
  ci.index. The new tree is assembled in a staging directory (hard links to the files already
  published), then swapped in by rename: a failure at any step leaves the served index as it was.
- twine (--repository-url URL, or env SAGEATTENTION_REPOSITORY_URL_<FLAVOR>): reads the repository's
  simple page first, then `twine upload`s only the files it lacks. Credentials: TWINE_USERNAME /
  TWINE_PASSWORD (or a trusted-publishing token) from the environment, never the command line.

Rules for both: a file already there with the same sha256 is skipped; a file already there under
the same name with different bytes is a hard error (exit 5) raised before anything is written;
a wheel whose local label is not the flavor's is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request

from ci import flavors, index
from ci._util import log, python_tool, run, sha256_file
from ci.build import parse_wheel_name
from ci.errors import ConfigError, PublishConflict, ToolError
from ci.version_cli import get_flavor


def _check_labels(wheels: list[pathlib.Path], flavor: str) -> None:
    for w in wheels:
        if not w.is_file():
            raise ConfigError(f"no such file: {w}")
        label = parse_wheel_name(w.name)["version"].partition("+")[2]
        if label != flavor:
            raise ConfigError(f"{w.name} has label {label or '(none)'!r}; it does not belong on the {flavor} index")


def plan_upload(wheels: list[pathlib.Path], existing: dict[str, str]) -> tuple[list[pathlib.Path], list[str]]:
    """Split into (to upload, skipped); raise PublishConflict if a name exists with other bytes."""
    new, skipped, conflicts = [], [], []
    for w in wheels:
        have = existing.get(w.name)
        if have is None:
            new.append(w)
        elif have == sha256_file(w):
            skipped.append(w.name)
        else:
            conflicts.append(w.name)
    if conflicts:
        raise PublishConflict(
            f"already published with different bytes: {', '.join(conflicts)}. A published file is never "
            "replaced; bump the version (a new tag) or fix the build to be reproducible"
        )
    return new, skipped


def publish_static(wheels: list[pathlib.Path], flavor: str, index_root: pathlib.Path) -> list[str]:
    """Returns the names newly published. Raises before touching the live index on any problem."""
    _check_labels(wheels, get_flavor(flavor).name)
    live = index_root / flavor
    existing = {}
    for w in wheels:
        target = live / index.normalize(index.dist_name(w.name)) / w.name
        if target.exists():
            existing[w.name] = sha256_file(target)
    new, skipped = plan_upload(wheels, existing)
    for name in skipped:
        log(f"skip (identical file already published): {name}")
    if not new and live.exists() and not index.check(live):
        return []
    index_root.mkdir(parents=True, exist_ok=True)
    stage = index_root / f".{flavor}.staging-{os.getpid()}"
    old = index_root / f".{flavor}.old-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if live.exists():
            shutil.copytree(live, stage, copy_function=os.link)  # published files are immutable
        else:
            stage.mkdir()
        for w in new:
            project = stage / index.normalize(index.dist_name(w.name))
            project.mkdir(exist_ok=True)
            shutil.copy2(w, project / w.name)
        index.regenerate(stage)
        problems = index.check(stage)
        if problems:
            raise ToolError("regenerated index does not match its files: " + "; ".join(problems))
        if live.exists():
            os.rename(live, old)
        os.rename(stage, live)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if old.exists() and not live.exists():
            os.rename(old, live)
        raise
    shutil.rmtree(old, ignore_errors=True)
    for w in new:
        log(f"published {w.name} -> {live}")
    return [w.name for w in new]


def fetch_existing(simple_url: str, project: str) -> dict[str, str]:
    url = f"{simple_url.rstrip('/')}/{index.normalize(project)}/"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (configured index URL)
            return index.parse_project_page(resp.read().decode())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return {}
        raise ToolError(f"GET {url} failed: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ToolError(f"cannot reach {url}: {exc.reason}") from exc


def _get(url: str) -> bytes | None:
    """GET url; None on 404 (nothing published yet)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (configured index URL)
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise ToolError(f"GET {url} failed: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise ToolError(f"cannot reach {url}: {exc.reason}") from exc


def mirror(base_url: str, flavor: str, index_root: pathlib.Path) -> int:
    """Copy a live static index (e.g. the GitHub Pages site) into index_root/<flavor>/.

    A Pages deployment replaces the whole site, so a release first brings back every file already
    published; the pages are then regenerated from the full set. Each download is checked against
    the sha256 its page lists. Returns the number of files fetched.
    """
    base = f"{base_url.rstrip('/')}/{flavor}/"
    root_page = _get(base)
    if root_page is None:
        log(f"{base} does not exist yet: starting an empty {flavor} index")
        return 0
    fetched = 0
    projects = index.parse_root_page(root_page.decode())
    for project in projects:
        page = _get(f"{base}{project}/")
        if page is None:
            raise ToolError(f"{base} lists {project} but {base}{project}/ is missing")
        dest = index_root / flavor / index.normalize(project)
        dest.mkdir(parents=True, exist_ok=True)
        for name, sha in index.parse_project_page(page.decode()).items():
            target = dest / name
            if target.exists() and sha256_file(target) == sha:
                continue
            data = _get(f"{base}{project}/{urllib.parse.quote(name)}")
            if data is None:
                raise ToolError(f"{base}{project}/ lists {name} but the file is missing")
            if hashlib.sha256(data).hexdigest() != sha:
                raise ToolError(f"{name} from {base} does not match the sha256 its page lists")
            target.write_bytes(data)
            fetched += 1
    log(f"mirrored {fetched} file(s) from {base}")
    return fetched


def repository_url_for(flavor: str, env: dict[str, str] | None = None) -> str | None:
    env = dict(os.environ) if env is None else env
    return env.get(f"SAGEATTENTION_REPOSITORY_URL_{flavor.upper()}")


def publish_twine(wheels: list[pathlib.Path], flavor: str, repository_url: str,
                  simple_url: str | None = None) -> list[str]:
    _check_labels(wheels, get_flavor(flavor).name)
    simple = simple_url or f"{repository_url.rstrip('/')}/simple/"
    existing: dict[str, str] = {}
    for project in {index.dist_name(w.name) for w in wheels}:
        existing.update(fetch_existing(simple, project))
    new, skipped = plan_upload(wheels, existing)
    for name in skipped:
        log(f"skip (identical file already on {simple}): {name}")
    if not new:
        return []
    run([*python_tool("twine"), "upload", "--non-interactive", "--disable-progress-bar",
         "--repository-url", repository_url, *map(str, new)], what="twine upload")
    after: dict[str, str] = {}
    for project in {index.dist_name(w.name) for w in new}:
        after.update(fetch_existing(simple, project))
    missing = [w.name for w in new if after.get(w.name) not in (sha256_file(w), "")]
    if missing:
        raise ToolError(f"uploaded but not served with the right sha256: {', '.join(missing)}")
    return [w.name for w in new]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci publish", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wheels", nargs="+", type=pathlib.Path)
    p.add_argument("--flavor", required=True, choices=sorted(flavors.FLAVORS))
    p.add_argument("--index-root", type=pathlib.Path, help="static index root; the flavor's pages go in ROOT/<flavor>/")
    p.add_argument("--mirror-from", help="live static index base (…/whl) to bring back before publishing")
    p.add_argument("--repository-url", help="twine upload URL (default: $SAGEATTENTION_REPOSITORY_URL_<FLAVOR>)")
    p.add_argument("--simple-url", help="the repository's simple index (default: <repository-url>/simple/)")
    args = p.parse_args(argv)
    repo = args.repository_url or repository_url_for(args.flavor)
    if not args.index_root and not repo:
        raise ConfigError("nothing to publish to: give --index-root and/or --repository-url")
    done = []
    if repo:
        done += publish_twine(args.wheels, args.flavor, repo, args.simple_url)
    if args.mirror_from:
        if not args.index_root:
            raise ConfigError("--mirror-from needs --index-root")
        mirror(args.mirror_from, args.flavor, args.index_root)
    if args.index_root:
        done += publish_static(args.wheels, args.flavor, args.index_root)
    attempted = len(args.wheels) * (bool(repo) + bool(args.index_root))
    print(f"published {len(done)} new file(s); {attempted - len(done)} already there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
