"""Presentation: a reporter turns a Run into text, JSON or HTML and touches no live process.

The contract is ``render(run) -> str``, options in the constructor.
"""

from __future__ import annotations

from typing import Protocol

from memhound.model.run import Run


class Reporter(Protocol):
    def render(self, run: Run) -> str: ...


def get_reporter(fmt: str, **options: object) -> Reporter:
    """``text``, ``json`` or ``html``."""
    if fmt == "text":
        from memhound.reporters.terminal import TerminalReporter

        return TerminalReporter(**options)  # type: ignore[arg-type]
    if fmt == "json":
        from memhound.reporters.json import JsonReporter

        return JsonReporter()
    if fmt == "html":
        from memhound.reporters.html import HtmlReporter

        return HtmlReporter()
    from memhound.errors import UsageError

    raise UsageError(f"unknown report format {fmt!r}", hint="choose text, json or html")
