"""Errors memhound raises. Each says what went wrong and what to do next."""

from __future__ import annotations


class MemhoundError(Exception):
    """Base class of every error memhound raises on purpose.

    ``hint`` is the next step for the user; ``str(err)`` carries both.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


class UsageError(MemhoundError):
    """A bad argument or option value."""


class ProcessNotFound(MemhoundError):
    """The pid names no process (or it exited while we were reading it)."""


class AccessDenied(MemhoundError):
    """The process exists but we may not read its memory."""


class CommandNotFound(MemhoundError):
    """``memhound run`` was given a command that cannot be executed."""

    exit_code = 127


class OutputNotWritable(MemhoundError):
    """The run directory or report file cannot be written."""


class RunFormatError(MemhoundError):
    """A saved run is missing, damaged, or of a format we cannot read."""


class MissingDependency(MemhoundError):
    """An optional dependency is not installed."""


class PlatformNotSupported(MemhoundError):
    """The feature needs something this operating system does not have."""
