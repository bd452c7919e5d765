"""This machine's Debian mirror, read from its apt sources, and apt used privately against it.

`Source`/`read_sources` parse /etc/apt (deb822 `*.sources` and the one-line `sources.list`);
`debian_archive` picks the main archive entry (not -security/-updates/-backports).
`PrivateApt` runs `apt-get update` / `apt-get download` with its own sources list, lists and cache
under one directory: the system's apt state (/etc/apt, /var/lib/apt, /var/cache/apt) is only read
(its trusted keys), never written, and nothing is installed.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import pwd
import re
import subprocess

from ci._util import log
from ci.errors import ConfigError, ToolError

ETC_APT = pathlib.Path("/etc/apt")


@dataclasses.dataclass(frozen=True)
class Source:
    uri: str
    suite: str
    signed_by: str | None = None


def _deb822(text: str) -> list[Source]:
    found = []
    for para in text.split("\n\n"):
        fields = {
            k.strip(): v.strip() for k, _, v in
            (ln.partition(":") for ln in para.splitlines() if ":" in ln and not ln.startswith("#"))
        }
        if "deb" not in fields.get("Types", "deb").split():
            continue
        for uri in fields.get("URIs", "").split():
            for suite in fields.get("Suites", "").split():
                found.append(Source(uri.rstrip("/"), suite, fields.get("Signed-By") or None))
    return found


def _one_line(text: str) -> list[Source]:
    found = []
    for ln in text.splitlines():
        m = re.match(r"^\s*deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", ln)
        if m:
            key = re.search(r"signed-by=(\S+)", m.group("opts") or "")
            found.append(Source(m.group("uri").rstrip("/"), m.group("suite"), key.group(1) if key else None))
    return found


def read_sources(etc_apt: pathlib.Path = ETC_APT) -> list[Source]:
    """Every `deb` (URI, suite) this machine's apt is configured with, deb822 files first."""
    found: list[Source] = []
    for f in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        found += _deb822(f.read_text())
    for f in [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list"))]:
        if f.exists():
            found += _one_line(f.read_text())
    return found


def debian_archive(etc_apt: pathlib.Path = ETC_APT) -> Source:
    """The Debian main archive this machine uses (a URI ending in /debian, a plain suite)."""
    for s in read_sources(etc_apt):
        if re.search(r"/debian$", s.uri) and not re.search(r"-(updates|security|backports)$", s.suite):
            return s
    raise ConfigError(f"found no Debian archive in {etc_apt} sources")


def apt_mirror(etc_apt: pathlib.Path = ETC_APT) -> tuple[str, str]:
    """(mirror URL, suite) of this machine's Debian main archive."""
    try:
        s = debian_archive(etc_apt)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; pass --mirror URL --suite NAME") from exc
    return s.uri, s.suite


class AptUnavailable(ToolError):
    """apt is missing, the mirror cannot be reached, or it does not serve the suite or package asked for."""


class PrivateApt:
    """apt-get against one suite/component of a mirror, with all of its state under `root`."""

    def __init__(self, root: pathlib.Path, mirror: Source, suite: str, component: str) -> None:
        self.root, self.mirror, self.suite, self.component = root, mirror, suite, component
        key = f"[signed-by={mirror.signed_by}] " if mirror.signed_by else ""
        for d in ("lists/partial", "cache/archives/partial"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "sources.list").write_text(f"deb {key}{mirror.uri} {suite} {component}\n")

    @property
    def where(self) -> str:
        return f"{self.mirror.uri} {self.suite}/{self.component}"

    def options(self) -> list[str]:
        return [
            "-o", f"Dir::Etc::SourceList={self.root / 'sources.list'}", "-o", "Dir::Etc::SourceParts=-",
            "-o", f"Dir::State::Lists={self.root / 'lists'}", "-o", f"Dir::Cache={self.root / 'cache'}",
            "-o", "Debug::NoLocking=1", "-o", f"APT::Sandbox::User={pwd.getpwuid(os.geteuid()).pw_name}",
            "-o", "Acquire::Retries=2", "-o", "Acquire::http::Timeout=30",
        ]

    def _apt(self, tool: str, *args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [tool, *self.options(), *args]
        log("$ " + " ".join([tool, "<private apt dirs>", *args]))
        try:
            return subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=cwd,
                                  timeout=900)
        except FileNotFoundError as exc:
            raise AptUnavailable(f"{tool} not found: this needs a Debian-like host with apt") from exc
        except subprocess.TimeoutExpired as exc:
            raise AptUnavailable(f"{tool} {' '.join(args)} against {self.where} took over 15 min") from exc

    def update(self) -> None:
        proc = self._apt("apt-get", "-q", "update")
        text = proc.stdout + proc.stderr
        lists = list((self.root / "lists").glob("*_Packages*"))
        # A fetch that fails is only a warning to apt (it keeps old lists): no Packages file is an error.
        if proc.returncode != 0 or re.search(r"^E: ", text, re.MULTILINE) or not lists:
            said = [ln.strip() for ln in text.splitlines() if re.match(r"^\s*(E:|W:|Err:|\S.*Could not)", ln)]
            tail = " | ".join(said[-3:] or text.strip().splitlines()[-2:])[-500:]
            raise AptUnavailable(
                f"the Debian mirror did not serve {self.where} (apt-get update: {tail}); "
                f"check that this host can reach it, or point --mirror at another Debian mirror"
            )

    def candidate(self, package: str) -> str:
        """The version of `package` the private lists offer."""
        proc = self._apt("apt-cache", "show", "--no-all-versions", package)
        m = re.search(r"^Version:\s*(\S+)", proc.stdout, re.MULTILINE)
        if proc.returncode != 0 or not m:
            raise AptUnavailable(f"{self.where} has no package {package} ({proc.stderr.strip()[-300:]})")
        return m.group(1)

    def download(self, package: str, version: str, dest: pathlib.Path) -> pathlib.Path:
        """`apt-get download package=version` into dest (hashes checked against the signed lists)."""
        dest.mkdir(parents=True, exist_ok=True)
        proc = self._apt("apt-get", "-q", "download", f"{package}={version}", cwd=dest)
        debs = sorted(dest.glob(f"{package}_*.deb"))
        if proc.returncode != 0 or not debs:
            raise AptUnavailable(f"apt-get download {package}={version} from {self.where} failed: "
                                    f"{(proc.stdout + proc.stderr).strip()[-400:]}")
        return debs[-1]
