"""`python -m ci docker-preflight`: dockerfile.builder's early checks (implemented in ci.docker_local)."""

from __future__ import annotations

import sys

from ci.docker_local import preflight_main as main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
