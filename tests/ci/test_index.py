"""ci.index: the static PEP 503 pages, checked as pip reads them (also over real HTTP)."""

from __future__ import annotations

import hashlib
import html
import pathlib
import re
import shutil
import urllib.request

from ci import index
from ci.serve import serving


def _publish_by_hand(root: pathlib.Path, *wheels: pathlib.Path) -> pathlib.Path:
    project = root / "sageattention"
    project.mkdir(parents=True, exist_ok=True)
    for w in wheels:
        shutil.copy2(w, project / w.name)
    index.regenerate(root)
    return project


def test_normalize() -> None:
    assert index.normalize("Sage_Attention.Extra--x") == "sage-attention-extra-x"
    assert index.dist_name("sage_attention-2.3.0+cu128-cp310-abi3-linux_x86_64.whl") == "sage_attention"


def test_project_page_links_hashes_and_metadata(tmp_path: pathlib.Path, wheel_factory) -> None:
    a = wheel_factory("2.3.0+cu130")
    b = wheel_factory("2.2.1+cu130", requires_python=">=3.10,<3.15")
    project = _publish_by_hand(tmp_path, a, b)
    page = (project / "index.html").read_text()
    assert '<meta name="pypi:repository-version" content="1.0">' in page
    anchors = re.findall(r"<a ([^>]*)>([^<]*)</a>", page)
    assert [text for _, text in anchors] == sorted([a.name, b.name])
    for attrs, text in anchors:
        href = re.search(r'href="([^"]*)"', attrs).group(1)
        fname, frag = html.unescape(href).split("#")
        assert "+" not in fname and "%2B" in fname
        assert urllib.request.url2pathname(fname) == text
        assert frag == "sha256=" + hashlib.sha256((project / text).read_bytes()).hexdigest()
        meta = (project / f"{text}.metadata").read_bytes()
        assert meta == index.wheel_metadata(project / text)
        assert f'data-core-metadata="sha256={hashlib.sha256(meta).hexdigest()}"' in attrs
        assert f'data-dist-info-metadata="sha256={hashlib.sha256(meta).hexdigest()}"' in attrs
    assert 'data-requires-python="&gt;=3.10,&lt;3.15"' in page
    root_page = (tmp_path / "index.html").read_text()
    assert '<a href="sageattention/">sageattention</a>' in root_page
    assert index.check(tmp_path) == []


def test_regenerated_from_the_files_present(tmp_path: pathlib.Path, wheel_factory) -> None:
    a, b = wheel_factory("2.3.0+cu130"), wheel_factory("2.3.1+cu130")
    project = _publish_by_hand(tmp_path, a, b)
    (project / b.name).unlink()
    index.regenerate(tmp_path)
    page = (project / "index.html").read_text()
    assert b.name not in page and a.name in page
    assert not (project / f"{b.name}.metadata").exists()  # stale metadata goes with its wheel
    first = page
    index.regenerate(tmp_path)
    assert (project / "index.html").read_text() == first  # deterministic


def test_check_catches_files_that_do_not_match_their_page(tmp_path: pathlib.Path, wheel_factory) -> None:
    a = wheel_factory("2.3.0+cu130")
    project = _publish_by_hand(tmp_path, a)
    (project / a.name).write_bytes((project / a.name).read_bytes() + b"\0")
    assert any("sha256 does not match" in p for p in index.check(tmp_path))
    extra = wheel_factory("2.4.0+cu130")
    shutil.copy2(extra, project / extra.name)
    assert any("not listed" in p for p in index.check(tmp_path))


def test_served_over_http_as_pip_fetches_it(tmp_path: pathlib.Path, wheel_factory) -> None:
    a = wheel_factory("2.3.0+cu130")
    project = _publish_by_hand(tmp_path / "cu130", a)
    with serving(tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(f"{server.url}/cu130/sageattention/").read().decode()
        links = index.parse_project_page(page)
        assert links == {a.name: hashlib.sha256(a.read_bytes()).hexdigest()}
        href = re.search(r'href="([^"#]*)', page).group(1)
        body = urllib.request.urlopen(f"{server.url}/cu130/sageattention/{href}").read()
        assert body == a.read_bytes()
        meta = urllib.request.urlopen(f"{server.url}/cu130/sageattention/{href}.metadata").read()
        assert meta == (project / f"{a.name}.metadata").read_bytes()
