"""`python -m ci index`: a static PEP 503 "simple" index for one flavor, generated from its files.

Layout of one flavor's index (what `--index-url <base>/whl/cu128/` points at):

    cu128/index.html                       project list
    cu128/sageattention/index.html         one <a> per file
    cu128/sageattention/<wheel>            the file
    cu128/sageattention/<wheel>.metadata   its METADATA (PEP 658), hash in data-core-metadata

Every page is regenerated from the full set of files present (never edited in place), with
normalized project names (PEP 503), `+` written as `%2B`, `#sha256=` on every link,
`data-requires-python` from the wheel's METADATA, and the PEP 629 repository-version meta tag.
Pages are written to a temporary name and renamed over the old one.
"""

from __future__ import annotations

import argparse
import dataclasses
import email.parser
import hashlib
import html
import os
import pathlib
import re
import sys
import urllib.parse
import zipfile

from ci._util import sha256_file
from ci.errors import CheckFailed, ConfigError

REPOSITORY_VERSION = "1.0"  # PEP 629; the HTML form has no 1.1 features we use
DIST_SUFFIXES = (".whl", ".tar.gz")


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(filename: str) -> str:
    if filename.endswith(".whl"):
        return filename.split("-", 1)[0]
    if filename.endswith(".tar.gz"):
        return filename[: -len(".tar.gz")].rsplit("-", 1)[0]
    raise ConfigError(f"{filename} is neither a wheel nor an sdist")


@dataclasses.dataclass(frozen=True)
class FileEntry:
    filename: str
    sha256: str
    requires_python: str | None
    metadata_sha256: str | None

    def anchor(self) -> str:
        href = f"{urllib.parse.quote(self.filename)}#sha256={self.sha256}"
        attrs = [f'href="{html.escape(href)}"']
        if self.requires_python:
            attrs.append(f'data-requires-python="{html.escape(self.requires_python)}"')
        if self.metadata_sha256:
            # data-dist-info-metadata is PEP 658's original name; PEP 714 renamed it. pip reads both.
            attrs.append(f'data-dist-info-metadata="sha256={self.metadata_sha256}"')
            attrs.append(f'data-core-metadata="sha256={self.metadata_sha256}"')
        return f"<a {' '.join(attrs)}>{html.escape(self.filename)}</a>"


def wheel_metadata(wheel: pathlib.Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(names) != 1:
                raise CheckFailed(f"{wheel.name}: expected one .dist-info/METADATA, found {names}")
            return zf.read(names[0])
    except zipfile.BadZipFile as exc:
        raise CheckFailed(f"{wheel.name} is not a valid wheel (zip): {exc}") from exc


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _page(title: str, body_lines: list[str]) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">',
        f"    <title>{html.escape(title)}</title>",
        "  </head>",
        "  <body>",
        f"    <h1>{html.escape(title)}</h1>",
        *[f"    {line}<br>" for line in body_lines],
        "  </body>",
        "</html>",
        "",
    ]
    return "\n".join(lines).encode()


def project_entries(project_dir: pathlib.Path) -> list[FileEntry]:
    entries = []
    for f in sorted(project_dir.iterdir()):
        if not f.is_file() or f.name.startswith(".") or not f.name.endswith(DIST_SUFFIXES):
            continue
        if normalize(dist_name(f.name)) != project_dir.name:
            raise CheckFailed(f"{f} belongs to project {normalize(dist_name(f.name))}, not {project_dir.name}")
        requires_python = meta_sha = None
        if f.name.endswith(".whl"):
            meta = wheel_metadata(f)
            _write_atomic(f.with_name(f.name + ".metadata"), meta)
            meta_sha = hashlib.sha256(meta).hexdigest()
            requires_python = email.parser.BytesParser().parsebytes(meta).get("Requires-Python")
        entries.append(FileEntry(f.name, sha256_file(f), requires_python, meta_sha))
    return entries


def regenerate(flavor_root: pathlib.Path) -> dict[str, list[FileEntry]]:
    """Rewrite every page (and .metadata file) of one flavor's index from the files it holds."""
    if not flavor_root.is_dir():
        raise ConfigError(f"index directory {flavor_root} does not exist")
    projects: dict[str, list[FileEntry]] = {}
    for project_dir in sorted(p for p in flavor_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if project_dir.name != normalize(project_dir.name):
            raise CheckFailed(f"project directory {project_dir.name!r} is not a normalized name")
        entries = project_entries(project_dir)
        live = {e.filename + ".metadata" for e in entries}
        for stale in project_dir.glob("*.metadata"):
            if stale.name not in live:
                stale.unlink()
        projects[project_dir.name] = entries
        _write_atomic(project_dir / "index.html",
                      _page(f"Links for {project_dir.name}", [e.anchor() for e in entries]))
    root_links = [f'<a href="{urllib.parse.quote(name)}/">{html.escape(name)}</a>' for name in projects]
    _write_atomic(flavor_root / "index.html", _page("Simple index", root_links))
    return projects


_ANCHOR = re.compile(r'<a href="([^"#]+)#sha256=([0-9a-f]{64})"([^>]*)>([^<]+)</a>')


def parse_project_page(text: str) -> dict[str, str]:
    """{filename: sha256} from a simple-index project page (ours or any PEP 503 server's)."""
    found = {}
    for m in re.finditer(r'<a\s+href="([^"]+)"[^>]*>([^<]+)</a>', text):
        href = html.unescape(m.group(1))
        url, _, frag = href.partition("#")
        name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        sha = frag.split("=", 1)[1] if frag.startswith("sha256=") else ""
        found[name] = sha
    return found


def parse_root_page(text: str) -> list[str]:
    """Project names linked from a simple index's root page."""
    names = []
    for m in re.finditer(r'<a\s+href="([^"]+)"[^>]*>([^<]+)</a>', text):
        href = urllib.parse.unquote(html.unescape(m.group(1))).rstrip("/")
        names.append(normalize(href.rsplit("/", 1)[-1]))
    return names


def check(flavor_root: pathlib.Path) -> list[str]:
    """Problems with an index as served: link hashes and metadata files must match the bytes."""
    problems = []
    for project_dir in sorted(p for p in flavor_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        page = project_dir / "index.html"
        if not page.exists():
            problems.append(f"{project_dir.name}: no index.html")
            continue
        listed = parse_project_page(page.read_text())
        present = {f.name for f in project_dir.iterdir() if f.name.endswith(DIST_SUFFIXES)}
        for name in sorted(present - set(listed)):
            problems.append(f"{project_dir.name}/{name} is not listed")
        for name, sha in sorted(listed.items()):
            f = project_dir / name
            if not f.exists():
                problems.append(f"{project_dir.name}/{name} is listed but missing")
            elif sha256_file(f) != sha:
                problems.append(f"{project_dir.name}/{name}: listed sha256 does not match the file")
            elif name.endswith(".whl"):
                meta = f.with_name(name + ".metadata")
                if not meta.exists() or meta.read_bytes() != wheel_metadata(f):
                    problems.append(f"{project_dir.name}/{name}.metadata missing or stale")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci index", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=pathlib.Path, help="one flavor's index directory, e.g. .whl/cu130")
    p.add_argument("--check", action="store_true", help="only check that the pages match the files")
    args = p.parse_args(argv)
    if args.check:
        problems = check(args.root)
        if problems:
            raise CheckFailed("index out of date:\n  " + "\n  ".join(problems))
        print(f"{args.root}: index matches its files")
        return 0
    projects = regenerate(args.root)
    for name, entries in projects.items():
        print(f"{args.root}/{name}/: {len(entries)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
