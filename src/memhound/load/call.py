"""A callable as the unit of work: a Celery task body, a batch step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memhound.load.base import Outcome


class CallDriver:
    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        self.fn = fn
        self.endpoints: tuple[str, ...] = (name,)

    def drive(self, endpoint: str) -> Outcome:
        try:
            self.fn()
        except Exception as exc:
            return Outcome(endpoint, False, None, f"{type(exc).__name__}: {exc}")
        return Outcome(endpoint, True)
