"""Pipeline errors: each kind has its own exit code and a message that names the next step.

`python -m ci` prints `error: <message>` and exits with the code, so a CI log line is enough to
tell a bad input (2) from a failed tool (3) from a wheel that broke a rule (4).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class; exit code 1."""

    code = 1


class ConfigError(PipelineError):
    """Bad arguments or environment (unknown flavor, missing toolkit, unreadable tag)."""

    code = 2


class ToolError(PipelineError):
    """An external tool (pip, auditwheel, twine, cuobjdump, nm) failed or is missing."""

    code = 3


class CheckFailed(PipelineError):
    """A wheel or index broke a rule (wrong tag, wrong archs, libtorch C++ symbols, size, ...)."""

    code = 4


class PublishConflict(PipelineError):
    """A file of the same name but different bytes is already published."""

    code = 5
