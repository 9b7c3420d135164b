"""``memhound.profile``: the allocation report of a block of code.

>>> import memhound
>>> with memhound.profile(top=20) as p:
...     rows = load_rows()
>>> p.report.print()                     # totals, by package / file / location / type, strings
>>> p.report.save("alloc.html")          # .html, or JSON for any other name
>>> data = p.report.to_json()

Also a decorator (``@memhound.profile()``; the report of the last call is ``fn.profile.report``)
and ``p = memhound.profile(); p.start(); ...; p.stop()``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TextIO, TypeVar

from memhound.errors import UsageError
from memhound.model.allocations import AllocReport
from memhound.workflows.profile import DEFAULT_FRAMES, ProfileOptions, ProfileSession

F = TypeVar("F", bound=Callable[..., Any])


class ProfileReport:
    """The report of one profiled block; ``.data`` is the plain ``AllocReport``."""

    def __init__(self, data: AllocReport) -> None:
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)

    def text(self, *, rows: int | None = 10) -> str:
        from memhound.reporters.alloc import AllocTextReporter

        return AllocTextReporter(rows=rows).render(self.data)

    def print(self, file: TextIO | None = None, *, rows: int | None = 10) -> None:
        """Write the text report (to stdout by default)."""
        (file or sys.stdout).write(self.text(rows=rows))

    def to_json(self) -> str:
        from memhound.reporters.alloc import AllocJsonReporter

        return AllocJsonReporter().render(self.data)

    def to_html(self) -> str:
        from memhound.reporters.alloc import AllocHtmlReporter

        return AllocHtmlReporter().render(self.data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the report: HTML when the name ends in .html or .htm, JSON otherwise."""
        from pathlib import Path

        from memhound._fsutil import atomic_write

        name = os.fspath(path)
        is_html = name.lower().endswith((".html", ".htm"))
        atomic_write(Path(name), self.to_html() if is_html else self.to_json())

    def __repr__(self) -> str:
        return f"<ProfileReport {self.data.engine} retained={self.data.retained_bytes} B>"


class Profile:
    """A profiled block: a context manager, a decorator, or ``start()``/``stop()``."""

    def __init__(self, options: ProfileOptions) -> None:
        self._options = options
        self._session: ProfileSession | None = None
        self._report: ProfileReport | None = None

    @property
    def report(self) -> ProfileReport:
        if self._report is None:
            raise UsageError(
                "no report yet", hint="the report exists once the block has ended (stop())"
            )
        return self._report

    def start(self) -> Profile:
        if self._session is not None:
            raise UsageError("this profile is already running", hint="stop() it first")
        session = ProfileSession(self._options)
        session.start()
        self._session = session
        return self

    def stop(self) -> ProfileReport:
        if self._session is None:
            raise UsageError("this profile is not running", hint="start() it first")
        session, self._session = self._session, None
        self._report = ProfileReport(session.stop())
        return self._report

    def __enter__(self) -> Profile:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        report = self.stop()
        if exc_type is not None:
            outcome = f"raised {exc_type.__name__}"
            self._report = ProfileReport(_with_outcome(report.data, outcome))

    def __call__(self, fn: F) -> F:
        options = self._options

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            p = Profile(options)
            wrapper.profile = p  # type: ignore[attr-defined]
            with p:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _with_outcome(report: AllocReport, outcome: str) -> AllocReport:
    from dataclasses import replace

    return replace(report, outcome=outcome)


def profile(
    *,
    top: int = 50,
    allow: Iterable[str] = (),
    ignore: Iterable[str] = (),
    frames: int = DEFAULT_FRAMES,
    include_memhound: bool = False,
    engine: str = "auto",
    sample: str | int | None = None,
) -> Profile:
    """Profile the allocations of a block: allocated (also what was freed again), retained
    (alive after the block, after a full gc, with types), the peak and what held it, strings.

    ``top`` rows per table; ``allow``/``ignore``: patterns (globs, or substrings) matched against
    a location's shown path (``site-packages/requests/...``, ``<stdlib>/json/...``), its package
    or ``path:line``; ``frames``: call-stack depth recorded per allocation (1-64);
    ``include_memhound``: keep memhound's own frames; ``engine``: ``auto``, ``native`` or
    ``tracemalloc``; ``sample``: sample by bytes with this mean interval (``"512KiB"``, or a
    number of bytes) instead of counting every allocation: cheap enough for production, and
    every figure is then an estimate with a 95% interval (types and strings not measured).
    """
    from memhound.units import parse_bytes

    interval = 0 if sample is None else parse_bytes(sample)
    if sample is not None and interval == 0:
        raise UsageError(
            "sample=0 would sample nothing",
            hint="give an interval such as sample='512KiB', or leave sample out",
        )
    options = ProfileOptions(
        top=top,
        allow=tuple(allow),
        ignore=tuple(ignore),
        frames=frames,
        include_own=include_memhound,
        engine=engine,
        sample=interval,
    )
    options.check()
    return Profile(options)
