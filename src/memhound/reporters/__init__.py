"""Presentation: a reporter turns a result into text, JSON or HTML and touches no live process.

The contract is ``render(result) -> str``, options in the constructor. Every command saves a
Run whose ``meta.kind`` names its result kind; ``KINDS`` maps each kind to the function that
loads its result from the run directory and to its three reporters. Adding a result kind
touches its model type (and loader), its reporters, and one line here.

Modules are named as strings and imported on use, so ``memhound --help`` loads none of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from memhound.errors import RunFormatError, UsageError
from memhound.model.run import Run

FORMATS = ("text", "json", "html")


class Reporter(Protocol):
    def render(self, result: Any, /) -> str: ...


@dataclass(frozen=True)
class Kind:
    """Where a result kind's loader and reporters live, as ``"module:name"``. ``styled``: its
    text reporter takes ``color`` and ``width`` (the caller decides them for its terminal)."""

    load: str
    text: str
    json: str
    html: str
    styled: bool = False


_RUN = Kind(
    "memhound.reporters:_the_run",
    "memhound.reporters.terminal:TerminalReporter",
    "memhound.reporters.json:JsonReporter",
    "memhound.reporters.html:HtmlReporter",
    styled=True,
)

KINDS: dict[str, Kind] = {
    "run": _RUN,
    "watch": _RUN,
    "profile": Kind(
        "memhound.model.allocations:load_alloc",
        "memhound.reporters.alloc:AllocTextReporter",
        "memhound.reporters.alloc:AllocJsonReporter",
        "memhound.reporters.alloc:AllocHtmlReporter",
    ),
    "imports": Kind(
        "memhound.model.imports:load_imports",
        "memhound.reporters.imports:ImportsTextReporter",
        "memhound.reporters.imports:ImportsJsonReporter",
        "memhound.reporters.imports:ImportsHtmlReporter",
    ),
    "tune": Kind(
        "memhound.model.tune:load_tune",
        "memhound.reporters.tune:TuneTextReporter",
        "memhound.reporters.tune:TuneJsonReporter",
        "memhound.reporters.tune:TuneHtmlReporter",
    ),
    "soak": Kind(
        "memhound.model.verdict:load_soak",
        "memhound.reporters.soak:SoakTextReporter",
        "memhound.reporters.soak:SoakJsonReporter",
        "memhound.reporters.soak:SoakHtmlReporter",
    ),
}


def _the_run(run: Run) -> Run:
    return run  # run and watch: the Run is the result


def _named(ref: str) -> Any:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def kind_of(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise RunFormatError(
            f"unknown kind of run {kind!r}",
            hint=f"this memhound reads {', '.join(sorted(KINDS))}; a newer memhound wrote it?",
        ) from None


def load_result(run: Run) -> Any:
    """The result a run holds (the Run itself, an AllocReport, a SoakResult, ...)."""
    loader = _named(kind_of(run.meta.kind).load)
    return loader(run)


def get_reporter(kind: str, fmt: str, **options: Any) -> Reporter:
    """The ``fmt`` reporter (text, json or html) of a result kind, built with ``options``."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}", hint="choose text, json or html")
    cls = _named(getattr(kind_of(kind), fmt))
    reporter: Reporter = cls(**options)
    return reporter


def render(run: Run, fmt: str, **options: Any) -> str:
    """A saved run's result rendered as ``fmt``."""
    return get_reporter(run.meta.kind, fmt, **options).render(load_result(run))
