"""The driver protocol and the loading of ``module:attribute`` targets."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, Protocol

from memhound.errors import UsageError


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    ok: bool
    status: int | None = None
    error: str | None = None

    def failure(self) -> str:
        """What went wrong, short enough to count by: ``HTTP 500``, or the exception's type
        (its message varies from one request to the next)."""
        if self.status is not None:
            return f"HTTP {self.status}"
        return (self.error or "no answer").split(":", 1)[0]


def answered_ok(status: int | None) -> bool:
    """A 2xx or 3xx answer. Anything else is an error, 4xx included: a soak of a 404 page or
    of a login redirect's 401 measures the error path, not the work it was pointed at."""
    return status is not None and 200 <= status < 400


class Driver(Protocol):
    endpoints: tuple[str, ...]

    def drive(self, endpoint: str) -> Outcome: ...


def load_target(spec: str) -> Any:
    """``package.module:attribute`` -> the object; the current directory is importable."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"not a module:attribute target: {spec!r}", hint="e.g. --wsgi app:app")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(
            f"cannot import {module_name!r}: {type(exc).__name__}: {exc}",
            hint="run memhound in the folder the module is importable from",
        ) from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise UsageError(f"{module_name!r} has no attribute {attr!r}") from exc
    if not callable(obj):
        raise UsageError(f"{spec!r} is not callable")
    return obj
