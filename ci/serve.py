"""`python -m ci serve`: serve a static index directory over HTTP on 127.0.0.1 (never other hosts).

Used by the main job and the end-to-end tests so that pip talks to a real HTTP index, exactly as it
would to GitHub Pages. `serving(root)` is a context manager that stops the server on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import pathlib
import sys
import threading
from collections.abc import Iterator

from ci._util import ROOT, log

HOST = "127.0.0.1"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


class IndexServer:
    def __init__(self, root: pathlib.Path, port: int = 0) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((HOST, port), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="ci-index", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.httpd.server_address[1]}"

    def start(self) -> IndexServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def serving(root: pathlib.Path, port: int = 0) -> Iterator[IndexServer]:
    server = IndexServer(root, port).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ci serve", description=__doc__)
    p.add_argument("--root", type=pathlib.Path, default=ROOT / ".whl", help="directory to serve (default: .whl/)")
    p.add_argument("--port", type=int, default=8000)
    args = p.parse_args(argv)
    server = IndexServer(args.root, args.port)
    log(f"serving {args.root} at {server.url}/ (Ctrl-C stops)")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
